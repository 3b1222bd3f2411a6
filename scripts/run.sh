#!/usr/bin/env bash
# The main job, `framekeep view`: capture -> convert -> display. Uses the first
# camera when there is one, the embedded synthetic source otherwise. Extra
# arguments go to `framekeep view` (./scripts/run.sh --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec cargo run --quiet --release -p framekeep-cli --bin framekeep -- view "$@"
