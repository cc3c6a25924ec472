#!/usr/bin/env bash
# scripts/bench-fleet.sh [N ...]  — the controller's cost with N agents on loopback.
#
# For each N (default: 8 32 64) it starts N `sai3 agent` processes on 127.0.0.1 (port 0), runs a
# distributed GET workload against file:// with concurrency 1 and io_rate BENCH_RATE (default 20
# ops/s) per agent for BENCH_SECS (default 20) seconds — agents stream 100 ms intervals — and
# prints the controller's CPU (% of one core over the run), its resident memory at 25 %, 50 % and
# 100 % of the run (flat = no growth), and the stats delay (agent interval end → controller,
# clock-offset corrected, from metadata.json). Target: 64 agents with the controller under 10 %
# of a core and flat memory. See docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 scripts/bench.d/bench_fleet.py --sai3 "${CARGO_TARGET_DIR:-target}/release/sai3" "$@"
