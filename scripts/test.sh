#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs and starts the loopback testbed
# (S3, Azure, GCS, sshd), runs every test against it, and stops what it started. Before that,
# `cargo fmt --check` and `cargo clippy --all-targets -- -D warnings`.
# SAI3_SKIP_TESTBED=1 runs without the servers (backend tests then say they were skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

# Code health first (fails fast): formatting and every clippy lint, tests and benches included.
# SAI3_SKIP_LINT=1 skips both (for a quick local rerun of the tests).
if [ "${SAI3_SKIP_LINT:-0}" != "1" ]; then
  cargo fmt --check
  cargo clippy --all-targets --locked -- -D warnings
fi

if [ "${SAI3_SKIP_TESTBED:-0}" != "1" ] && [ -x scripts/testbed ]; then
  scripts/testbed install
  scripts/testbed start
  trap 'scripts/testbed stop || true' EXIT
  eval "$(scripts/testbed env)"
  export SAI3_REQUIRE_TESTBED=1
fi

# The Kubernetes manifests against the API schemas, and their cross-file values (a few seconds).
scripts/check-kubernetes

# The suite tests the binary that ships (docs/INSTALL.md): statically linked, built for the explicit
# target so that build scripts and proc macros stay dynamic. The container test (tests/container.rs)
# puts this very binary into an image, so it needs no second build. SAI3_TEST_STATIC=0: host default.
if [ "${SAI3_TEST_STATIC:-1}" = "1" ]; then
  CARGO_BUILD_TARGET="$(rustc -vV | sed -n 's/^host: //p')"
  export CARGO_BUILD_TARGET
  case "${RUSTFLAGS:-}" in *crt-static*) ;; *) export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" ;; esac
fi

# One build, then every test. cargo-nextest is used when installed (it runs test binaries in
# parallel processes); plain `cargo test` otherwise, which saves CI the minutes of installing it.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
