-- The ledger partitioned by month, for years of rows (10 M calls a day is
-- 3.6 billion rows a year): declarative RANGE partitions on created_at, one
-- per calendar month in UTC, named api_usage_log_pYYYYMM. The service creates
-- them ahead (this month and the next ones) and on demand for a late record
-- of a month that has none; retention detaches whole partitions and drops
-- them or attaches them to the (likewise partitioned) archive, instead of
-- deleting rows one by one. Column names and types are unchanged, so every
-- query and the manuals' monthly SQL run as before.
--
-- Idempotency: a partitioned table's unique keys must include the partition
-- key, so "one row per request id" moves to api_usage_request_ids, one row
-- per id ever stored (in the ledger or the archive), written in the same
-- statement as the ledger row.

-- Creates the month partition of `parent` holding `month_start` (any instant
-- of the month) unless it exists; serialised by an advisory lock so replicas
-- creating the same month at once do not collide on the catalog.
CREATE FUNCTION fe_ensure_month_partition(parent TEXT, month_start TIMESTAMPTZ)
RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    first TIMESTAMPTZ := date_trunc('month', month_start, 'UTC');
    name  TEXT := parent || '_p' || to_char(first AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('fe_partition:' || name));
    IF to_regclass(name) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
            name, parent, first, first + INTERVAL '1 month');
    END IF;
    RETURN name;
END $$;

-- Today's tables step aside (indexes renamed: their names are reused).
ALTER TABLE api_usage_log RENAME TO api_usage_log_unpartitioned;
ALTER INDEX api_usage_log_pkey RENAME TO api_usage_log_unpartitioned_pkey;
ALTER INDEX api_usage_log_created RENAME TO api_usage_log_unpartitioned_created;
ALTER INDEX api_usage_log_provider_model RENAME TO api_usage_log_unpartitioned_provider_model;
ALTER INDEX api_usage_log_user RENAME TO api_usage_log_unpartitioned_user;
ALTER INDEX api_usage_log_session RENAME TO api_usage_log_unpartitioned_session;
ALTER TABLE api_usage_log_archive RENAME TO api_usage_log_archive_unpartitioned;
ALTER INDEX api_usage_log_archive_pkey RENAME TO api_usage_log_archive_unpartitioned_pkey;
ALTER INDEX api_usage_log_archive_created RENAME TO api_usage_log_archive_unpartitioned_created;

CREATE TABLE api_usage_log (
    request_id         TEXT COLLATE "C" NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    api_provider       TEXT NOT NULL,
    model_name         TEXT NOT NULL,
    input_tokens       BIGINT NOT NULL CHECK (input_tokens >= 0),
    output_tokens      BIGINT NOT NULL CHECK (output_tokens >= 0),
    cost_micro_usd     BIGINT NOT NULL CHECK (cost_micro_usd >= 0),
    estimated_cost_usd NUMERIC(18, 6)
        GENERATED ALWAYS AS (cost_micro_usd::numeric / 1000000) STORED,
    price_version      TEXT NOT NULL DEFAULT '',
    user_id            TEXT COLLATE "C" NOT NULL DEFAULT '',
    session_id         TEXT NOT NULL DEFAULT '',
    calling_service    TEXT NOT NULL DEFAULT '',
    tier               TEXT NOT NULL DEFAULT '' CHECK (tier IN ('', 'sota', 'cost_effective')),
    outcome            TEXT NOT NULL
        CHECK (outcome IN ('success', 'failed', 'partial', 'cancelled')),
    latency_ms         BIGINT NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
    operation          TEXT NOT NULL DEFAULT '' CHECK (operation IN ('', 'chat', 'embedding')),
    recorded_at        TIMESTAMPTZ NOT NULL DEFAULT now()
) PARTITION BY RANGE (created_at);

-- Each index is created on every partition. (created_at, request_id) also
-- finds one record by id once api_usage_request_ids gave its created_at.
CREATE INDEX api_usage_log_created ON api_usage_log (created_at, request_id);
CREATE INDEX api_usage_log_provider_model ON api_usage_log (api_provider, model_name, created_at);
CREATE INDEX api_usage_log_user ON api_usage_log (user_id, created_at);
CREATE INDEX api_usage_log_session ON api_usage_log (session_id);

-- The archive: the same columns (a retired partition is attached as it is),
-- partitioned the same way. `archived_at` is gone: a month's partition is
-- archived as a whole, logged by retention.
CREATE TABLE api_usage_log_archive (LIKE api_usage_log INCLUDING ALL)
    PARTITION BY RANGE (created_at);
CREATE INDEX api_usage_log_archive_created ON api_usage_log_archive (created_at, request_id);

-- Every request id ever stored, for idempotency across ledger and archive.
CREATE TABLE api_usage_request_ids (
    request_id TEXT COLLATE "C" PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL
);

-- Partitions for every month that holds rows, then the rows.
SELECT fe_ensure_month_partition('api_usage_log', m)
FROM (SELECT DISTINCT date_trunc('month', created_at, 'UTC') AS m
      FROM api_usage_log_unpartitioned) months;
SELECT fe_ensure_month_partition('api_usage_log_archive', m)
FROM (SELECT DISTINCT date_trunc('month', created_at, 'UTC') AS m
      FROM api_usage_log_archive_unpartitioned) months;

INSERT INTO api_usage_log (request_id, created_at, api_provider, model_name, input_tokens,
    output_tokens, cost_micro_usd, price_version, user_id, session_id, calling_service, tier,
    outcome, latency_ms, operation, recorded_at)
SELECT request_id, created_at, api_provider, model_name, input_tokens, output_tokens,
    cost_micro_usd, price_version, user_id, session_id, calling_service, tier, outcome,
    latency_ms, operation, recorded_at
FROM api_usage_log_unpartitioned;

INSERT INTO api_usage_log_archive (request_id, created_at, api_provider, model_name,
    input_tokens, output_tokens, cost_micro_usd, price_version, user_id, session_id,
    calling_service, tier, outcome, latency_ms, operation, recorded_at)
SELECT request_id, created_at, api_provider, model_name, input_tokens, output_tokens,
    cost_micro_usd, price_version, user_id, session_id, calling_service, tier, outcome,
    latency_ms, operation, recorded_at
FROM api_usage_log_archive_unpartitioned;

INSERT INTO api_usage_request_ids (request_id, created_at)
SELECT request_id, created_at FROM api_usage_log_unpartitioned
UNION ALL
SELECT request_id, created_at FROM api_usage_log_archive_unpartitioned
ON CONFLICT (request_id) DO NOTHING;

DROP TABLE api_usage_log_unpartitioned;
DROP TABLE api_usage_log_archive_unpartitioned;
