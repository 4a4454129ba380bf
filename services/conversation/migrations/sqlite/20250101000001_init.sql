-- Learners, their practice sessions and the messages of each session.
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC), so that
-- they sort and compare exactly; ids are lowercase hyphenated UUID text.

CREATE TABLE learners (
    id              TEXT PRIMARY KEY,
    display_name    TEXT NOT NULL DEFAULT '',
    level           TEXT CHECK (level IN ('A1', 'A2', 'B1', 'B2', 'C1', 'C2')),
    native_language TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    owner_id      TEXT NOT NULL REFERENCES learners (id),
    scenario_id   TEXT NOT NULL,
    level         TEXT NOT NULL CHECK (level IN ('A1', 'A2', 'B1', 'B2', 'C1', 'C2')),
    title         TEXT NOT NULL,
    archived      INTEGER NOT NULL DEFAULT 0,
    message_count INTEGER NOT NULL DEFAULT 0,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER
);

CREATE INDEX sessions_owner_newest ON sessions (owner_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

CREATE TABLE messages (
    id                TEXT PRIMARY KEY,
    session_id        TEXT NOT NULL REFERENCES sessions (id),
    seq               INTEGER NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('learner', 'tutor')),
    content           TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('completed', 'pending', 'failed', 'partial')),
    input_tokens      INTEGER NOT NULL DEFAULT 0,
    output_tokens     INTEGER NOT NULL DEFAULT 0,
    cost_micro_usd    INTEGER NOT NULL DEFAULT 0,
    provider          TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL DEFAULT '',
    request_id        TEXT NOT NULL DEFAULT '',
    client_message_id TEXT,
    reply_to          TEXT REFERENCES messages (id),
    attempts          INTEGER NOT NULL DEFAULT 0,
    error_reason      TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (session_id, seq),
    UNIQUE (session_id, client_message_id)
);

CREATE UNIQUE INDEX messages_one_reply ON messages (reply_to) WHERE reply_to IS NOT NULL;
