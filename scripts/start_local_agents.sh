#!/usr/bin/env bash
# scripts/start_local_agents.sh N [BASE_PORT]  — start N sai3 agents on 127.0.0.1:BASE_PORT.. (default 7761),
#   the shape the seed's examples expect (local_test_2agents.yaml uses 127.0.0.1:7761 and :7762).
# scripts/start_local_agents.sh stop           — stop the agents this script started.
# Logs: /tmp/sai3-agents/agent-PORT.log; PIDs: /tmp/sai3-agents/pids. Uses ${CARGO_TARGET_DIR:-target}/release/sai3
# (built when missing) or $SAI3_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
state=/tmp/sai3-agents
mkdir -p "$state"

if [[ "${1:-}" == "stop" ]]; then
  if [[ -f "$state/pids" ]]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$state/pids"
    rm -f "$state/pids"
    echo "agents stopped"
  else
    echo "no agents started by this script"
  fi
  exit 0
fi

n="${1:-2}"
base="${2:-7761}"
[[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 ]] || { echo "usage: $0 N [BASE_PORT] | stop" >&2; exit 2; }
bin="${SAI3_BIN:-${CARGO_TARGET_DIR:-target}/release/sai3}"
if [[ ! -x "$bin" ]]; then
  echo "building $bin ..." >&2
  cargo build --release --quiet
fi
for ((i = 0; i < n; i++)); do
  port=$((base + i))
  log="$state/agent-$port.log"
  nohup "$bin" agent --listen "127.0.0.1:$port" --id "local-$port" >"$log" 2>&1 &
  echo $! >>"$state/pids"
done
# Wait until each one prints its listening line (readiness, not a fixed sleep).
for ((i = 0; i < n; i++)); do
  port=$((base + i))
  log="$state/agent-$port.log"
  for _ in $(seq 1 100); do
    grep -q "listening" "$log" 2>/dev/null && break
    sleep 0.1
  done
  if grep -q "listening" "$log"; then
    grep -m1 listening "$log"
  else
    echo "agent on port $port did not start; see $log" >&2
    cat "$log" >&2
    exit 1
  fi
done
echo "stop them with: $0 stop"
