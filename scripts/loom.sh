#!/usr/bin/env bash
# The loom models of framekeep-core's lock-free code (SPEC.md, "How the
# concurrency is checked"): the crate built with `--cfg loom`, in its own
# target dir (target/loom), release mode (loom explores thousands of
# executions per model), and only the models run (`loom_models::` in their path).
# Each model prints how many executions it explored, its preemption bound and
# its time. LOOM_MAX_PREEMPTIONS overrides every model's bound (the models
# fix their own otherwise).
#
#   scripts/loom.sh              run every model
#   scripts/loom.sh pool::loom_models   run the models whose path contains a filter
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

filter=${1:-loom_models::}
started=$(date +%s)
RUSTFLAGS="--cfg loom" cargo test --release --quiet -p framekeep-core --lib \
    --target-dir target/loom -- "$filter" --nocapture --test-threads 1
echo "loom: done in $(( $(date +%s) - started ))s (build included)"
