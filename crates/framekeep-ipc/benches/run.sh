#!/usr/bin/env bash
# framekeep-ipc's benchmark with every baseline: installs GStreamer's shm elements
# (gstreamer1.0-plugins-bad: shmsink, shmsrc) if they are missing, then runs the bench
# binary, which prints its table and ratios. Not part of the test suite.
# Environment: FRAMEKEEP_BENCH_ROUNDS (default 3), FRAMEKEEP_BENCH_SECONDS (window,
# default 3), FRAMEKEEP_BENCH_PIN=0 to let the processes run on any CPU.
set -euo pipefail
cd "$(dirname "$0")/../../.."
if ! gst-inspect-1.0 shmsink >/dev/null 2>&1; then
  apt-get install -y -qq gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-bad >/dev/null
fi
cargo bench -p framekeep-ipc --bench ipc
