#!/usr/bin/env bash
# Pushed changes at fleet scale: a throwaway PostgreSQL, a coordinator with
# --watch_listen, N simulated updaters (drover-push-watchers: one long poll
# and one TCP connection each), then
#   - 5 target changes (droverctl target set): per watcher, the time from
#     the call returning to its 200 -> push_p50_ms, push_p99_ms (all rounds
#     pooled);
#   - the coordinator's RSS with N waiting minus with none, over N ->
#     coordinator_kib_per_updater;
#   - a restart (SIGTERM, start again on the same watch port): seconds from
#     the new coordinator being ready until all N wait again, with no HTTP
#     error -> reconnect_s.
# The channel has no rollout policy, so every change wakes all N: the worst
# case (under a staged rollout only the hosts whose own answer changed are
# woken; see coordinator/rollout/host_answer_test.cc).
# Usage: bench/push.sh [N]   (default 10000; at most the descriptor limit)
# Environment: DROVER_BUILD_DIR, DROVER_SKIP_BUILD=1, DROVER_COORDINATOR_FLAGS (as bench/run.sh).
# Progress goes to stderr; the last line of stdout is
#   updaters=N push_p50_ms=... push_p99_ms=... coordinator_kib_per_updater=... reconnect_s=...
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
PG="$ROOT/deploy/lib/pg.sh"
BINS=(drover-coordinator droverctl drover-push-watchers)
N=${1:-10000}
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "push.sh: updater count \"$N\" is not a positive number; usage: bench/push.sh [N]" >&2; exit 2; }
ROUNDS=5

log() { echo "push.sh: $*" >&2; }
die() { log "$*"; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < N + 100 )); then die "$N updaters need $((N + 100)) descriptors; the limit is $(ulimit -n)"; fi

if [[ -z "${DROVER_SKIP_BUILD:-}" ]]; then
  if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2 || die "cmake failed"
  fi
  cmake --build "$BUILD" -j2 --target "${BINS[@]}" >&2 || die "build failed in $BUILD"
fi
for bin in "${BINS[@]}"; do
  [[ -x "$BUILD/bin/$bin" ]] || die "$BUILD/bin/$bin is missing: build it, or unset DROVER_SKIP_BUILD"
done

TMP=$(mktemp -d -t drover-push.XXXXXX)
chmod 755 "$TMP"  # pg.sh runs PostgreSQL as 'postgres' when we are root
COORD_PID=""
WATCH_PID=""
PG_STARTED=0
cleanup() {
  local rc=$?
  exec 3>&- 2>/dev/null || true
  for pid in "$WATCH_PID" "$COORD_PID"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ $PG_STARTED -eq 1 ]]; then "$PG" stop "$TMP/pg" immediate >/dev/null 2>&1 || true; fi
  if [[ $rc -ne 0 && -n "${KEEP_LOGS:-}" ]]; then log "logs kept in $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- PostgreSQL --------------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
"$PG" init "$TMP/pg" >&2
PG_PORT=""
for _ in 1 2 3 4 5; do
  p=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768-)
  port_in_use "$p" && continue
  PG_STARTED=1
  if "$PG" start "$TMP/pg" "$p" >&2; then PG_PORT=$p; break; fi
done
[[ -n "$PG_PORT" ]] || die "could not start PostgreSQL on a free port (log: $TMP/pg/postgres.log)"
"$PG" createdb "$TMP/pg" "$PG_PORT" drover_push >&2
(umask 077 && "$PG" url "$TMP/pg" "$PG_PORT" drover_push >"$TMP/database.url")

