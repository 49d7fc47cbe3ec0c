#!/usr/bin/env bash
# PostgreSQL's own floor for a refresh rotation next to Tessera's, in one run (loopback
# only, each measurement bounded in time):
#
#   1. pgbench running Tessera's rotation statement (scripts/pgbench/rotate.sql) at 8 and
#      64 clients, each on a fresh database seeded by scripts/pgbench/setup.sql (6,400
#      sessions with their tokens, analyzed);
#   2. Tessera's POST /v1/token/refresh, 64 sessions, through tessera-loadgen
#      --phases refresh: on SQLite (one server), on PostgreSQL with one replica and with
#      three replicas, each on a fresh database migrated by Tessera and seeded with the
#      same 6,400 background sessions (--empty: left empty);
#   3. a table of the figures and the bars: Tessera-1 ≥ 0.6 × pgbench-64, Tessera-1 p99
#      < 100 ms, Tessera-3 ≥ Tessera-1.
#
#   scripts/pg-load.sh                          # 10 s per measurement
#   scripts/pg-load.sh --out target/pg-load.md --duration 5
#   scripts/pg-load.sh -- --server-env TESSERA_DATABASE__MAX_CONNECTIONS=32
#   scripts/pg-load.sh --no-build               # use the binaries already in target/release
#   scripts/pg-load.sh --empty                  # Tessera on empty databases (see setup.sql)
#
# Arguments after `--` go to every tessera-loadgen run. PostgreSQL is reached through
# PGHOST/PGPORT/PGUSER (default 127.0.0.1, 5432, postgres; trust or ~/.pgpass auth). The
# databases it creates are named tessera_pgload_<pid>_*, and are dropped at the end, also on
# error or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10
sessions=64
build=1
seed=1
out=""
loadgen_extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --duration) duration="${2%s}"; shift 2 ;;
        --sessions) sessions="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        --empty) seed=0; shift ;;
        --) shift; loadgen_extra=("$@"); break ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "pg-load.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

[ "$duration" -ge 4 ] 2>/dev/null || { echo "pg-load.sh: --duration must be a whole number of seconds, at least 4" >&2; exit 2; }

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
export PGDATABASE=postgres
pgbench="$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -n 1 || true)"
for tool in psql createdb dropdb "$pgbench"; do
    command -v "$tool" >/dev/null || { echo "pg-load.sh: $tool not found" >&2; exit 2; }
done
psql -Atqc 'SELECT 1' >/dev/null || { echo "pg-load.sh: PostgreSQL at $PGHOST:$PGPORT does not answer" >&2; exit 2; }

