#!/usr/bin/env bash
# scripts/bench-datagen.sh — how fast sai3 generates object content (random, compressible,
# deduplicable, pattern; and verification), one thread, next to memcpy and to fio generating the
# same kinds of buffers (ioengine=null, refill_buffers, so fio does nothing but make data).
# The target is at least 2 GB/s per core for every kind (docs/PERFORMANCE.md has the figures).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench --quiet --bench datagen

if ! command -v fio >/dev/null 2>&1; then
  echo "bench-datagen: installing fio (apt-get) for the reference" >&2
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fio; } >/tmp/sai3-fio-install.log 2>&1 ||
    { echo "bench-datagen: apt-get install fio failed; see /tmp/sai3-fio-install.log" >&2; exit 1; }
fi
fio_gen() { # label, extra fio options
  local label=$1; shift
  fio --name=gen --ioengine=null --rw=write --bs=1M --size=16G --numjobs=1 --refill_buffers=1 \
      --output-format=json "$@" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
rate = j["write"]["bw_bytes"] / 1e9
cpu = j["usr_cpu"] + j["sys_cpu"]
print(f"{sys.argv[1]:<44} {rate:>7.2f} GB/s  {cpu:>5.0f} % of one core")' "$label"
}
fio_gen "reference: fio random buffers"
fio_gen "reference: fio compress 50 %" --buffer_compress_percentage=50 --buffer_compress_chunk=4k
fio_gen "reference: fio dedupe 75 %, compress 50 %" --dedupe_percentage=75 --buffer_compress_percentage=50 --buffer_compress_chunk=4k
