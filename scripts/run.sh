#!/usr/bin/env bash
# The main job: capture -> convert -> display. Uses /dev/video0 when a camera is
# there, the embedded synthetic source otherwise. Extra arguments go to the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec cargo run --quiet --release --example capture_display -- "$@"
