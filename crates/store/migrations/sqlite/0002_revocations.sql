-- The revocation feed: one record per revoked session, written in the same transaction as
-- the revocation and kept until `until` (when the session's last access token stops
-- verifying), whatever the purge does to the session's row. Its order is commit order:
-- SQLite has one writer at a time, and AUTOINCREMENT never reuses a number.
CREATE TABLE revocations (
    seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    session_id TEXT    NOT NULL,
    revoked_at INTEGER NOT NULL,
    until      INTEGER NOT NULL
) STRICT;

-- `purge` deletes records past `until`.
CREATE INDEX revocations_until ON revocations (until);

-- This database's feed identity: a cursor made by another database is not continued.
CREATE TABLE feed_identity (id TEXT NOT NULL) STRICT;
INSERT INTO feed_identity (id) VALUES (lower(hex(randomblob(16))));

-- Sessions revoked before this migration: their access-token lifetime is not known here, so
-- they are refused for a day (longer than any sensible access_ttl; refusing a revoked
-- session's tokens longer than needed costs nothing but memory).
INSERT INTO revocations (session_id, revoked_at, until)
    SELECT id, revoked_at, revoked_at + 86400 FROM sessions
    WHERE revoked_at IS NOT NULL ORDER BY revoked_at, id;
