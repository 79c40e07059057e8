-- Runs once, when the postgres-data volume is first initialised (docker-entrypoint-initdb.d).
-- Temporal's auto-setup creates its own databases (temporal, temporal_visibility) on the same
-- server; the application gets a separate database so the two never share a schema.
-- The migrations (npm run migrate, run by the api service) create the tables inside it.
SELECT 'CREATE DATABASE orders'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'orders')\gexec
