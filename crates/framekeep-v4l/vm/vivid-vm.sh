#!/usr/bin/env bash
# vivid-vm.sh: run a program inside a small Linux VM whose kernel has the `vivid` virtual
# video driver loaded, so that /dev/video0 is a real V4L2 capture device (driven by the
# kernel's own V4L2 and videobuf2 code). framekeep's tests use it instead of a camera.
#
#   vivid-vm.sh [-o "vivid module options"] [-t SECONDS] [-f FILE]... [-l FILE]... -- PROGRAM [ARGS...]
#
# PROGRAM (a host path) and its shared libraries are copied into an initramfs together with
# busybox and v4l2-ctl; files given with -f land in /data; files given with -l (other
# programs PROGRAM runs, plugins it loads) keep their host path and bring their shared
# libraries. The VM boots the Debian kernel
# package (downloaded once with `apt-get download` into $FRAMEKEEP_VIVID_CACHE, default
# ~/.cache/framekeep-vivid) under qemu with software emulation (nested KVM hangs on some
# hosts; FRAMEKEEP_VIVID_ACCEL=kvm to try it), loads vivid, runs PROGRAM ARGS in /data,
# echoes its output and exits with PROGRAM's exit status. FRAMEKEEP_VIVID_SMP (default 2),
# FRAMEKEEP_VIVID_MEM (MiB, default 1024) and FRAMEKEEP_VIVID_QEMU_ARGS (extra qemu options,
# e.g. "-icount shift=0") tune the VM; FRAMEKEEP_VIVID_COMPRESS=cat skips compressing the
# initramfs and FRAMEKEEP_VIVID_STRIP=1 strips debug information from the copied programs
# (both for big program sets: the emulated kernel inflates hundreds of MiB slowly).
#
# Exit status: PROGRAM's; 124 when the VM did not finish in time; 77 when the VM cannot run
# here at all (qemu, busybox, v4l2-ctl, depmod or cpio missing — scripts/setup.sh installs
# them — or no kernel package can be fetched). Callers treat 77 as "skip".
set -euo pipefail
opts="n_devs=1 node_types=0x1"
timeout_s=240
files=()
libs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -o) opts="$2"; shift 2 ;;
    -t) timeout_s="$2"; shift 2 ;;
    -f) files+=("$2"); shift 2 ;;
    -l) libs+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "vivid-vm: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: vivid-vm.sh [-o OPTS] [-t S] [-f FILE]... [-l FILE]... -- PROGRAM [ARGS...]" >&2; exit 2; }
prog=$(readlink -f "$1"); shift
[ -x "$prog" ] || { echo "vivid-vm: $prog is not an executable file" >&2; exit 2; }

