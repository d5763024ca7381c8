#!/usr/bin/env bash
# The test command: installs what is missing, builds, starts a throwaway
# PostgreSQL, runs every test through ctest, and stops PostgreSQL whatever
# happens. Exits non-zero on any failure.
#   tests/run.sh [ctest args...]     e.g. tests/run.sh -R api_integration
#
# Under CI=true (or DROVER_SANITIZERS=1 for a developer) the plain build runs
# the end-to-end and layering tests only, and it also:
#   - builds with clang, -DDROVER_SANITIZE=address,undefined and
#     -DDROVER_FUZZ=ON in build-asan and runs the unit and integration tests
#     there, once (ctest -L 'unit|integration');
#   - builds with -DDROVER_SANITIZE=thread in build-tsan only the tests of the
#     concurrent pieces (report batcher, query watchdog, channel cache,
#     updater daemon) and runs them (ctest -L tsan);
#   - builds the libFuzzer harnesses in that same build-asan tree and runs
#     each from its seed corpus for DROVER_FUZZ_SECONDS (default 20) under
#     ASan+UBSan (tests/fuzz.sh); skipped when ctest args narrow the run,
#     unless CI=true;
#   - makes warnings errors (-DDROVER_WERROR=ON) in every build;
#   - compiles with line tables only (-g1), the sanitizer builds at -O1.
# Each phase's time is printed at the end. ctest args apply to every phase.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
cd "$ROOT"

SANITIZERS=${DROVER_SANITIZERS:-0}
WERROR=OFF
if [[ "${CI:-}" == "true" ]]; then
  SANITIZERS=1
  WERROR=ON
fi
CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDROVER_WERROR=$WERROR)
# CI builds three trees from nothing. Line tables (-g1) keep file:line in
# stack traces and sanitizer reports at about half the compile time of full
# debug info; the sanitizer builds use -O1, the level their manuals advise,
# which again halves their compile time against -O2 (measured per file here:
# ASan -O2 -g 23.7 s, -O1 -g1 9.7 s).
# Always passed: the value is cached, and a developer's next plain run must
# not inherit CI's.
PLAIN_DEBUG=-g
if [[ "$SANITIZERS" == "1" ]]; then PLAIN_DEBUG=-g1; fi
PLAIN_FLAGS=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 $PLAIN_DEBUG -DNDEBUG")
# The plain tree of a sanitizer run runs no unit or integration test: it
# leaves them out of its build (half its objects).
if [[ "$SANITIZERS" == "1" ]]; then
  PLAIN_FLAGS+=(-DDROVER_ALL_TESTS_IN_ALL=OFF)
else
  PLAIN_FLAGS+=(-DDROVER_ALL_TESTS_IN_ALL=ON)
fi
SAN_FLAGS=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG")
# lld links the sanitizer trees' 70-odd programs at about a fifth of GNU
# ld's time (api_integration_test under ASan: 0.45 s against 2.6 s).
if command -v ld.lld >/dev/null; then
  SAN_FLAGS+=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld)
fi
# The sanitizer trees are unity builds (16 sources per compile): the
# headers (gRPC, protobuf, abseil, GoogleTest) are parsed once per batch,
# not once per file; drover_api and drover_store_pg compile in about half
# the CPU time. The plain tree stays file by file, so a missing #include
# still fails the build. Targets whose files clash are listed in
# CMakeLists.txt (UNITY_BUILD OFF).
SAN_FLAGS+=(-DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=16)
if command -v ccache >/dev/null; then
  CMAKE_ARGS+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
JOBS=$(nproc)

