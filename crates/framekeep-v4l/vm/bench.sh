#!/usr/bin/env bash
# bench.sh: framekeep-v4l's capture benchmark inside one vivid VM run (so ratios are fair):
# CPU ms per frame at 1280x720 YUYV (300 frames in interleaved segments), for framekeep
# zero-copy capture into a null consumer, a bare `v4l` crate mmap loop, and v4l2-ctl.
#   crates/framekeep-v4l/vm/bench.sh [FRAMES] [SEGMENTS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
cargo build --release -p framekeep-v4l --bin framekeep-vivid
bin="${CARGO_TARGET_DIR:-target}/release/framekeep-vivid"
exec "$here/vivid-vm.sh" -t 600 -- "$bin" bench /dev/video0 "${1:-300}" "${2:-6}"
