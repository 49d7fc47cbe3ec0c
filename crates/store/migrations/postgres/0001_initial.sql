-- Users, sessions, refresh tokens, signing keys: the schema of migrations/sqlite/0001, in
-- PostgreSQL types. Times are Unix seconds (BIGINT), hashes and sealed keys BYTEA, ids TEXT.

CREATE TABLE users (
    id            TEXT   NOT NULL PRIMARY KEY,
    username      TEXT   NOT NULL,
    -- The lowercased username: what signup and login look up, and what must be unique.
    username_key  TEXT   NOT NULL UNIQUE,
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    -- Insertion order, the tie-break of "oldest first" (SQLite's rowid).
    seq           BIGINT NOT NULL GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE sessions (
    id              TEXT   NOT NULL PRIMARY KEY,
    user_id         TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    revoked_at      BIGINT,
    revoke_reason   TEXT,
    generation      BIGINT NOT NULL DEFAULT 0,
    user_agent      TEXT,
    ip              TEXT
);

CREATE INDEX sessions_user_id ON sessions (user_id);
-- The revocation feed (`revocations_since`): only revoked rows, ordered, and covering.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at, id) WHERE revoked_at IS NOT NULL;
-- `purge`.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);

-- SHA-256 of each refresh token of a session's family; the token itself is never stored.
CREATE TABLE refresh_tokens (
    hash       BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
    session_id TEXT   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    spent_at   BIGINT
);

-- Cascading deletes from `sessions` look tokens up by session.
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid            TEXT   NOT NULL PRIMARY KEY,
    alg            TEXT   NOT NULL,
    public_jwk     TEXT   NOT NULL,
    -- The private JWK sealed (AEAD) under the master key.
    private_sealed BYTEA  NOT NULL,
    created_at     BIGINT NOT NULL,
    activates_at   BIGINT NOT NULL,
    retired_at     BIGINT,
    -- Insertion order, the tie-break of "oldest first" (SQLite's rowid).
    seq            BIGINT NOT NULL GENERATED ALWAYS AS IDENTITY
);
