#!/bin/sh
# Runs inside the vivid VM for serve-bench.sh: mounts the tmpfs iceoryx2's shared memory
# lives in (/dev/shm, which the VM's init does not mount), then runs its arguments.
busybox mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 shm /dev/shm || exit 1
exec "$@"
