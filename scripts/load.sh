#!/usr/bin/env bash
# Load benchmark of `tessera serve` (loopback only, bounded in time): builds the release
# binaries and runs tessera-loadgen against them. Arguments go to tessera-loadgen, e.g.
#   scripts/load.sh                       # ES256, 10 s per phase
#   scripts/load.sh --alg HS256 --out target/load-hs256.md
#   scripts/load.sh --duration 3s --concurrency 16 --sessions 16
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p tessera -p tessera-loadgen
exec target/release/tessera-loadgen --server target/release/tessera "$@"
