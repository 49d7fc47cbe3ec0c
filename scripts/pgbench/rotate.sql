-- One refresh rotation, the statement Tessera runs (ROTATE in
-- crates/store/src/postgres/store.rs): spend the presented token, slide its session,
-- insert the successor, and return the session. Run by scripts/pg-load.sh:
--
--   pgbench -n -M prepared -D n=0 -D idle=604800 -f scripts/pgbench/rotate.sql -c 64 -j 2 -T 10
--
-- Client C rotates its own chain (session `se_pgbench_C`, seeded by setup.sql with
-- chains=64): its N-th
-- token is SHA-256 of `C/N`, and `n`, set to 0 by `-D n=0`, counts the client's rotations
-- (pgbench keeps variables across a client's transactions). Each transaction therefore
-- finds a live token: one token spent, one session updated, one token inserted. `\gset`
-- needs exactly one row back, so a rotation that finds nothing aborts the client and shows
-- in pgbench's output; pg-load.sh also checks afterwards that the spent tokens number the
-- transactions.
--
-- Differences from Tessera, both small: the hashes are computed here by sha256() (Tessera
-- binds the 32 bytes), and `now` is PostgreSQL's transaction time in Unix seconds (Tessera
-- binds its own clock's).

\set next :n + 1
WITH spent AS (
    UPDATE refresh_tokens t SET spent_at = EXTRACT(EPOCH FROM now())::bigint FROM sessions s
    WHERE t.hash = sha256(convert_to(:client_id::text || '/' || :n::text, 'UTF8'))
      AND t.spent_at IS NULL AND s.id = t.session_id
      AND s.revoked_at IS NULL AND EXTRACT(EPOCH FROM now())::bigint < s.expires_at
      AND EXTRACT(EPOCH FROM now())::bigint < s.idle_expires_at
    RETURNING t.session_id
), touched AS (
    UPDATE sessions s SET last_used_at = EXTRACT(EPOCH FROM now())::bigint,
        idle_expires_at = LEAST(s.expires_at, EXTRACT(EPOCH FROM now())::bigint + :idle::bigint),
        generation = s.generation + 1
    FROM spent WHERE s.id = spent.session_id
      AND s.revoked_at IS NULL AND EXTRACT(EPOCH FROM now())::bigint < s.expires_at
      AND EXTRACT(EPOCH FROM now())::bigint < s.idle_expires_at
    RETURNING s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at,
        s.idle_expires_at, s.revoked_at, s.revoke_reason, s.generation, s.user_agent, s.ip
), successor AS (
    INSERT INTO refresh_tokens (hash, session_id, created_at, spent_at)
    SELECT sha256(convert_to(:client_id::text || '/' || :next::text, 'UTF8')), id,
        EXTRACT(EPOCH FROM now())::bigint, NULL
    FROM touched
) SELECT id, user_id, created_at, last_used_at, expires_at, idle_expires_at, revoked_at,
    revoke_reason, generation, user_agent, ip FROM touched
\gset r_
\set n :next
