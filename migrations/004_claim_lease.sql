-- When the current claim on a message ID was taken: a claim still unresolved after the start's deadline
-- belongs to a start that gave up (a 503) or died, and a retry may take it over.
alter table processed_messages add column claimed_at timestamptz not null default now();
