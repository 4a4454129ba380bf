-- Two ids, two names (as on PostgreSQL): the key column holding the router's
-- call id is `call_id`; `request_id` is the caller's correlation id
-- (`X-Request-ID`), shared by the calls of one request, empty on older rows.

ALTER TABLE api_usage_log RENAME COLUMN request_id TO call_id;
ALTER TABLE api_usage_log ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
CREATE INDEX api_usage_log_request ON api_usage_log (request_id, created_at);

ALTER TABLE api_usage_log_archive RENAME COLUMN request_id TO call_id;
ALTER TABLE api_usage_log_archive ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
