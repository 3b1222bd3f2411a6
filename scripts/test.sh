#!/usr/bin/env bash
# Every test: formatting, lints, unit, property, integration, GUI (under Xvfb)
# and V4L2 (vivid VM) tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --quiet --workspace --all-targets -- -D warnings
# --all-targets builds the examples that the process-level tests run.
FRAMEKEEP_EXAMPLES_BUILT=1 cargo test --workspace --all-targets
cargo test --workspace --doc
