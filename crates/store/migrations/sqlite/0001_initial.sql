-- Users, sessions, refresh tokens, signing keys. Times are Unix seconds (INTEGER).
-- STRICT tables: SQLite refuses a value of the wrong type instead of storing it silently.

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL,
    -- The lowercased username: what signup and login look up, and what must be unique.
    username_key  TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    revoked_at      INTEGER,
    revoke_reason   TEXT,
    generation      INTEGER NOT NULL DEFAULT 0,
    user_agent      TEXT,
    ip              TEXT
) STRICT;

CREATE INDEX sessions_user_id ON sessions (user_id);
-- The revocation feed (`revocations_since`): only revoked rows, ordered, and covering.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at, id) WHERE revoked_at IS NOT NULL;
-- `purge`.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);

-- SHA-256 of each refresh token of a session's family; the token itself is never stored.
CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    spent_at   INTEGER
) STRICT, WITHOUT ROWID;

-- Cascading deletes from `sessions` look tokens up by session.
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid            TEXT    NOT NULL PRIMARY KEY,
    alg            TEXT    NOT NULL,
    public_jwk     TEXT    NOT NULL,
    -- The private JWK sealed (AEAD) under the master key.
    private_sealed BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    activates_at   INTEGER NOT NULL,
    retired_at     INTEGER
) STRICT;
