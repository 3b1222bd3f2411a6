#!/usr/bin/env bash
# bench.sh: framekeep-v4l's capture benchmark inside one vivid VM run (so ratios are fair):
# CPU ms per frame at 1280x720 YUYV (300 frames in interleaved segments), for framekeep
# zero-copy capture into a null consumer, a bare `v4l` crate mmap loop, v4l2-ctl and
# GStreamer (`gst-launch-1.0 v4l2src ! fakesink`).
#   crates/framekeep-v4l/vm/bench.sh [FRAMES] [SEGMENTS]
# GStreamer is only for this benchmark, so it is installed here (when missing and we can)
# rather than by scripts/setup.sh; without it the other methods still run and the output
# says why GStreamer was skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
# The program runs the conformance cases too, so it needs the test kits (feature `testing`).
cargo build --release -p framekeep-v4l --features testing --bin framekeep-vivid
bin="${CARGO_TARGET_DIR:-target}/release/framekeep-vivid"

gst_pkgs=(gstreamer1.0-tools gstreamer1.0-plugins-good)
gst_plugins=/usr/lib/x86_64-linux-gnu/gstreamer-1.0
# v4l2src and fakesink; the path is also what framekeep-vivid points GStreamer at.
gst_files=(/usr/bin/gst-launch-1.0 "$gst_plugins/libgstvideo4linux2.so" "$gst_plugins/libgstcoreelements.so")
have_gst() { for f in "${gst_files[@]}"; do [ -e "$f" ] || return 1; done; }
if ! have_gst; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "bench: installing ${gst_pkgs[*]} for the GStreamer method" >&2
  # shellcheck disable=SC2086 # $sudo is empty or a command with its option
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${gst_pkgs[@]}" >/dev/null ||
    echo "bench: could not install ${gst_pkgs[*]}; GStreamer will be skipped" >&2
fi
vm_files=()
if have_gst; then
  # Copied into the VM at their own paths, each with its shared libraries.
  for f in "${gst_files[@]}"; do vm_files+=(-l "$f"); done
fi
exec "$here/vivid-vm.sh" -t 600 "${vm_files[@]}" -- "$bin" bench /dev/video0 "${1:-300}" "${2:-6}"
