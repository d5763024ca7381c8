#!/usr/bin/env bash
# bench/version_server.sh end to end, short (2 s per run, 16 connections):
# the summary line carries every key, every answer was a 200, and both
# runs served requests; plus the refusal of bad arguments.
# Environment: DROVER_BIN_DIR (default build/bin).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DROVER_BIN_DIR:-$ROOT/build/bin}
fail() { echo "FAIL: $*" >&2; exit 1; }
TMP=$(mktemp -d /tmp/drover-vsbench-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p; s/^$2=\([^ ]*\).*/\1/p" <<<"$1" | head -1; }

rc=0; "$ROOT/bench/version_server.sh" 0 >/dev/null 2>"$TMP/err" || rc=$?
[[ $rc -eq 2 ]] && grep -q 'seconds "0"' "$TMP/err" || fail "0 seconds: want exit 2 naming it, got $rc: $(cat "$TMP/err")"
rc=0; "$ROOT/bench/version_server.sh" 2 many >/dev/null 2>"$TMP/err" || rc=$?
[[ $rc -eq 2 ]] && grep -q 'connections "many"' "$TMP/err" || fail "bad connections: want exit 2 naming it, got $rc"

rc=0
DROVER_BUILD_DIR="$(dirname "$BIN")" DROVER_SKIP_BUILD=1 timeout 300 "$ROOT/bench/version_server.sh" 2 16 \
  >"$TMP/out" 2>"$TMP/err" || rc=$?
[[ $rc -eq 0 ]] || { tail -30 "$TMP/err" >&2; fail "bench/version_server.sh exited $rc"; }
line=$(tail -n 1 "$TMP/out")
echo "$line"
num='[0-9]+(\.[0-9]+)?'
[[ $line =~ ^https_rps=[0-9]+\ https_p99_ms=$num\ https_cpu_us=$num\ http_rps=[0-9]+\ http_p99_ms=$num\ http_cpu_us=$num\ non_200=[0-9]+$ ]] \
  || fail "the last line is not the summary: $line"
[[ $(field "$line" non_200) == 0 ]] || fail "answers other than 200 under load: $line"
(( $(field "$line" https_rps) > 0 && $(field "$line" http_rps) > 0 )) || fail "a run served nothing: $line"
echo "version_server_bench_test: passed"
