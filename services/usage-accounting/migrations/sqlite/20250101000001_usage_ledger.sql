-- The usage ledger on the embedded SQLite default: the same tables and rules
-- as PostgreSQL. Timestamps are INTEGER microseconds since the Unix epoch
-- (UTC); money is the INTEGER `cost_micro_usd`. SQLite has no exact decimal
-- type, so the derived `estimated_cost_usd` is REAL and for display only:
-- every report sums the integer column.

CREATE TABLE api_usage_log (
    request_id         TEXT PRIMARY KEY NOT NULL,
    created_at         INTEGER NOT NULL,
    api_provider       TEXT NOT NULL,
    model_name         TEXT NOT NULL,
    input_tokens       INTEGER NOT NULL CHECK (input_tokens >= 0),
    output_tokens      INTEGER NOT NULL CHECK (output_tokens >= 0),
    cost_micro_usd     INTEGER NOT NULL CHECK (cost_micro_usd >= 0),
    estimated_cost_usd REAL GENERATED ALWAYS AS (cost_micro_usd / 1000000.0) STORED,
    price_version      TEXT NOT NULL DEFAULT '',
    user_id            TEXT NOT NULL DEFAULT '',
    session_id         TEXT NOT NULL DEFAULT '',
    calling_service    TEXT NOT NULL DEFAULT '',
    tier               TEXT NOT NULL DEFAULT '' CHECK (tier IN ('', 'sota', 'cost_effective')),
    outcome            TEXT NOT NULL
        CHECK (outcome IN ('success', 'failed', 'partial', 'cancelled')),
    latency_ms         INTEGER NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
    operation          TEXT NOT NULL DEFAULT '' CHECK (operation IN ('', 'chat', 'embedding')),
    recorded_at        INTEGER NOT NULL
);

CREATE INDEX api_usage_log_created ON api_usage_log (created_at, request_id);
CREATE INDEX api_usage_log_provider_model ON api_usage_log (api_provider, model_name, created_at);
CREATE INDEX api_usage_log_user ON api_usage_log (user_id, created_at);
CREATE INDEX api_usage_log_session ON api_usage_log (session_id);

CREATE TABLE api_usage_log_archive (
    request_id         TEXT PRIMARY KEY NOT NULL,
    created_at         INTEGER NOT NULL,
    api_provider       TEXT NOT NULL,
    model_name         TEXT NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cost_micro_usd     INTEGER NOT NULL,
    estimated_cost_usd REAL GENERATED ALWAYS AS (cost_micro_usd / 1000000.0) STORED,
    price_version      TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    session_id         TEXT NOT NULL,
    calling_service    TEXT NOT NULL,
    tier               TEXT NOT NULL,
    outcome            TEXT NOT NULL,
    latency_ms         INTEGER NOT NULL,
    operation          TEXT NOT NULL,
    recorded_at        INTEGER NOT NULL,
    archived_at        INTEGER NOT NULL
);

CREATE INDEX api_usage_log_archive_created ON api_usage_log_archive (created_at);

CREATE TABLE budget_resets (
    reset_id   TEXT PRIMARY KEY NOT NULL,
    reset_at   INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE INDEX budget_resets_reset_at ON budget_resets (reset_at);
