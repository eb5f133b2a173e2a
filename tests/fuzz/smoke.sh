#!/usr/bin/env bash
# Fuzz smoke run: builds every target of tests/fuzz and runs each one for a
# bounded time, starting from the committed seed corpus. Fails on the first
# crash, leak, timeout or out-of-memory (libFuzzer's exit status), leaving
# the input in tests/fuzz/artifacts/<target>/.
#
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_TARGETS   space-separated targets (default: all)
#   FUZZ_SANITIZER address (default) or none
#
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass the
# sanitizer and coverage flags it needs. New corpus entries go to a
# temporary folder, so the committed corpus stays as it is.
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${FUZZ_SECONDS:-20}
san=${FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! command -v cargo-fuzz >/dev/null; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

fuzz=(cargo fuzz)
dir=(--fuzz-dir tests/fuzz)
start=$(date +%s)
echo "== cargo fuzz build (sanitizer: $san)"
if ! "${fuzz[@]}" build "${dir[@]}" -s "$san"; then
  if [ "$san" = address ]; then
    echo "== the address sanitizer build failed; building without a sanitizer"
    san=none
    "${fuzz[@]}" build "${dir[@]}" -s "$san"
  else
    exit 1
  fi
fi
built=$(date +%s)
echo "== built in $((built - start)) s"

targets=${FUZZ_TARGETS:-$("${fuzz[@]}" list "${dir[@]}")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
summary=()
for t in $targets; do
  mkdir -p "$work/$t"
  log="$work/$t.log"
  echo "== fuzz $t for ${secs} s"
  status=0
  "${fuzz[@]}" run "${dir[@]}" -s "$san" "$t" "$work/$t" "tests/fuzz/corpus/$t" -- \
    -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    echo "FUZZ CRASH: target $t (exit $status); the input is in tests/fuzz/artifacts/$t/"
    exit 1
  fi
  summary+=("$t: ${execs:-?} inputs in ${secs} s")
done
echo "== fuzz smoke passed ($(( $(date +%s) - start )) s in all, build $((built - start)) s)"
printf '   %s\n' "${summary[@]}"
