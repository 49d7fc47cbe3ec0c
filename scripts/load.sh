#!/usr/bin/env bash
# Load benchmark of `tessera serve` (loopback only, bounded in time): builds the release
# binaries and runs tessera-loadgen against them. Arguments go to tessera-loadgen, e.g.
#   scripts/load.sh                       # ES256, 10 s per phase
#   scripts/load.sh --alg HS256 --out target/load-hs256.md
#   scripts/load.sh --duration 3s --concurrency 16 --sessions 16
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p tessera -p tessera-loadgen
# Wherever cargo put them (CARGO_TARGET_DIR, .cargo/config.toml), not always target/.
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
exec "$target_dir/release/tessera-loadgen" --server "$target_dir/release/tessera" "$@"
