#!/usr/bin/env bash
# Tessera beside the service a Rust team would write by hand (axum + jsonwebtoken,
# crates/loadgen/src/bin/baseline.rs), checking the same tokens, with the two ways to protect
# an API measured the same way: an axum service behind the tessera-verifier layer
# (src/bin/verifier_app.rs) and `tessera gate`'s /auth (ES256 only: it reads the JWKS, which
# never holds an HMAC key). Builds the release binaries and runs `tessera-loadgen --phases
# compare` (loopback only, bounded in time: about five minutes with the defaults, once
# built). It prints the side-by-side table (median of the rounds [min–max], each ÷ baseline)
# and the bars as PASS/MISS lines.
# Arguments go to tessera-loadgen and override the defaults here, e.g.
#   scripts/compare.sh                                  # HS256 and ES256, 3 rounds, 5 s windows
#   scripts/compare.sh --targets tessera,baseline       # only Tessera's own /v1/me
#   scripts/compare.sh --alg ES256,EdDSA --rounds 5 --out target/compare.md
#   scripts/compare.sh --pin off                        # let the scheduler place the processes
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p tessera -p tessera-loadgen
# Wherever cargo put them (CARGO_TARGET_DIR, .cargo/config.toml), not always target/.
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release"
# Every target unless the caller names them (--targets adds up when given twice).
targets=(--targets tessera,baseline,verifier,gate)
for a in "$@"; do
    case "$a" in --targets | --targets=*) targets=() ;; esac
done
exec "$bin/tessera-loadgen" --phases compare --server "$bin/tessera" \
    --baseline "$bin/tessera-baseline" --verifier-app "$bin/tessera-verifier-app" \
    "${targets[@]}" --duration 5s "$@"
