-- The revocation feed (see migrations/sqlite/0002): one record per revoked session, written
-- in the same statement as the revocation and kept until `until`.
--
-- Concurrent revocations commit out of order: a record can become visible after records
-- inserted later. So records carry the id of the transaction that wrote them, and a reader's
-- position is the oldest transaction still running when it read (`pg_snapshot_xmin`):
-- anything not visible to it then was written by a transaction at or after that horizon,
-- so reading `txid >= position` next time finds it (a record may be read twice).
CREATE TABLE revocations (
    seq        BIGINT NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid       xid8   NOT NULL DEFAULT pg_current_xact_id(),
    session_id TEXT   NOT NULL,
    revoked_at BIGINT NOT NULL,
    until      BIGINT NOT NULL
);

CREATE INDEX revocations_txid ON revocations (txid);
-- `purge` deletes records past `until`.
CREATE INDEX revocations_until ON revocations (until);

-- This database's feed identity: a cursor made by another database is not continued.
CREATE TABLE feed_identity (id TEXT NOT NULL);
INSERT INTO feed_identity (id) VALUES (replace(gen_random_uuid()::text, '-', ''));

-- Sessions revoked before this migration are refused for a day (see the SQLite migration).
INSERT INTO revocations (session_id, revoked_at, until)
    SELECT id, revoked_at, revoked_at + 86400 FROM sessions
    WHERE revoked_at IS NOT NULL ORDER BY revoked_at, id;