TIMES=()
phase_start() { PHASE=$1; PHASE_T0=$SECONDS; echo "=== $PHASE"; }
phase_end() {
  TIMES+=("$(printf '%-28s %4dm%02ds' "$PHASE" $(((SECONDS - PHASE_T0) / 60)) $(((SECONDS - PHASE_T0) % 60)))")
}
print_times() {
  ((${#TIMES[@]})) || return 0
  echo "=== phase times"
  printf '  %s\n' "${TIMES[@]}"
  echo "  total                        $((SECONDS / 60))m$(printf %02d $((SECONDS % 60)))s"
}

"$ROOT/deploy/install-deps.sh"

phase_start "build"
cmake -S "$ROOT" -B "$BUILD" "${CMAKE_ARGS[@]}" "${PLAIN_FLAGS[@]}" >/dev/null
cmake --build "$BUILD" -j"$JOBS"
phase_end

PGDIR=$(mktemp -d /tmp/drover-test-pg.XXXXXX)
cleanup() {
  "$ROOT/deploy/lib/pg.sh" stop "$PGDIR" immediate || true
  rm -rf "$PGDIR"
  print_times
}
trap cleanup EXIT
# A CI timeout or ^C still stops PostgreSQL: the EXIT trap runs on exit, not on a signal.
trap 'exit 143' TERM
trap 'exit 130' INT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$ROOT/deploy/lib/pg.sh" init "$PGDIR"
"$ROOT/deploy/lib/pg.sh" start "$PGDIR" "$PORT"
export DROVER_TEST_DATABASE_URL
DROVER_TEST_DATABASE_URL=$("$ROOT/deploy/lib/pg.sh" url "$PGDIR" "$PORT" postgres)

if [[ "$SANITIZERS" == "1" ]]; then
  # Unit and integration tests run once, under ASan+UBSan below; here the
  # end-to-end tests (real binaries, scripts) and the layering checks.
  phase_start "test (e2e, layering)"
  (cd "$BUILD" && ctest --output-on-failure --timeout 900 -j2 -LE 'unit|integration' "$@")
  (cd "$BUILD" && ctest --output-on-failure --timeout 900 -j2 -L layering "$@")
else
  phase_start "test"
  (cd "$BUILD" && ctest --output-on-failure --timeout 900 -j2 "$@")
fi
phase_end

if [[ "$SANITIZERS" != "1" ]]; then
  exit 0
fi

# The sanitizer builds compile only what their tests need: the e2e tests
# (shell scripts and real processes) stay on the plain build above.
# Integration tests run the instrumented coordinator they depend on.
# A test that is no build target is a script (build_hardening_test,
# bench_flags_test): it runs the programs, so those are built instead.
BUILD_TARGETS=$(cmake --build "$BUILD" --target help | sed -n 's/^\.\.\. \([^ ]*\).*/\1/p')
targets_of() {
  local tests t script=0 out=()
  tests=$(cd "$BUILD" && ctest -N "$@" | sed -n 's/^ *Test *#[0-9]*: //p')
  for t in $tests; do
    if grep -qxF "$t" <<<"$BUILD_TARGETS"; then out+=("$t"); else script=1; fi
  done
  [[ $script -eq 0 ]] || out+=(drover-coordinator drover-updater drover-updater-pass droverctl drover-bench)
  echo "${out[*]}"
}
ASAN_TARGETS=$(targets_of -L 'unit|integration' -LE layering "$@")
TSAN_TARGETS=$(targets_of -L tsan "$@")

# halt_on_error: the first report fails the test, whatever its exit code.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$ROOT/tests/tsan.supp"

# A filter or label that leaves a sanitizer phase nothing to run must not
# pass CI silently.
if [[ "${CI:-}" == "true" && ( -z "$ASAN_TARGETS" || -z "$TSAN_TARGETS" ) && $# -eq 0 ]]; then
  echo "tests/run.sh: no tests labelled for the ASan or TSan phase" >&2
  exit 1
fi

FUZZ=0
if [[ "${CI:-}" == "true" || $# -eq 0 ]]; then FUZZ=1; fi

# One ASan+UBSan tree for the tests and the libFuzzer harnesses, built with
# clang (libFuzzer needs it): everything of ours is compiled instrumented
# once instead of twice (GCC for the tests, clang for the fuzzers), and clang
# compiles these sources at -O1 in about 0.7 of GCC's time (measured on
# operator_service.cc: 21.5 s against 30.1 s).
SAN_CXX=${CXX_FUZZ:-clang++-14}
ASAN_CACHE=$BUILD-asan/CMakeCache.txt
if [[ -f $ASAN_CACHE ]] && ! grep -q "^CMAKE_CXX_COMPILER:[A-Z]*=.*$SAN_CXX\$" "$ASAN_CACHE"; then
  rm -rf "$BUILD-asan" # configured with another compiler (a GCC tree of older runs)
fi
if [[ -n "$ASAN_TARGETS" || $FUZZ -eq 1 ]]; then
  phase_start "build asan+ubsan (clang)"
  cmake -S "$ROOT" -B "$BUILD-asan" "${CMAKE_ARGS[@]}" "${SAN_FLAGS[@]}" -DCMAKE_CXX_COMPILER="$SAN_CXX" \
    -DDROVER_SANITIZE=address,undefined -DDROVER_FUZZ=ON >/dev/null
  targets=$ASAN_TARGETS
  [[ $FUZZ -eq 0 ]] || targets="$targets drover-fuzzers"
  # shellcheck disable=SC2086 # one target per word
  cmake --build "$BUILD-asan" -j"$JOBS" --target $targets
  phase_end
fi
if [[ -n "$ASAN_TARGETS" ]]; then
  phase_start "test asan+ubsan"
  (cd "$BUILD-asan" && ctest --output-on-failure --timeout 900 -j2 -L 'unit|integration' -LE layering "$@")
  phase_end
fi

if [[ -n "$TSAN_TARGETS" ]]; then
  phase_start "build tsan"
  cmake -S "$ROOT" -B "$BUILD-tsan" "${CMAKE_ARGS[@]}" "${SAN_FLAGS[@]}" -DDROVER_SANITIZE=thread >/dev/null
  # shellcheck disable=SC2086
  cmake --build "$BUILD-tsan" -j"$JOBS" --target $TSAN_TARGETS
  phase_end
  phase_start "test tsan"
  (cd "$BUILD-tsan" && ctest --output-on-failure --timeout 900 -j2 -L tsan "$@")
  phase_end
fi

if [[ $FUZZ -eq 1 ]]; then
  phase_start "fuzz (${DROVER_FUZZ_SECONDS:-20}s each)"
  DROVER_WERROR=$WERROR DROVER_FUZZ_BUILD_DIR="$BUILD-asan" CXX_FUZZ="$SAN_CXX" "$ROOT/tests/fuzz.sh"
  phase_end
fi
