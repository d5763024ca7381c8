#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ (clang, ASan+UBSan) in
# build-fuzz and runs each for a bounded time from its seed corpus
# (tests/fuzz/corpus/<harness>/). Fails on any crash, sanitizer report,
# broken invariant, timeout or out-of-memory, leaving the input that caused
# it in the artifact directory it prints. Prints per harness: runs, seconds,
# new corpus entries, crashes.
#
#   tests/fuzz.sh [harness...]            all harnesses by default
#   DROVER_FUZZ_SECONDS=600 tests/fuzz.sh text_fuzzer
#   tests/fuzz.sh --merge DIR [harness...]
#       minimises DIR/<harness>/ (the new entries a run kept, see
#       DROVER_FUZZ_KEEP) into the seed corpus (-set_cover_merge=1 on edges):
#       only inputs that reach new code are copied. Review before committing.
#
# Environment:
#   DROVER_FUZZ_SECONDS   per harness (default 20)
#   DROVER_FUZZ_JOBS      harnesses run at once (default: nproc)
#   DROVER_FUZZ_BUILD_DIR build directory (default <repo>/build-fuzz)
#   DROVER_FUZZ_KEEP      a directory: keep each run's new corpus entries
#                         there (<dir>/<harness>/) instead of deleting them
#   CXX_FUZZ              the clang to use (default clang++-14)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DROVER_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_EACH=${DROVER_FUZZ_SECONDS:-20}
JOBS=${DROVER_FUZZ_JOBS:-$(nproc)}
CXX_FUZZ=${CXX_FUZZ:-clang++-14}
CORPUS=$ROOT/tests/fuzz/corpus

MERGE_FROM=""
if [[ "${1:-}" == "--merge" ]]; then
  MERGE_FROM=$(realpath "${2:?--merge needs a directory}")
  shift 2
fi

# Every harness has a seed corpus directory (drover_fuzzer() checks it).
if [[ $# -gt 0 ]]; then
  HARNESSES=("$@")
else
  mapfile -t HARNESSES < <(find "$CORPUS" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
fi
for h in "${HARNESSES[@]}"; do
  [[ -d "$CORPUS/$h" ]] || { echo "fuzz.sh: unknown harness $h (no $CORPUS/$h)" >&2; exit 2; }
done

command -v "$CXX_FUZZ" >/dev/null || {
  echo "fuzz.sh: $CXX_FUZZ not found (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 1
}

CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_FUZZ" -DDROVER_FUZZ=ON
  -DDROVER_WERROR="${DROVER_WERROR:-OFF}"
  # -O1 as the sanitizers advise; line tables for file:line in reports.
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG")
if command -v ccache >/dev/null; then
  CMAKE_ARGS+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$ROOT" -B "$BUILD" "${CMAKE_ARGS[@]}" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target "${HARNESSES[@]}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

if [[ -n "$MERGE_FROM" ]]; then
  for h in "${HARNESSES[@]}"; do
    [[ -d "$MERGE_FROM/$h" ]] || continue
    before=$(find "$CORPUS/$h" -type f | wc -l)
    # Edges only, greedy set cover: the fewest inputs that reach every edge
    # (counting hit counts too keeps several times as many files).
    "$BUILD/bin/$h" -set_cover_merge=1 -use_counters=0 -use_cmp=0 "$CORPUS/$h" "$MERGE_FROM/$h" >/dev/null 2>&1
    echo "$h: $before -> $(find "$CORPUS/$h" -type f | wc -l) seed files"
  done
  exit 0
fi

# Longest input per harness: room for what each format needs (a report with
# every outcome; a config with every field), small enough to stay fast.
max_len() {
  case "$1" in
    versions_fuzzer) echo 512 ;;
    schedule_fuzzer) echo 2048 ;;
    *) echo 4096 ;;
  esac
}

WORK=$(mktemp -d /tmp/drover-fuzz.XXXXXX)
ARTIFACTS=$WORK/artifacts
mkdir -p "$ARTIFACTS"
trap 'rm -rf "$WORK"' EXIT

run_one() {
  local h=$1
  mkdir -p "$WORK/corpus/$h"
  # New entries go to the first directory (a scratch one); the seeds are read only.
  "$BUILD/bin/$h" -max_total_time="$SECONDS_EACH" -max_len="$(max_len "$h")" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$h-" \
    "$WORK/corpus/$h" "$CORPUS/$h" >"$WORK/$h.log" 2>&1
}

FAILED=()
pids=()
names=()
start=$SECONDS
for h in "${HARNESSES[@]}"; do
  echo "=== fuzz $h (${SECONDS_EACH}s)"
  run_one "$h" &
  pids+=($!)
  names+=("$h")
  if ((${#pids[@]} >= JOBS)); then
    wait "${pids[0]}" || FAILED+=("${names[0]}")
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || FAILED+=("${names[$i]}")
done

printf '%-24s %12s %8s %12s %8s\n' harness runs seconds new-entries crashes
for h in "${HARNESSES[@]}"; do
  log=$WORK/$h.log
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  new=$(find "$WORK/corpus/$h" -type f | wc -l)
  crashes=$(find "$ARTIFACTS" -name "$h-*" -type f | wc -l)
  printf '%-24s %12s %8s %12s %8s\n' "$h" "${runs:-?}" "${secs:-?}" "$new" "$crashes"
done

if [[ -n "${DROVER_FUZZ_KEEP:-}" ]]; then
  mkdir -p "$DROVER_FUZZ_KEEP"
  cp -r "$WORK/corpus/." "$DROVER_FUZZ_KEEP/"
fi

if ((${#FAILED[@]})); then
  for h in "${FAILED[@]}"; do
    echo "=== $h FAILED; its output (last 60 lines):" >&2
    tail -60 "$WORK/$h.log" >&2
  done
  # Keep what reproduces it: <binary> <artifact> replays one input.
  KEEP_ARTIFACTS=${DROVER_FUZZ_ARTIFACTS:-$ROOT/build-fuzz-artifacts}
  mkdir -p "$KEEP_ARTIFACTS"
  cp "$ARTIFACTS"/* "$KEEP_ARTIFACTS"/ 2>/dev/null || true
  echo "fuzz.sh: failed: ${FAILED[*]}; inputs in $KEEP_ARTIFACTS (replay: $BUILD/bin/<harness> <file>)" >&2
  exit 1
fi
echo "fuzz.sh: ${#HARNESSES[@]} harnesses, ${SECONDS_EACH}s each, no crash ($((SECONDS - start))s)"
