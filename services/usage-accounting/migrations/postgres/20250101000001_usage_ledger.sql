-- The usage ledger: one row per LLM call, idempotent by request id.
--
-- Money is exact: `cost_micro_usd` (integer micro-USD) is the figure every
-- report sums; `estimated_cost_usd` is derived from it so that the manuals'
-- monthly cost query (SUM(estimated_cost_usd) … GROUP BY api_provider,
-- model_name) runs unchanged.

CREATE TABLE api_usage_log (
    -- The idempotency key. "C" collation: byte order, the same as SQLite's,
    -- so the ListUsage cursor orders ties identically on both backends.
    request_id         TEXT COLLATE "C" PRIMARY KEY,
    -- When the call was made (the caller's clock, microsecond precision).
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
    -- When the ledger stored it (audits: how late did the outbox deliver?).
    recorded_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Period scans (GetSpend, summaries, the manuals' monthly query) and the
-- newest-first ListUsage cursor over (created_at, request_id).
CREATE INDEX api_usage_log_created ON api_usage_log (created_at, request_id);
-- Cost analysis per provider and model.
CREATE INDEX api_usage_log_provider_model ON api_usage_log (api_provider, model_name, created_at);
-- A learner's usage.
CREATE INDEX api_usage_log_user ON api_usage_log (user_id, created_at);
-- A session's calls.
CREATE INDEX api_usage_log_session ON api_usage_log (session_id);

-- Whole months moved out of api_usage_log by retention (same columns). Kept
-- so that a very late redelivery of an archived record is still recognised
-- as a duplicate, and so that old bills can still be checked.
CREATE TABLE api_usage_log_archive (
    request_id         TEXT COLLATE "C" PRIMARY KEY,
    created_at         TIMESTAMPTZ NOT NULL,
    api_provider       TEXT NOT NULL,
    model_name         TEXT NOT NULL,
    input_tokens       BIGINT NOT NULL,
    output_tokens      BIGINT NOT NULL,
    cost_micro_usd     BIGINT NOT NULL,
    estimated_cost_usd NUMERIC(18, 6)
        GENERATED ALWAYS AS (cost_micro_usd::numeric / 1000000) STORED,
    price_version      TEXT NOT NULL,
    user_id            TEXT COLLATE "C" NOT NULL,
    session_id         TEXT NOT NULL,
    calling_service    TEXT NOT NULL,
    tier               TEXT NOT NULL,
    outcome            TEXT NOT NULL,
    latency_ms         BIGINT NOT NULL,
    operation          TEXT NOT NULL,
    recorded_at        TIMESTAMPTZ NOT NULL,
    archived_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX api_usage_log_archive_created ON api_usage_log_archive (created_at);

-- Admin budget resets: spend before the latest reset of a period no longer
-- counts towards that period's budget (GetSpend).
CREATE TABLE budget_resets (
    reset_id   TEXT PRIMARY KEY,
    reset_at   TIMESTAMPTZ NOT NULL,
    actor      TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX budget_resets_reset_at ON budget_resets (reset_at);
