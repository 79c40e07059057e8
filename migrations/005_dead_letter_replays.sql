-- What `npm run saga -- replay-dlq --apply` re-submitted: a replayed record is not offered again, so a second
-- run starts nothing new. The outcome is the start's answer (started, or duplicate when the saga already existed).
alter table dead_letters
  add column replayed_at    timestamptz,
  add column replay_outcome text check (replay_outcome in ('started', 'duplicate')),
  add column replay_run_id  text,
  add constraint dead_letters_replay_complete check ((replayed_at is null) = (replay_outcome is null));
