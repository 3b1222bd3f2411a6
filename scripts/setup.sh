#!/usr/bin/env bash
# Installs what framekeep needs on Debian 12 and builds nothing else.
# Idempotent and silent when everything is already there.
set -euo pipefail

APT_PACKAGES=(
  # OpenCV 4.6 and what the opencv crate's binding generator needs.
  libopencv-dev clang libclang-dev
  # The strict JPEG decoder of framekeep-cv (csrc/strict_jpeg.c) builds against libjpeg-turbo.
  libjpeg62-turbo-dev
  # GUI tests: a virtual X server, a key sender, screenshots.
  xvfb xdotool x11-apps imagemagick
  # Checking that the files we write load in OpenCV's own FileStorage.
  python3 python3-opencv
  # The vivid VM harness for V4L2 tests.
  qemu-system-x86 busybox-static v4l-utils kmod cpio
  # Used by the scripts themselves.
  pkg-config ca-certificates
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: no Rust toolchain (cargo) found; install Rust 1.85 or newer with rustup first." >&2
    exit 1
  fi
fi
