-- Runs once, when the postgres container initialises an empty data volume (docker-entrypoint-initdb.d).
-- `fluentedge` (created by POSTGRES_DB) holds the usage ledger, api_usage_log, so the manual's
-- queries run unchanged against it; conversation keeps its sessions in a database of its own,
-- because each service migrates its own schema.
CREATE DATABASE fluentedge_conversation OWNER fluentedge;