# --- Coordinator -------------------------------------------------------------
READY="$TMP/ready"
# start_coordinator WATCH_LISTEN: starts it and waits for its ready file.
start_coordinator() {
  rm -f "$READY"
  # shellcheck disable=SC2086  # DROVER_COORDINATOR_FLAGS is a list of flags
  "$BUILD/bin/drover-coordinator" --database_url_file="$TMP/database.url" --insecure \
    --grpc_listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --watch_listen="$1" --ready_file="$READY" \
    ${DROVER_COORDINATOR_FLAGS:-} 2>>"$TMP/coordinator.log" 3>&- &
  COORD_PID=$!
  local deadline=$((SECONDS + 90))
  until [[ -f "$READY" ]]; do
    kill -0 "$COORD_PID" 2>/dev/null || { tail -20 "$TMP/coordinator.log" >&2; die "the coordinator exited during start-up"; }
    ((SECONDS < deadline)) || die "the coordinator was not ready within 90 s"
    sleep 0.05
  done
  GRPC_ADDR=$(sed -n 's/^grpc=//p' "$READY")
  WATCH_ADDR=$(sed -n 's/^watch=//p' "$READY")
  [[ -n "$WATCH_ADDR" ]] || die "the ready file names no watch= address"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
ctl() { "$BUILD/bin/droverctl" --coordinator="$GRPC_ADDR" --insecure "$@" >/dev/null; }

start_coordinator 127.0.0.1:0
log "coordinator pid $COORD_PID: gRPC $GRPC_ADDR, watch $WATCH_ADDR"
ctl channels create push --control-plane=1.9.0
ctl target set push 1.0.0
RSS_IDLE=$(rss_kib "$COORD_PID")

# --- Watchers ----------------------------------------------------------------
mkfifo "$TMP/commands"
"$BUILD/bin/drover-push-watchers" --watch="$WATCH_ADDR" --channel=push --watchers="$N" \
  <"$TMP/commands" >"$TMP/watchers.out" 2>"$TMP/watchers.log" &
WATCH_PID=$!
exec 3>"$TMP/commands"
# ask COMMAND: sends it and prints the watchers' answer line.
ask() {
  local before
  before=$(wc -l <"$TMP/watchers.out")
  echo "$1" >&3
  local deadline=$((SECONDS + 120))
  while (( $(wc -l <"$TMP/watchers.out") <= before )); do
    kill -0 "$WATCH_PID" 2>/dev/null || { cat "$TMP/watchers.log" >&2; die "drover-push-watchers exited"; }
    ((SECONDS < deadline)) || die "no answer to \"$1\" from the watchers within 120 s"
    sleep 0.05
  done
  tail -n 1 "$TMP/watchers.out"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p; s/^$1=\([^ ]*\).*/\1/p" <<<"$2" | head -1; }

line=$(ask connected)
log "$line"
[[ $(field n "$line") -eq $N ]] || die "not every watcher connected: $line"
RSS_FULL=$(rss_kib "$COORD_PID")
KIB_PER=$(awk -v a="$RSS_IDLE" -v b="$RSS_FULL" -v n="$N" 'BEGIN { printf "%.2f", (b - a) / n }')
log "coordinator RSS ${RSS_IDLE} KiB with no watcher, ${RSS_FULL} KiB with $N: $KIB_PER KiB each"

for round in $(seq 1 $ROUNDS); do
  ctl target set push "1.0.$round"
  line=$(ask "change $(date +%s%N)")
  log "round $round: $line"
  [[ $(field n "$line") -eq $N ]] || die "not every watcher was told of change $round: $line"
  [[ $(field errors "$line") -eq 0 ]] || die "watchers saw HTTP errors: $line"
done
P50=$(field all_p50_ms "$line")
P99=$(field all_p99_ms "$line")

# --- Restart -----------------------------------------------------------------
WATCH_PORT=${WATCH_ADDR##*:}
kill -TERM "$COORD_PID"
wait "$COORD_PID" || die "the coordinator did not stop cleanly on SIGTERM"
start_coordinator "127.0.0.1:$WATCH_PORT"
READY_NS=$(date +%s%N)
log "restarted: coordinator pid $COORD_PID"
line=$(ask connected)
log "$line"
[[ $(field n "$line") -eq $N ]] || die "not every watcher reconnected: $line"
[[ $(field errors "$line") -eq 0 ]] || die "watchers saw HTTP errors while reconnecting: $line"
RECONNECT=$(awk -v a="$READY_NS" -v b="$(field at_ns "$line")" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')

exec 3>&-
kill -TERM "$WATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" 2>/dev/null || true
WATCH_PID=""
echo "updaters=$N push_p50_ms=$P50 push_p99_ms=$P99 coordinator_kib_per_updater=$KIB_PER reconnect_s=$RECONNECT"