skip() { echo "vivid-vm: SKIP: $*" >&2; exit 77; }
PATH="$PATH:/usr/sbin:/sbin"
missing=()
for t in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static v4l2-ctl:v4l-utils depmod:kmod cpio:cpio; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
[ ${#missing[@]} -eq 0 ] || skip "missing ${missing[*]} (run scripts/setup.sh, or apt-get install ${missing[*]})"
command -v apt-cache >/dev/null && command -v apt-get >/dev/null || skip "no apt to fetch a Debian kernel"

cache=${FRAMEKEEP_VIVID_CACHE:-$HOME/.cache/framekeep-vivid}
mkdir -p "$cache"
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}' || true)
[ -n "$pkg" ] || skip "apt knows no linux-image-amd64 (run apt-get update)"
kv=${pkg#linux-image-}
kdir="$cache/$kv"
(
  # One download even when several test processes start at once.
  flock 9
  if [ ! -f "$kdir/ok" ]; then
    rm -rf "$kdir"; mkdir -p "$kdir"
    if ! (cd "$kdir" && apt-get download "$pkg" >/dev/null 2>&1 && dpkg-deb -x ./*.deb tree && rm -f ./*.deb); then
      rm -rf "$kdir"; exit 77
    fi
    depmod -b "$kdir/tree" "$kv"
    touch "$kdir/ok"
  fi
) 9>"$cache/.lock" || skip "could not download $pkg with apt-get"
moddir="$kdir/tree/lib/modules/$kv"
grep -q "/vivid.ko:" "$moddir/modules.dep" || skip "kernel $kv has no vivid module"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp,data,mods,usr/bin}
cp "$(command -v busybox)" "$root/bin/busybox"
for a in sh mount ls cat insmod poweroff echo sleep dmesg time; do ln -s busybox "$root/bin/$a"; done
deps=$(grep "/vivid.ko:" "$moddir/modules.dep" | cut -d: -f2)
order=""
for m in $(printf '%s\n' $deps | tac) kernel/drivers/media/test-drivers/vivid/vivid.ko; do
  cp "$moddir/$m" "$root/mods/"; order="$order $(basename "$m")"
done
copy_with_libs() {
  cp "$1" "$2"
  # FRAMEKEEP_VIVID_STRIP=1: without debug information (less for the VM to load).
  if [ -n "${FRAMEKEEP_VIVID_STRIP:-}" ]; then strip --strip-debug "$2/$(basename "$1")" 2>/dev/null || true; fi
  for l in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$l")"; cp -Ln "$l" "$root$l" 2>/dev/null || true
  done
}
copy_with_libs "$(command -v v4l2-ctl)" "$root/usr/bin/"
copy_with_libs "$prog" "$root/data/"
for f in "${files[@]}"; do cp -r "$f" "$root/data/"; done
# At their own path, so that whatever looks for them there (a loader's default plugin
# directory, PATH) finds them without configuration.
for f in "${libs[@]}"; do
  f=$(readlink -f "$f")
  mkdir -p "$root$(dirname "$f")"; copy_with_libs "$f" "$root$(dirname "$f")/"
done
printf '%q ' "/data/$(basename "$prog")" "$@" > "$root/data/.cmd"
cat > "$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $order; do
  if [ \$m = vivid.ko ]; then insmod /mods/\$m $opts; else insmod /mods/\$m; fi || echo "vivid-vm: insmod \$m failed"
done
export PATH=/usr/bin:/bin HOME=/tmp RUST_BACKTRACE=1
cd /data
sh /data/.cmd
echo "FRAMEKEEP_VM_EXIT=\$?"
poweroff -f
INIT
chmod +x "$root/init"
# Compressed by default; FRAMEKEEP_VIVID_COMPRESS=cat leaves it as is: with hundreds of
# MiB of libraries the emulated kernel takes many minutes to inflate it.
# shellcheck disable=SC2086 # the setting is a command with its options
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | ${FRAMEKEEP_VIVID_COMPRESS:-gzip -1}) > "$work/initrd.gz"
accel=${FRAMEKEEP_VIVID_ACCEL:-tcg}
out="$work/console.log"
set +e
# shellcheck disable=SC2086 # FRAMEKEEP_VIVID_QEMU_ARGS is a list of options
timeout "$timeout_s" qemu-system-x86_64 -accel "$accel" -m "${FRAMEKEEP_VIVID_MEM:-1024}" -smp "${FRAMEKEEP_VIVID_SMP:-2}" ${FRAMEKEEP_VIVID_QEMU_ARGS:-} \
  -kernel "$kdir/tree/boot/vmlinuz-$kv" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 quiet loglevel=3" -nographic -no-reboot </dev/null 2>&1 | tee "$out" |
  sed -u -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1bc//g' -e 's/^Booting from ROM\.*//' |
  grep -a --line-buffered -v -E '^FRAMEKEEP_VM_EXIT=|^SeaBIOS|^iPXE|^Press Ctrl-B|^[[:space:]]*$'
qemu_rc=${PIPESTATUS[0]}
set -e
code=$(grep -a -o 'FRAMEKEEP_VM_EXIT=[0-9]*' "$out" | tail -1 | cut -d= -f2 || true)
if [ -z "$code" ]; then
  if [ "$qemu_rc" = 124 ]; then echo "vivid-vm: the VM did not finish within ${timeout_s}s" >&2; exit 124; fi
  if grep -a -q -i "could not initialize\|failed to initialize\|cannot allocate" "$out"; then skip "qemu cannot start here"; fi
  echo "vivid-vm: the VM ended without running the program (qemu exit $qemu_rc)" >&2; exit 1
fi
exit "$code"
