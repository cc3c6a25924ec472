#!/usr/bin/env bash
# scripts/bench-local.sh — sai3 and fio side by side on the same files of a local file system.
#
# W1 random GET of 2,000 x 64 KiB files, W2 PUT of new 1 MiB objects, W3 70 % get / 20 % put /
# 10 % list+stat of 64 KiB; 16 workers each, BENCH_SECS (default 20) seconds each.
# Prints ops/s, MiB/s, p50/p99 latency and CPU microseconds per op for each tool, and the ratio.
# Installs fio with apt-get when it is missing. Data goes to BENCH_DIR (default /var/tmp/sai3-bench),
# which must be on a real file system; it is removed at the end unless BENCH_KEEP=1. The tools run
# alternately BENCH_ROUNDS times (default 2) per workload and the best round of each is shown.
# --oplog-cost: only W1, sai3 with the op-log off and on (the cost of recording every operation).
# See docs/PERFORMANCE.md for the figures measured here and how to read them.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v fio >/dev/null 2>&1; then
  echo "bench-local: installing fio (apt-get)" >&2
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fio; } >/tmp/sai3-fio-install.log 2>&1 ||
    { echo "bench-local: apt-get install fio failed; see /tmp/sai3-fio-install.log" >&2; exit 1; }
fi
cargo build --release --quiet
exec python3 scripts/bench.d/bench_local.py --sai3 "${CARGO_TARGET_DIR:-target}/release/sai3" "$@"
