-- Two ids, two names: the column holding the router call id of a tutor reply
-- (its usage record's idempotency key) is `call_id`; `request_id` now always
-- means the caller's correlation id (X-Request-ID), which is not stored here.
ALTER TABLE messages RENAME COLUMN request_id TO call_id;