say() { printf '%s\n' "$*" >&2; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

if [ "$build" = 1 ]; then
    say "== building (release)"
    cargo build --release -p tessera -p tessera-loadgen
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/tessera-pg-load.XXXXXX")"
prefix="tessera_pgload_$$"
created=()
cleanup() {
    for db in "${created[@]}"; do dropdb --if-exists "$db" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The postmaster, when PostgreSQL runs on this machine: the database's CPU is that of its
# children serving the database or the whole cluster (tessera-loadgen counts the same way).
postmaster=""
checkpointer="$(psql -Atqc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")"
if [ -n "$checkpointer" ] && [ -r "/proc/$checkpointer/stat" ]; then
    postmaster="$(awk '{ print $4 }' "/proc/$checkpointer/stat")"
fi
hz="$(getconf CLK_TCK)"

# utime+stime ticks (fields 14 and 15 of /proc/PID/stat) summed over the PIDs given.
ticks_of() {
    [ $# -gt 0 ] || { echo 0; return; }
    # shellcheck disable=SC2046
    cat $(printf '/proc/%s/stat ' "$@") 2>/dev/null |
        awk '{ split(substr($0, match($0, /\) [A-Za-z] /) + 2), f, " "); t += f[12] + f[13] }
             END { print t + 0 }'
}
# CPU ticks PostgreSQL has spent for database $1: the postmaster, its shared processes,
# and the backends of that database (by process title); not other databases' backends.
pg_ticks() {
    [ -n "$postmaster" ] || { echo 0; return; }
    # shellcheck disable=SC2046
    ticks_of "$postmaster" $(ps --ppid "$postmaster" -o pid=,args= | awk -v db="$1" '{
        i = 3; if ($i ~ /:$/) i++                       # "postgres:" and a cluster name
        if ($i == "autovacuum" && $(i + 1) == "worker") { if ($(i + 2) == db) print $1 }
        else if ($(i + 2) ~ /\)$/ || $(i + 2) == "[local]") { if ($(i + 1) == db) print $1 }
        else print $1                                   # checkpointer, walwriter, …
    }')
}
# Busy ticks of the whole machine (everything but idle and iowait).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# Transactions of the database, and the cluster's WAL writes, flushes, bytes.
counters() {
    psql -d "$1" -AtqX -F ' ' -c "SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database
        WHERE datname = current_database()), wal_write, wal_sync,
        (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint FROM pg_stat_wal"
}

# Time, PostgreSQL's ticks for database $1, ticks of pgbench ($2), the machine's busy ticks,
# and the rotations done so far (the sessions' generations).
snapshot() {
    echo "$(date +%s.%N) $(pg_ticks "$1") $(ticks_of "$2") $(machine_ticks)" \
        "$(psql -d "$1" -AtqXc 'SELECT sum(generation) FROM sessions')"
}

# Sleeps until the time (seconds since the epoch) that awk expression $1 gives.
sleep_until() {
    local left
    left="$(awk "BEGIN { d = ($1) - $(date +%s.%N); print (d > 0 ? d : 0) }")"
    sleep "$left"
}

fresh_db() {
    dropdb --if-exists "$1" 2>/dev/null
    createdb "$1"
    created+=("$1")
}

declare -A R

# pgbench CLIENTS: the rotation statement on a fresh database seeded with 64 × 100 sessions.
run_pgbench() {
    local c="$1" db="${prefix}_bench$1" log="$work/pgbench-$1"
    say "== pgbench, $c clients, ${duration} s"
    fresh_db "$db"
    for f in crates/store/migrations/postgres/*.sql; do
        psql -d "$db" -qX -v ON_ERROR_STOP=1 -f "$f" >/dev/null
    done
    psql -d "$db" -qX -v chains=64 -v background=6336 -f scripts/pgbench/setup.sql >/dev/null
    # CPU is measured from 1.5 s in (the clients are connected) to 1.5 s before the end,
    # while every connection is open, against the rotations counted in the database.
    local before after status=0 bpid a b start
    before="$(counters "$db")"
    start="$(date +%s.%N)"
    "$pgbench" -n -M prepared -D n=0 -D idle=604800 -f scripts/pgbench/rotate.sql \
        -c "$c" -j 2 -T "$duration" --log --log-prefix="$log" "$db" >"$log.out" 2>&1 &
    bpid=$!
    sleep_until "$start + 1.5"; a="$(snapshot "$db" "$bpid")"
    sleep_until "$start + $duration - 1.5"; b="$(snapshot "$db" "$bpid")"
    # pgbench ended (gone or a zombie) before the window did: no CPU figures.
    [ "$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$bpid/stat" 2>/dev/null)" = Z ] && b=""
    [ -e "/proc/$bpid" ] || b=""
    wait "$bpid" || status=$?
    after="$(counters "$db")"
    local processed failed tps lat spent gens
    processed="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log.out")"
    failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log.out")"
    tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$log.out")"
    lat="$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$log.out")"
    spent="$(psql -d "$db" -Atqc "SELECT count(*) FROM refresh_tokens WHERE spent_at > 1")"
    gens="$(psql -d "$db" -Atqc "SELECT sum(generation) FROM sessions")"
    dropdb "$db"
    [ -n "$processed" ] && [ -n "$tps" ] || { cat "$log.out" >&2; say "pg-load.sh: pgbench failed"; exit 1; }
    # Per-transaction latencies (µs, field 3 of pgbench's log): p50 and p99.
    local pct
    pct="$(cat "$log".[0-9]* | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 }
        END { i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999);
              printf "%.2f %.2f", v[i50] / 1000, v[i99] / 1000 }')"
    read -r ta da ca ma ga <<<"$a"
    read -r tb db_ cb mb gb <<<"${b:-$a}"
    read -r x0 w0 s0 b0 <<<"$before"
    read -r x1 w1 s1 b1 <<<"$after"
    local k="bench$c"
    R[${k}_tps]="$tps"; R[${k}_processed]="$processed"; R[${k}_lat]="$lat"
    R[${k}_p50]="${pct% *}"; R[${k}_p99]="${pct#* }"
    R[${k}_failed]="${failed:-?}"; R[${k}_status]="$status"
    R[${k}_clean]=$([ "$status" = 0 ] && [ "${failed:-1}" = 0 ] && [ "$spent" = "$processed" ] && [ "$gens" = "$processed" ] && echo 1 || echo 0)
    R[${k}_check]="spent tokens $spent, generations $gens, transactions $processed"
    if [ -n "$b" ] && [ "$gb" -gt "$ga" ]; then
        R[${k}_db_us]="$(calc "($db_ - $da) / $hz * 1e6 / ($gb - $ga)" 1)"
        R[${k}_client_us]="$(calc "($cb - $ca) / $hz * 1e6 / ($gb - $ga)" 1)"
        R[${k}_others]="$(calc "(($mb - $ma) - ($db_ - $da) - ($cb - $ca)) / $hz * 100 / ($tb - $ta)" 0)"
    fi
    R[${k}_xacts]="$(calc "($x1 - $x0) / $processed" 3)"
    R[${k}_syncs]="$(calc "($s1 - $s0) / $processed" 3)"
    R[${k}_walbytes]="$(calc "($b1 - $b0) / $processed" 0)"
    say "   ${tps} tps, ${R[${k}_check]}"
}

# tessera NAME [loadgen args]: the refresh phase through tessera-loadgen.
run_tessera() {
    local name="$1"; shift
    say "== Tessera $name, $sessions sessions, ${duration} s"
    target/release/tessera-loadgen --server target/release/tessera --phases refresh \
        --duration "${duration}s" --sessions "$sessions" \
        --summary "$work/$name.summary" --out "$work/$name.md" "$@" "${loadgen_extra[@]}" \
        >"$work/$name.log" 2>&1 || { cat "$work/$name.log" >&2; say "pg-load.sh: tessera-loadgen failed ($name)"; exit 1; }
    while IFS='=' read -r key value; do R[${name}_$key]="$value"; done <"$work/$name.summary"
    say "   ${R[${name}_refresh_per_sec]} req/s, p99 ${R[${name}_refresh_p99_ms]} ms, errors ${R[${name}_refresh_failures]}"
}

run_pgbench 8
run_pgbench 64

db_pid=()
[ -n "$postmaster" ] && db_pid=(--db-pid "$postmaster")
run_tessera sqlite
for n in 1 3; do
    db="${prefix}_tessera$n"
    fresh_db "$db"
    if [ "$seed" = 1 ]; then
        # Tessera's own migrations (any command that opens the database applies them), then
        # the background sessions.
        TESSERA_DATABASE__URL="postgres://$PGUSER@$PGHOST:$PGPORT/$db" target/release/tessera users list >/dev/null
        psql -d "$db" -qX -v chains=0 -v background=6400 -f scripts/pgbench/setup.sql >/dev/null
    fi
    run_tessera "pg$n" --database-url "postgres://$PGUSER@$PGHOST:$PGPORT/$db" --replicas "$n" "${db_pid[@]}"
    dropdb "$db"
done

# The report.
v() { echo "${R[$1]:-–}"; }
# The bars compare the unrounded figures; the ratios are shown to 3 decimals.
ratio1="$(calc "${R[pg1_refresh_per_sec]} / ${R[bench64_tps]}" 3)"
ratio3="$(calc "${R[pg3_refresh_per_sec]} / ${R[pg1_refresh_per_sec]}" 3)"
pass() { if [ "$1" = 1 ]; then echo PASS; else echo MISS; fi; }
bar1="$(awk "BEGIN { print (${R[pg1_refresh_per_sec]} >= 0.6 * ${R[bench64_tps]}) }")"
bar2="$(awk "BEGIN { print (${R[pg1_refresh_p99_ms]} < 100) }")"
bar3="$(awk "BEGIN { print (${R[pg3_refresh_per_sec]} >= ${R[pg1_refresh_per_sec]}) }")"
clean=1
for k in bench8 bench64; do [ "${R[${k}_clean]}" = 1 ] || clean=0; done
for k in sqlite pg1 pg3; do
    [ "${R[${k}_refresh_clean]}" = 1 ] && [ "${R[${k}_refresh_relogins]}" = 0 ] || clean=0
done

report="$work/report.md"
{
    echo "## Refresh rotation: PostgreSQL's floor (pgbench) and Tessera"
    echo
    echo "- command: \`scripts/pg-load.sh$( [ "$duration" != 10 ] && echo " --duration $duration")$( [ "$seed" = 0 ] && echo " --empty")$( [ ${#loadgen_extra[@]} -gt 0 ] && echo " -- ${loadgen_extra[*]}")\`, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(psql -AtqXc 'SHOW server_version' | cut -d' ' -f1) at $PGHOST:$PGPORT, ${duration} s per measurement"
    echo "- pgbench: \`pgbench -n -M prepared -D n=0 -D idle=604800 -f scripts/pgbench/rotate.sql -c C -j 2 -T ${duration}\` on 6,400 seeded sessions (scripts/pgbench/setup.sql); Tessera: \`tessera-loadgen --phases refresh --sessions $sessions\`, one worker per session, ES256, on PostgreSQL $( [ "$seed" = 1 ] && echo "with the same 6,400 background sessions" || echo "on an empty database (--empty)")"
    echo "- CPU columns are per transaction (pgbench) or per request (Tessera), measured while all connections are open: the servers' summed over replicas; PostgreSQL's$( [ -z "$postmaster" ] && echo " (not on this machine: not measured)") — the postmaster's children serving the run's database or the whole cluster, not other databases' backends; the client's (pgbench or tessera-loadgen); *other* is everything else on the machine, % of one core"
    echo
    echo "- xacts: transactions of the run's database (a statement outside BEGIN/COMMIT is one; the Tessera runs include their 64 logins); WAL flushes and bytes are cluster-wide (\`pg_stat_wal\`), so other users of the server add to them; round trips: the servers' writes to PostgreSQL (TCP data segments, \`ss\`)"
    echo
    echo "| run | conns | tps / req/s | p50 ms | p99 ms | errors | server µs | PostgreSQL µs | client µs | other CPU % | xacts / rotation | WAL flushes / rotation | WAL bytes / rotation | round trips / rotation |"
    echo "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in 8 64; do
        k="bench$c"
        echo "| pgbench, $c clients | $c | $(calc "${R[${k}_tps]}" 0) | $(v ${k}_p50) | $(v ${k}_p99) | failed $(v ${k}_failed)$( [ "${R[${k}_clean]}" = 1 ] || echo ", CHECK: $(v ${k}_check)") | – | $(v ${k}_db_us) | $(v ${k}_client_us) | $(v ${k}_others) | $(v ${k}_xacts) | $(v ${k}_syncs) | $(v ${k}_walbytes) | 1 (by construction) |"
    done
    for k in sqlite pg1 pg3; do
        case "$k" in sqlite) name="Tessera, SQLite, 1 server" ;; pg1) name="Tessera, PostgreSQL, 1 replica" ;; pg3) name="Tessera, PostgreSQL, 3 replicas" ;; esac
        echo "| $name | $(v ${k}_sessions) | $(calc "${R[${k}_refresh_per_sec]}" 0) | $(v ${k}_refresh_p50_ms) | $(v ${k}_refresh_p99_ms) | $(v ${k}_refresh_failures) | $(v ${k}_refresh_server_cpu_us_per_req) | $(v ${k}_refresh_db_cpu_us_per_req) | $(v ${k}_refresh_loadgen_cpu_us_per_req) | $(v ${k}_refresh_others_cpu_pct) | $(v ${k}_db_xacts_per_rotation) | $(v ${k}_db_wal_syncs_per_rotation) | $(v ${k}_db_wal_bytes_per_rotation) | $(v ${k}_db_round_trips_per_rotation) |"
    done
    echo
    echo "- pgbench 8 clients: $(v bench8_check); 64 clients: $(v bench64_check)"
    for k in pg1 pg3; do
        [ -n "${R[${k}_db_open_conns]:-}" ] && echo "- Tessera $k: PostgreSQL connections of the servers, mean over the window: $(v ${k}_db_open_conns) open, $(v ${k}_db_active_conns) active (details: its report below)"
    done
    echo
    echo "### Bars"
    echo
    echo "- $(pass "$bar1"): Tessera PostgreSQL 1 replica ≥ 0.6 × pgbench 64 clients — $(calc "${R[pg1_refresh_per_sec]}" 0) / $(calc "${R[bench64_tps]}" 0) = $ratio1"
    echo "- $(pass "$bar2"): Tessera PostgreSQL 1 replica p99 < 100 ms — $(v pg1_refresh_p99_ms) ms"
    echo "- $(pass "$bar3"): Tessera PostgreSQL 3 replicas ≥ 1 replica — $(calc "${R[pg3_refresh_per_sec]}" 0) / $(calc "${R[pg1_refresh_per_sec]}" 0) = $ratio3"
    echo "- $(pass "$clean"): every rotation succeeded (pgbench: spent tokens = generations = transactions, nothing failed; Tessera: every answer 200, no session lost)"
    noisy=""
    for k in bench8 bench64; do awk "BEGIN { exit !(${R[${k}_others]:-0} > 10) }" && noisy="$noisy pgbench-${k#bench}"; done
    for k in sqlite pg1 pg3; do awk "BEGIN { exit !(${R[${k}_refresh_others_cpu_pct]} > 10) }" && noisy="$noisy $k"; done
    [ -n "$noisy" ] && { echo; echo "WARNING: other processes used more than 10% of a core during:$noisy — those figures are disturbed; run again on a quiet machine"; }
    true
} >"$report"

cat "$report"
if [ -n "$out" ]; then
    {
        cat "$report"
        for k in sqlite pg1 pg3; do echo; echo "### tessera-loadgen: $k"; echo; sed 's/^## tessera-loadgen$//' "$work/$k.md"; done
    } >"$out"
    say "written to $out"
fi
