#!/usr/bin/env bash
# scripts/bench-s3.sh — sai3 against the testbed's two local S3 endpoints (s3s-fs, one namespace).
#
# GET and PUT of 4 KiB and 1 MiB objects, round robin over both endpoints, BENCH_CONC workers
# (default 16), BENCH_SECS seconds each (default 15), each once with sai3's own HTTP data path
# (storage.s3_client: auto) and once through object_store's client (s3_client: object_store);
# BENCH_S3_CLIENTS=auto runs only the first. Prints ops/s, MiB/s, p50/p99 and sai3's own CPU
# seconds per 1,000 operations, and the S3 server process's CPU seconds per 1,000 operations
# separately, so the load generator's cost is visible next to the server's. Starts the testbed
# when it is not running. See docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/testbed start >/dev/null
eval "$(scripts/testbed env)"
cargo build --release --quiet
exec python3 scripts/bench.d/bench_s3.py --sai3 "${CARGO_TARGET_DIR:-target}/release/sai3" --state /tmp/sai3-testbed/state "$@"
