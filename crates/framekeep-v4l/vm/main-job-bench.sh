#!/usr/bin/env bash
# main-job-bench.sh: the main job (capture → BGR) against the programs a user would pick
# instead, inside one vivid VM run (so ratios are fair): steady-state CPU per frame and
# context switches per frame, capturing YUYV from vivid and converting every frame to BGR.
#   crates/framekeep-v4l/vm/main-job-bench.sh [RUNS] [FRAMES] [SKIP] [SIZES]
# RUNS (3) rounds per size, each program once per round in rotated order; each program's
# threads are sampled from /proc SKIP (5) seconds after its start and again FRAMES (100)
# frames later (at the size's rate), so start-up and teardown stay out; SIZES defaults
# to "640x480:25,1280x720:12.5" (vivid's top rates at those sizes).
# Programs:
#   framekeep  framekeep view DEVICE --headless (snapshots effectively off: one, at frame 0)
#   gstreamer  gst-launch-1.0 v4l2src ! YUY2 caps ! videoconvert ! video/x-raw,format=BGR ! fakesink
#   opencv     opencv_read.cpp (built here with g++ against Debian's libopencv): VideoCapture
#              (CAP_V4L2), YUYV, CAP_PROP_CONVERT_RGB=1, read loop
# FRAMEKEEP_BENCH_EXTRA="name=COMMAND;name=COMMAND" adds programs (same placeholders as
# framekeep-vivid bench-job; leading VAR=value words set the environment), and
# FRAMEKEEP_BENCH_FILES="FILE FILE" copies the files they need into the VM at their own
# paths, with their shared libraries. The VM defaults to 2 vCPUs and 3 GiB (OpenCV's
# libraries go into the initramfs), plain emulation: with "-icount shift=0" this VM did not
# finish booting in 10 minutes (FRAMEKEEP_VIVID_QEMU_ARGS sets qemu options). Guest CPU
# time includes time a vCPU lost to host load, hence the rotated order and the ratios
# within each run.
# GStreamer is only for benchmarks, so it is installed here when missing (not by setup.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
runs=${1:-3}
frames=${2:-100}
skip=${3:-5}
sizes=${4:-640x480:25,1280x720:12.5}

cargo build --release -p framekeep-v4l --features testing --bin framekeep-vivid
cargo build --release -p framekeep-cli --bin framekeep
target="${CARGO_TARGET_DIR:-target}/release"
bin=$(readlink -f "$target/framekeep-vivid")
job=$(readlink -f "$target/framekeep")

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
need=()
command -v g++ >/dev/null || need+=(g++)
pkg-config --exists opencv4 2>/dev/null || need+=(libopencv-dev)
gst_pkgs=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
gst_plugins=/usr/lib/x86_64-linux-gnu/gstreamer-1.0
# v4l2src, videoconvert (GStreamer 1.22: videoconvertscale), fakesink.
gst_files=(/usr/bin/gst-launch-1.0 "$gst_plugins/libgstvideo4linux2.so" "$gst_plugins/libgstvideoconvertscale.so" "$gst_plugins/libgstcoreelements.so")
for f in "${gst_files[@]}"; do [ -e "$f" ] || { need+=("${gst_pkgs[@]}"); break; }; done
if [ ${#need[@]} -gt 0 ]; then
  echo "main-job-bench: installing ${need[*]}" >&2
  # shellcheck disable=SC2086 # $sudo is empty or a command with its option
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The OpenCV peer, built against the same libopencv the main job links.
ocv="$target/opencv_read"
if [ ! -x "$ocv" ] || [ "$here/opencv_read.cpp" -nt "$ocv" ]; then
  # shellcheck disable=SC2046 # pkg-config prints a list of options
  g++ -O2 -o "$ocv" "$here/opencv_read.cpp" $(pkg-config --cflags opencv4) -lopencv_videoio -lopencv_core
fi
ocv=$(readlink -f "$ocv")

vm_files=(-l "$job" -l "$ocv")
for f in "${gst_files[@]}"; do vm_files+=(-l "$f"); done
for f in ${FRAMEKEEP_BENCH_FILES:-}; do vm_files+=(-l "$f"); done

jobs=(
  "framekeep=$job view {dev} --format YUYV --size {w}x{h} --fps {fps_int} --headless --snapshot-dir /tmp/snapshots --snapshot-every 1000000000 --frames {frames}"
  "gstreamer=/usr/bin/gst-launch-1.0 -q v4l2src device={dev} num-buffers={frames} ! video/x-raw,format=YUY2,width={w},height={h},framerate={fps_frac} ! videoconvert ! video/x-raw,format=BGR ! fakesink"
  "opencv=$ocv {dev} {w} {h} {fps} {frames}"
)
IFS=';' read -r -a extra <<<"${FRAMEKEEP_BENCH_EXTRA:-}"
for e in "${extra[@]}"; do [ -n "$e" ] && jobs+=("$e"); done

export FRAMEKEEP_VIVID_MEM=${FRAMEKEEP_VIVID_MEM:-3072}
export FRAMEKEEP_VIVID_SMP=${FRAMEKEEP_VIVID_SMP:-2}
export FRAMEKEEP_VIVID_QEMU_ARGS=${FRAMEKEEP_VIVID_QEMU_ARGS-}
# ~300 MiB of libraries: inflating a compressed initramfs takes the emulated kernel minutes.
export FRAMEKEEP_VIVID_COMPRESS=${FRAMEKEEP_VIVID_COMPRESS:-cat}
export FRAMEKEEP_VIVID_STRIP=${FRAMEKEEP_VIVID_STRIP-1}
echo "main-job-bench: $FRAMEKEEP_VIVID_SMP vCPUs, qemu args '${FRAMEKEEP_VIVID_QEMU_ARGS}', host load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec "$here/vivid-vm.sh" -t "${FRAMEKEEP_BENCH_TIMEOUT:-3600}" "${vm_files[@]}" -- \
  "$bin" bench-job /dev/video0 "$runs" "$skip" "$frames" "$sizes" -- "${jobs[@]}"
