-- Learners, their practice sessions and the messages of each session.

CREATE TABLE learners (
    -- The gateway's authenticated subject.
    id              TEXT PRIMARY KEY,
    display_name    TEXT NOT NULL DEFAULT '',
    level           TEXT CHECK (level IN ('A1', 'A2', 'B1', 'B2', 'C1', 'C2')),
    native_language TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    id            UUID PRIMARY KEY,
    owner_id      TEXT NOT NULL REFERENCES learners (id),
    scenario_id   TEXT NOT NULL,
    level         TEXT NOT NULL CHECK (level IN ('A1', 'A2', 'B1', 'B2', 'C1', 'C2')),
    title         TEXT NOT NULL,
    archived      BOOLEAN NOT NULL DEFAULT FALSE,
    -- Visible messages (learner and tutor).
    message_count INTEGER NOT NULL DEFAULT 0,
    -- The last message seq handed out. Taken under this row's lock, so seqs
    -- are visible in commit order and the ListMessages cursor never skips one.
    last_seq      BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    -- Soft delete: the session and its messages vanish from every read.
    deleted_at    TIMESTAMPTZ
);

-- ListSessions: the owner's live sessions, newest first.
CREATE INDEX sessions_owner_newest ON sessions (owner_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

CREATE TABLE messages (
    id                UUID PRIMARY KEY,
    session_id        UUID NOT NULL REFERENCES sessions (id),
    seq               BIGINT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('learner', 'tutor')),
    content           TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('completed', 'pending', 'failed', 'partial')),
    input_tokens      BIGINT NOT NULL DEFAULT 0,
    output_tokens     BIGINT NOT NULL DEFAULT 0,
    cost_micro_usd    BIGINT NOT NULL DEFAULT 0,
    provider          TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL DEFAULT '',
    request_id        TEXT NOT NULL DEFAULT '',
    -- Learner messages: the client's idempotency key.
    client_message_id TEXT,
    -- Tutor messages: the learner message answered (one reply per message).
    reply_to          UUID REFERENCES messages (id),
    attempts          INTEGER NOT NULL DEFAULT 0,
    error_reason      TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (session_id, seq),
    -- The same client id never makes a second exchange.
    UNIQUE (session_id, client_message_id)
);

CREATE UNIQUE INDEX messages_one_reply ON messages (reply_to) WHERE reply_to IS NOT NULL;
