-- The API's sweep looks for stored refunds whose start never came back; few rows are ever in this index.
create index refunds_unstarted_idx on refunds (created_at) where status = 'PENDING' and run_id is null;
