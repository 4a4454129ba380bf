-- Two ids, two names. The ledger's key was called `request_id` but held the
-- router's call id (the idempotency key of one LLM call); it is now `call_id`.
-- `request_id` is the caller's correlation id (`X-Request-ID`), which many
-- calls may share: filled on every path from now on, empty on older rows.
--
-- Plain ALTERs that PostgreSQL applies to every partition when the ledger is
-- a partitioned table (RENAME and ADD COLUMN recurse; an index on the parent
-- is created on each partition), so this runs before or after partitioning.

ALTER TABLE api_usage_log RENAME COLUMN request_id TO call_id;
ALTER TABLE api_usage_log ADD COLUMN request_id TEXT COLLATE "C" NOT NULL DEFAULT '';
-- One request's calls (ListUsage by request_id), newest first.
CREATE INDEX api_usage_log_request ON api_usage_log (request_id, created_at);

ALTER TABLE api_usage_log_archive RENAME COLUMN request_id TO call_id;
ALTER TABLE api_usage_log_archive ADD COLUMN request_id TEXT COLLATE "C" NOT NULL DEFAULT '';
