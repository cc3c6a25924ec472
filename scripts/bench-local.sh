#!/usr/bin/env bash
# scripts/bench-local.sh — sai3 next to fio and to a syscall floor, on the same files of a local file system.
#
# Workloads (16 workers each, BENCH_SECS (default 20) seconds per run; select with --only W1,W2,…):
#   W1 / W1-4k  random GET of 2,000 x 64 KiB / 4 KiB files
#   W2          PUT of new 1 MiB objects
#   W3 / W3-4k  70 % GET / 20 % PUT / 5 % LIST / 5 % STAT of 64 KiB / 4 KiB objects
# References, run in the same invocation: fio (W1/W3: 16 jobs, each with its own 125 files kept
# open, 2,000 files in all; W2: new 1 MiB files) and the floor (scripts/bench.d/floor/floor.c,
# built with cc into the bench's temp dir): 16 threads doing only the system calls of an object GET
# (open, one read, close) over sai3's own files for W1/W1-4k, or of a PUT of a new file (open
# O_CREAT|O_TRUNC, one write, close) for W2.
# Prints ops/s, MiB/s, p50/p99 latency, CPU microseconds per op and cores used (CPU seconds of the
# process and its children / wall seconds of the run) for each tool, and the ratios sai3/fio and
# sai3/floor. A reference that used less than 90 % of the machine's cores is flagged STARVED: it did
# not show the machine at its best, and a ratio against it flatters sai3. MACHINE BUSY under a table:
# other processes used the CPU during its runs (run on an idle machine).
# Installs fio and gcc with apt-get when missing. Data goes to BENCH_DIR (default /var/tmp/sai3-bench),
# which must be on a real file system; it is removed at the end unless BENCH_KEEP=1. The tools run
# in turn BENCH_ROUNDS times (default 2) per workload and the best round of each is shown;
# BENCH_SETTLE (default 30) seconds of pause after mass deletes.
# --oplog-cost: only W1, sai3 with the op-log off and on (the cost of recording every operation).
# BENCH_SOAK=SECONDS: instead of all this, a soak (scripts/bench.d/bench_soak.py): W3 for that long
# with two local agents (8 workers each), a DELETE of the run's own PUTs beside it so the data stays
# bounded; the RSS of the controller and of each agent every BENCH_SOAK_EVERY (default 60) seconds,
# printed and written to soak_rss.tsv, then a summary (RSS at 25/50/75/100 %, growth, NOT FLAT when
# more than 10 % above the 25 % sample) and the run's ops/s and errors. Data in BENCH_DIR (default
# /var/tmp/sai3-bench-soak). Needs neither fio nor cc.
# See docs/PERFORMANCE.md for how to read the output and the figures measured with it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${BENCH_SOAK:-}" ]]; then
  cargo build --release --quiet
  exec python3 scripts/bench.d/bench_soak.py --sai3 "${CARGO_TARGET_DIR:-target}/release/sai3" "$@"
fi

missing=()
command -v fio >/dev/null 2>&1 || missing+=(fio)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
if ((${#missing[@]})); then
  echo "bench-local: installing ${missing[*]} (apt-get)" >&2
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; } >/tmp/sai3-bench-install.log 2>&1 ||
    { echo "bench-local: apt-get install ${missing[*]} failed; see /tmp/sai3-bench-install.log" >&2; exit 1; }
fi
cargo build --release --quiet
exec python3 scripts/bench.d/bench_local.py --sai3 "${CARGO_TARGET_DIR:-target}/release/sai3" "$@"
