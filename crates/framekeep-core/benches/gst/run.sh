#!/usr/bin/env bash
# GStreamer's buffer pool against framekeep's, on the same machine, interleaved: builds
# gst_pool.c (needs libgstreamer1.0-dev, installed here if missing) and the pool bench,
# then runs them alternately ROUNDS times (default 3). Not part of the test suite.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
rounds="${1:-3}"
if ! pkg-config --exists gstreamer-1.0; then
  apt-get install -y -qq libgstreamer1.0-dev >/dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/gst_pool" "$here/gst_pool.c" $(pkg-config --cflags --libs gstreamer-1.0) -lpthread
cd "$root"
bench="$(cargo bench -p framekeep-core --bench pool --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "pool" and m.get("executable"):
        print(m["executable"])' | tail -1)"
for i in $(seq "$rounds"); do
  echo "-- round $i ($(cut -d' ' -f1-3 /proc/loadavg) load)"
  "$work/gst_pool"
  "$bench" --bench --summary-only | grep -E '^[12] thread\(s\): framekeep +[0-9]'
done
