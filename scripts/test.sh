#!/usr/bin/env bash
# Every test: formatting, lints, unit, property, integration, GUI (under Xvfb)
# and V4L2 (vivid VM) tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --quiet --workspace --all-targets -- -D warnings
# No module of any crate imports a module that imports it back.
python3 scripts/check-module-cycles.py
# Documented with every feature, so the test kits' docs are checked too.
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps --workspace --all-features
# The process-level tests run the example binaries; `cargo test` builds examples
# only as test harnesses, so build them first (same packages, same features).
cargo build --quiet --workspace --examples
FRAMEKEEP_EXAMPLES_BUILT=1 cargo test --workspace --all-targets
cargo test --workspace --doc
# The loom models of the core's lock-free code (SPEC 13); a few minutes on a fresh target dir.
./scripts/loom.sh
./scripts/soundness.sh
# The fuzz targets of issue 11, about 20 s each (fuzz/README.md); skipped without nightly.
./scripts/fuzz.sh
