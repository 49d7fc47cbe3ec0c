#!/usr/bin/env bash
# Real-browser end-to-end test of the page at `/` (issue 5): builds `tessera`, installs
# Debian's chromium if missing, starts `tessera serve` in a temporary directory on a free
# loopback port with a 2-second access-token lifetime, runs e2e/browser.test.mjs with
# node's test runner, and always stops the server. Screenshots land in e2e/artifacts/.
#
#   bash e2e/run.sh                            # builds target/debug/tessera first
#   TESSERA_BIN=target/release/tessera bash e2e/run.sh   # or uses the binary given
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [[ -n ${TESSERA_BIN:-} ]]; then
  BIN=$(realpath "$TESSERA_BIN")
else
  echo "== e2e: build tessera"
  cargo build -p tessera --locked
  BIN=$(realpath "${CARGO_TARGET_DIR:-$ROOT/target}/debug/tessera")
fi

echo "== e2e: chromium"
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
chromium --version 2>/dev/null || echo "warning: chromium --version failed" >&2

echo "== e2e: npm ci"
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
echo "== e2e: tessera serve on 127.0.0.1:$PORT (browser at http://localhost:$PORT)"
# The browser uses `localhost` (a secure context, so the Secure __Host- cookie works over
# http); the public URL is that origin, the one the server's CSRF check allows.
(
  cd "$WORK"
  exec env \
    TESSERA_SERVER__BIND="127.0.0.1:$PORT" \
    TESSERA_SERVER__PUBLIC_URL="http://localhost:$PORT" \
    TESSERA_TOKENS__ACCESS_TTL=2s \
    TESSERA_TOKENS__LEEWAY=0s \
    TESSERA_DATABASE__URL="sqlite://$WORK/tessera.db" \
    TESSERA_KEYS__MASTER_KEY_FILE="$WORK/tessera.master.key" \
    "$BIN" serve >"$WORK/server.log" 2>&1
) &
SERVER_PID=$!

ready=
for _ in $(seq 1 100); do
  if node -e "fetch('http://127.0.0.1:$PORT/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
    ready=1
    break
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.2
done
if [[ -z $ready ]]; then
  echo "tessera serve did not become ready:" >&2
  cat "$WORK/server.log" >&2
  exit 1
fi

echo "== e2e: browser test"
status=0
(
  cd e2e
  TESSERA_URL="http://localhost:$PORT" timeout --kill-after=10s 100s \
    node --test --test-reporter=spec browser.test.mjs
) || status=$?
if [[ $status -ne 0 ]]; then
  echo "== e2e: failed ($status); server log:" >&2
  tail -n 50 "$WORK/server.log" >&2
fi
echo "== e2e: screenshots in e2e/artifacts/"
exit "$status"
