#!/usr/bin/env bash
# scripts/bench-s3.sh — sai3 against the testbed's two local S3 endpoints (s3s-fs, one namespace).
#
# GET and PUT of 4 KiB and 1 MiB objects, round robin over both endpoints, BENCH_CONC workers
# (default 16), BENCH_SECS seconds each (default 15), with sai3's own HTTP data path on its async
# runtime (storage.s3_client: auto) and on blocking sockets (threads), through object_store's
# client (object_store), and — for 4 KiB — with the floor (scripts/bench.d/floor/s3floor.c:
# requests signed beforehand, one send and the reads of the answer per request, from blocking
# threads "floor" and from one epoll loop "floor-loop"); BENCH_S3_CLIENTS picks (e.g. auto,floor).
# Prints ops/s, MiB/s, p50/p99 and each client's own CPU seconds per 1,000 operations, and the S3
# server process's CPU seconds per 1,000 operations separately, so the load generator's cost is
# visible next to the server's. Starts the testbed when it is not running; removes its objects
# (and s3s-fs's metadata files of them) at the end. See docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cc >/dev/null 2>&1; then
  echo "bench-s3: installing gcc for the floor (apt-get)" >&2
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev; } \
    >/tmp/sai3-bench-install.log 2>&1 ||
    { echo "bench-s3: apt-get install gcc failed; see /tmp/sai3-bench-install.log" >&2; exit 1; }
fi
scripts/testbed start >/dev/null
eval "$(scripts/testbed env)"
cargo build --release --quiet
exec python3 scripts/bench.d/bench_s3.py --sai3 "${CARGO_TARGET_DIR:-target}/release/sai3" --state /tmp/sai3-testbed/state "$@"
