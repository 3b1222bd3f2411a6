#!/bin/sh
# Runs inside the vivid VM (tests/serve.rs, `serve_a_real_v4l2_camera_in_a_vivid_vm`):
# `framekeep serve /dev/video0` (USERPTR: vivid's vmalloc queue takes user memory) with two
# subscribers in the same VM: `framekeep view ipc:vm/cam --headless` and `framekeep snap`.
# vivid paints 100% red without its text overlay; the first PNG snap wrote is printed in
# base64 between markers for the test to check its pixels. Then `framekeep serve
# /dev/video1`, a vivid instance whose dma-contig queue refuses user memory. Prints each program's output
# between `=== NAME` lines and exits non-zero if any program failed.
#   serve-vivid.sh FRAMEKEEP FRAMES
fk=$1
frames=$2
# iceoryx2's shared memory: POSIX shm in /dev/shm, which the VM's init does not mount.
busybox mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 shm /dev/shm || exit 1
v4l2-ctl -d /dev/video0 -c test_pattern=7 -c osd_text_mode=2 || exit 1
export FRAMEKEEP_DOMAIN=vm
"$fk" serve /dev/video0 --name vm/cam --frames "$frames" --wait-subscribers 2 >/tmp/serve.out 2>&1 &
serve=$!
"$fk" view ipc:vm/cam --headless --fps 1000 --snapshot-every 1000 --snapshot-dir /tmp/view >/tmp/view.out 2>&1 &
view=$!
"$fk" snap vm/cam -n 3 -o /tmp/snaps --timeout 120 >/tmp/snap.out 2>&1
snap_rc=$?
wait $serve
serve_rc=$?
wait $view
view_rc=$?
# /dev/video1 (dma-contig) refuses user memory: its mmap buffers are copied into the loans.
"$fk" serve /dev/video1 --name vm/copy --frames 10 >/tmp/copy.out 2>&1
copy_rc=$?
for p in serve view snap copy; do
  echo "=== $p"
  cat /tmp/$p.out
done
echo "=== exit serve $serve_rc view $view_rc snap $snap_rc copy $copy_rc"
first=$(ls /tmp/snaps/*.png 2>/dev/null | busybox head -n 1)
if [ -n "$first" ]; then
  echo "=== png $first"
  busybox base64 "$first"
  echo "=== end png"
fi
[ $serve_rc = 0 ] && [ $view_rc = 0 ] && [ $snap_rc = 0 ] && [ $copy_rc = 0 ]
