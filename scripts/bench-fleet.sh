#!/usr/bin/env bash
# scripts/bench-fleet.sh [N ...]  — the controller's cost with N agents on loopback.
#
# For each N (default: 64 128 256) it starts N `sai3 agent` processes on 127.0.0.1 (port 0), runs a
# distributed GET workload against file:// with concurrency 1 and io_rate BENCH_RATE (default 20
# ops/s) per agent for BENCH_SECS (default 60) seconds — agents stream 100 ms intervals — and
# prints the controller's CPU (% of one core: steady, over the middle 80 % of the workload, and
# over the whole run), its resident memory at 25 %, 50 % and 100 % of the workload (flat = no
# growth), the stats delay (agent interval end → controller, clock-offset corrected, from
# metadata.json), the start skew (median and max over agents) and the agents' own CPU as a share
# of the machine (when it nears 100 %, agents and controller starve each other and delays grow).
# Target: 256 agents with the controller under 10 % of a core, start skew under 10 ms and flat
# memory. See docs/PERFORMANCE.md and docs/DISTRIBUTED.md ("Controller at scale").
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 scripts/bench.d/bench_fleet.py --sai3 "${CARGO_TARGET_DIR:-target}/release/sai3" "$@"
