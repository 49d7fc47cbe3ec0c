#!/usr/bin/env bash
# Three `tessera serve` replicas on one machine, sharing what replicas must share: one
# PostgreSQL database, one master key, one issuer (public URL) and one Redis. Put a load
# balancer in front of them, or call them directly. Ctrl-C stops all three.
#
#   scripts/replicas.sh
#   DATABASE_URL=postgres://me@db.internal/tessera PUBLIC_URL=https://auth.example.com scripts/replicas.sh
#
# Optional environment:
#   DATABASE_URL  default postgres://postgres@127.0.0.1:5432/tessera_replicas (created when
#                 missing, through the `postgres` maintenance database on the same server)
#   REDIS_URL     default redis://127.0.0.1:6379 (rate limits shared by the replicas)
#   PUBLIC_URL    the issuer (`iss`) of every replica, default http://127.0.0.1:8081; in
#                 production the load balancer's URL
#   PORTS         default "8081 8082 8083" (each replica listens on 127.0.0.1:PORT)
#   TESSERA_MASTER_KEY  the shared master key; by default one is generated on the first
#                 run and kept in target/replicas/master.key (mode 0600). The replicas refuse
#                 to start with a key other than the one that sealed the stored signing keys:
#                 keep that file as long as you keep the database.
#   Any other TESSERA_<SECTION>__<KEY> setting is passed to every replica.
# Logs: target/replicas/replica-PORT.log.
set -euo pipefail
cd "$(dirname "$0")/.."

state=target/replicas
db_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tessera_replicas}
redis_url=${REDIS_URL:-redis://127.0.0.1:6379}
read -r -a ports <<<"${PORTS:-8081 8082 8083}"
public_url=${PUBLIC_URL:-http://127.0.0.1:${ports[0]}}

cargo build --release -p tessera
bin=$PWD/target/release/tessera
mkdir -p "$state"

# The database: created when it does not exist yet (the replicas create the tables).
case $db_url in
postgres://* | postgresql://*) ;;
*)
    echo "DATABASE_URL must be a postgres:// URL: replicas share one PostgreSQL database" >&2
    exit 2
    ;;
esac
if ! psql -X -q -d "$db_url" -c 'SELECT 1' >/dev/null 2>&1; then
    base=${db_url%%\?*}
    name=${base##*/}
    query=${db_url#"$base"}
    echo "creating database $name"
    createdb --maintenance-db="${base%/*}/postgres$query" "$name"
fi

# The master key, one for all replicas.
if [[ -z ${TESSERA_MASTER_KEY:-} ]]; then
    if [[ ! -s $state/master.key ]]; then
        (umask 077 && head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n' >"$state/master.key")
        echo "generated a master key in $state/master.key"
    fi
    TESSERA_MASTER_KEY=$(<"$state/master.key")
fi
export TESSERA_MASTER_KEY

# Every replica's own origin may call with the browser cookie (the page works on each).
origins=()
for port in "${ports[@]}"; do
    origins+=("http://127.0.0.1:$port")
done

pids=()
stop() {
    trap - EXIT INT TERM
    if ((${#pids[@]})); then
        kill "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
    echo "stopped"
}
trap stop EXIT
trap 'exit 130' INT TERM

for port in "${ports[@]}"; do
    # Each replica runs in the state directory: nothing lands in the repository root.
    (
        cd "$state"
        export TESSERA_SERVER__BIND=127.0.0.1:$port
        export TESSERA_SERVER__PUBLIC_URL=$public_url
        export TESSERA_CORS__ALLOWED_ORIGINS=${TESSERA_CORS__ALLOWED_ORIGINS:-$(
            IFS=,
            echo "${origins[*]}"
        )}
        export TESSERA_DATABASE__URL=$db_url
        export TESSERA_REDIS__URL=$redis_url
        exec "$bin" serve
    ) >"$state/replica-$port.log" 2>&1 &
    pids+=($!)
done

# Ready: /readyz answers 200 (the database answers); each replica started at the same
# moment, so migrations and the first signing key are settled between them in the database.
for i in "${!ports[@]}"; do
    port=${ports[$i]}
    deadline=$((SECONDS + 30))
    until ready=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/readyz" 2>/dev/null); do
        if ! kill -0 "${pids[$i]}" 2>/dev/null || ((SECONDS > deadline)); then
            echo "replica on port $port did not become ready; its log:" >&2
            cat "$state/replica-$port.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    # Redis is connected in the background, never delaying start: give it a moment.
    for _ in {1..15}; do
        [[ $ready == *'"rate_limit":"redis"'* ]] && break
        sleep 0.2
        ready=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/readyz" 2>/dev/null) || true
    done
    echo "http://127.0.0.1:$port  $ready"
    if [[ $ready != *'"rate_limit":"redis"'* ]]; then
        echo "  warning: rate limits are not counted in Redis ($redis_url) on this replica" >&2
    fi
done
echo "issuer $public_url; database $db_url; logs in $state/; Ctrl-C stops all three"

# Until Ctrl-C, or until a replica exits (then the others are stopped too).
set +e
wait -n "${pids[@]}"
status=$?
echo "a replica stopped (exit status $status); stopping the others" >&2
exit $((status == 0 ? 0 : 1))
