#!/usr/bin/env bash
# bench/updater_idle.sh end to end, short: the daemon converges, connects to
# the watch endpoint, stays within the 10 MiB resident goal while connected,
# and every one of the six pushed changes reaches it (the script fails
# otherwise). Its figures are the bench's business; only the ceiling on
# memory and the presence of each key are held here.
# Environment: DROVER_BIN_DIR (default build/bin).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DROVER_BIN_DIR:-$ROOT/build/bin}
fail() { echo "FAIL: $*" >&2; exit 1; }
TMP=$(mktemp -d /tmp/drover-idle-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

rc=0
DROVER_BUILD_DIR="$(dirname "$BIN")" DROVER_SKIP_BUILD=1 timeout 300 "$ROOT/bench/updater_idle.sh" 3 \
  >"$TMP/out" 2>"$TMP/err" || rc=$?
[[ $rc -eq 0 ]] || { tail -30 "$TMP/err" "$TMP/out" >&2; fail "bench/updater_idle.sh exited $rc"; }
line=$(tail -n 1 "$TMP/out")
echo "$line"
[[ $line =~ ^updater_idle_rss_mib=([0-9.]+)\ .*\ watch_connected=1\ push_to_daemon_ms_median=-?[0-9]+\ push_to_daemon_ms_max=-?[0-9]+$ ]] \
  || fail "the last line is not the summary: $line"
awk -v v="${BASH_REMATCH[1]}" 'BEGIN { exit !(v > 0 && v <= 10) }' || fail "daemon RSS over 10 MiB while watching: $line"
echo "updater_idle_bench_test: passed"
