-- Seed data for the refresh-rotation benchmarks of scripts/pg-load.sh, on a fresh database
-- whose schema is Tessera's (crates/store/migrations/postgres/):
--
--   psql -v chains=64 -v background=6336 -f scripts/pgbench/setup.sql   # for pgbench
--   psql -v chains=0 -v background=6400 -f scripts/pgbench/setup.sql    # under Tessera
--
-- One user; `chains` sessions `se_pgbench_0` … that pgbench rotates, one per client, each
-- with its live token (SHA-256 of `CLIENT/0`, see rotate.sql); and `background` sessions,
-- each with three spent tokens and a live one, so that both pgbench and Tessera run on
-- tables and indexes of a realistic size, with planner statistics (the plan of the
-- rotation statement depends on them: on a tiny table that was never analyzed,
-- PostgreSQL scans `sessions` sequentially).

\set ON_ERROR_STOP on

BEGIN;

INSERT INTO users (id, username, username_key, password_hash, created_at)
VALUES ('us_pgbench', 'pgbench', 'pgbench', '$argon2id$v=19$m=19456,t=2,p=1$unused$unused',
        EXTRACT(EPOCH FROM now())::bigint);

-- Sessions 0 … chains-1 are the chains, the rest background.
INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_expires_at,
                      generation, user_agent, ip)
SELECT CASE WHEN i < :chains THEN 'se_pgbench_' || i ELSE 'se_' || md5(i::text) END,
       'us_pgbench', t, t, t + 14 * 86400, t + 7 * 86400, 0, 'pgbench', '127.0.0.1'
FROM generate_series(0, :chains + :background - 1) AS i,
     (SELECT EXTRACT(EPOCH FROM now())::bigint AS t) AS now;

-- The live token of each chain: SHA-256 of `CLIENT/0`.
INSERT INTO refresh_tokens (hash, session_id, created_at, spent_at)
SELECT sha256(convert_to(i || '/0', 'UTF8')), 'se_pgbench_' || i,
       EXTRACT(EPOCH FROM now())::bigint, NULL
FROM generate_series(0, :chains - 1) AS i;

-- Background sessions: three spent tokens (spent_at 1, long ago) and a live one.
INSERT INTO refresh_tokens (hash, session_id, created_at, spent_at)
SELECT sha256(convert_to('bg/' || i || '/' || k, 'UTF8')), 'se_' || md5(i::text),
       EXTRACT(EPOCH FROM now())::bigint, CASE WHEN k < 3 THEN 1 END
FROM generate_series(:chains, :chains + :background - 1) AS i,
     generate_series(0, 3) AS k;

COMMIT;

-- Planner statistics and a clean visibility map, as autovacuum would leave them.
VACUUM ANALYZE;
