#!/usr/bin/env bash
# serve-bench.sh: CPU per frame of `framekeep serve` capturing YUYV from vivid and
# publishing every frame as a framekeep-ipc service, with USERPTR (the driver writes into
# the service's shared-memory samples, each dequeued frame is sent as it is: zero copy)
# against MMAP plus one copy per frame into a sample (`--memory mmap`), in one VM run (so
# the ratio is fair).
#   crates/framekeep-v4l/vm/serve-bench.sh [RUNS] [FRAMES] [SKIP] [SIZES]
# RUNS (3) rounds per size, both modes once per round in rotated order; every thread of
# serve is sampled from /proc SKIP (4) seconds after its start and again FRAMES (100) frames
# later (framekeep-vivid bench-job), so start-up and teardown stay out; SIZES defaults to
# "640x480:25,1280x720:12.5" (vivid's top rates at those sizes). serve runs with no
# subscriber: what is measured is capture → publish, the same sends in both modes.
# The VM has 2 vCPUs and 3 GiB (OpenCV's libraries go into the initramfs), plain emulation;
# guest CPU time includes time a vCPU lost to host load: compare within a run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
runs=${1:-3}
frames=${2:-100}
skip=${3:-4}
sizes=${4:-640x480:25,1280x720:12.5}

cargo build --release -p framekeep-v4l --features testing --bin framekeep-vivid
cargo build --release -p framekeep-cli --bin framekeep
target="${CARGO_TARGET_DIR:-target}/release"
bin=$(readlink -f "$target/framekeep-vivid")
job=$(readlink -f "$target/framekeep")

serve="FRAMEKEEP_DOMAIN=bench $job serve {dev} --format YUYV --size {w}x{h} --fps {fps_int} --frames {frames}"
jobs=(
  "userptr=$serve --name bench/userptr --memory userptr"
  "mmap+copy=$serve --name bench/mmap --memory mmap"
)

export FRAMEKEEP_VIVID_MEM=${FRAMEKEEP_VIVID_MEM:-3072}
export FRAMEKEEP_VIVID_SMP=${FRAMEKEEP_VIVID_SMP:-2}
export FRAMEKEEP_VIVID_QEMU_ARGS=${FRAMEKEEP_VIVID_QEMU_ARGS-}
# ~300 MiB of libraries: inflating a compressed initramfs takes the emulated kernel minutes.
export FRAMEKEEP_VIVID_COMPRESS=${FRAMEKEEP_VIVID_COMPRESS:-cat}
export FRAMEKEEP_VIVID_STRIP=${FRAMEKEEP_VIVID_STRIP-1}
echo "serve-bench: $FRAMEKEEP_VIVID_SMP vCPUs, qemu args '${FRAMEKEEP_VIVID_QEMU_ARGS}', host load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec "$here/vivid-vm.sh" -t "${FRAMEKEEP_BENCH_TIMEOUT:-3600}" -l "$bin" -l "$job" -- \
  "$here/serve-bench-vm.sh" "$bin" bench-job /dev/video0 "$runs" "$skip" "$frames" "$sizes" -- "${jobs[@]}"
