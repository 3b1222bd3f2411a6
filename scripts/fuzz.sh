#!/usr/bin/env bash
# The fuzz targets of issue 11 (fuzz/, cargo-fuzz and libFuzzer; fuzz/README.md says what
# each covers and what they found), each run for a bounded time: the last step of
# scripts/test.sh.
#
#   scripts/fuzz.sh [TARGET...]      every target (or those named), FUZZ_SECONDS each (20)
#
# Builds every target once (nightly, AddressSanitizer, into fuzz/target), then runs each
# from a scratch copy of its checked-in seed corpus (fuzz/corpus/TARGET): what libFuzzer
# adds goes to the copy, so the checked-in corpus does not grow in CI. A crash, abort,
# panic, sanitizer report, timeout (-timeout) or memory blow-up (-rss_limit_mb, and
# -malloc_limit_mb for a single allocation) fails the run and prints the reproducer's path;
# replay it with `fuzz/target/<host>/release/TARGET REPRODUCER` (or `cargo +nightly fuzz run
# TARGET REPRODUCER`).
#
# Without a nightly toolchain or cargo-fuzz (both come from rustup/cargo, not apt), every
# target is SKIPPED, saying so, and the script exits 0. Logs: target/fuzz-logs/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH="$HOME/.cargo/bin:$PATH"

seconds=${FUZZ_SECONDS:-20}
all=(mjpeg image_reader intrinsics layout capture)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

say() { echo "fuzz: $*"; }

if ! cargo +nightly --version >/dev/null 2>&1; then
  say "SKIPPED ${targets[*]}: no nightly toolchain (cargo +nightly), which cargo-fuzz needs; install one with rustup"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  say "SKIPPED ${targets[*]}: cargo-fuzz is not installed (cargo install cargo-fuzz)"
  exit 0
fi

logs=target/fuzz-logs
scratch=$(mktemp -d "${TMPDIR:-/tmp}/framekeep-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$logs"
host=$(rustc -vV | sed -n 's/^host: //p')
started=$SECONDS

say "building ${targets[*]} (nightly, AddressSanitizer, fuzz/target)"
if ! cargo +nightly fuzz build --codegen-units 16 >"$logs/build.log" 2>&1; then
  tail -30 "$logs/build.log"
  say "FAILED: the targets did not build (log: $logs/build.log)"
  exit 1
fi
say "built in $((SECONDS - started)) s"

failed=0
summary=()
for t in "${targets[@]}"; do
  bin=fuzz/target/$host/release/$t
  corpus=$scratch/corpus/$t
  artifacts=$logs/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  if [ -d "fuzz/corpus/$t" ]; then cp -R "fuzz/corpus/$t/." "$corpus/"; fi
  log=$logs/$t.log
  t0=$SECONDS
  rc=0
  # allocator_may_return_null: framekeep's fallible allocations turn a refused malloc
  # into a typed error; libFuzzer's -malloc_limit_mb still reports any single
  # allocation above 2 GB as a finding (nothing here may ask for that much).
  ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    timeout --signal=KILL $((seconds + 120)) "$bin" "$corpus" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -max_len=16384 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    say "$t: ok, ${execs:-?} runs in $((SECONDS - t0)) s"
    summary+=("ok      $t: ${execs:-?} runs, $((SECONDS - t0)) s")
  else
    failed=1
    grep -E -m1 -A25 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|panicked at|^==[0-9]+== ?ERROR' "$log" | head -40
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    say "$t: FAILED (exit status $rc; log: $log)"
    say "$t: reproducer: ${repro:-none written (see the log)}"
    summary+=("FAILED  $t: reproducer ${repro:-none}, log $log")
  fi
done

say "summary ($((SECONDS - started)) s):"
for line in "${summary[@]}"; do echo "  $line"; done
exit "$failed"
