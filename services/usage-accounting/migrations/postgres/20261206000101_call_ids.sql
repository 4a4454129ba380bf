-- The partitioned ledger's ids table (20261206000001) holds call ids, the
-- idempotency key: it follows the ledger's rename (20261206000100), so that
-- `request_id` means the caller's correlation id everywhere. (SQLite has no
-- such table: its ledger is not partitioned and keeps its primary key.)
ALTER TABLE api_usage_request_ids RENAME TO api_usage_call_ids;
ALTER TABLE api_usage_call_ids RENAME COLUMN request_id TO call_id;
ALTER INDEX api_usage_request_ids_pkey RENAME TO api_usage_call_ids_pkey;
