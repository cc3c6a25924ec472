#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs and starts the loopback testbed
# (S3, Azure, GCS, sshd), runs every test against it, and stops what it started.
# SAI3_SKIP_TESTBED=1 runs without the servers (backend tests then say they were skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SAI3_SKIP_TESTBED:-0}" != "1" ] && [ -x scripts/testbed ]; then
  scripts/testbed install
  scripts/testbed start
  trap 'scripts/testbed stop || true' EXIT
  eval "$(scripts/testbed env)"
  export SAI3_REQUIRE_TESTBED=1
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

cargo nextest run --no-fail-fast "$@"
