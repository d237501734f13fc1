#!/usr/bin/env bash
# Runs the whole suite with cargo-nextest when it is installed (one process per test), else
# with cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final
  # nextest does not run doc tests.
  exec cargo test --workspace --doc
else
  exec cargo test --workspace --no-fail-fast
fi
