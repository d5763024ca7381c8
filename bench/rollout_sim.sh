#!/usr/bin/env bash
# A staged rollout end to end: a throwaway PostgreSQL, a real coordinator and
# HOSTS simulated updaters (drover-rollout-sim, one process) living through it.
# Usage: bench/rollout_sim.sh [--kill-leader] HOSTS broken|late|good
#   broken  the new version breaks every host during the updater's health watch:
#           canaries roll back locally, the canary budget (0) halts the rollout
#   late    it passes the updater's health watch and breaks 3 s later, for good (the
#           canary watch catches it; the policy rolls back automatically, so hosts
#           that took it are told the start version)
#   good    it works: every host ends on it, no halt
#   --kill-leader  SIGKILL the coordinator once the first group is done, start it
#           again on the same address, and check the same rollout carries on
# Groups canary,dev,prod take 1 %, 19 %, 80 % of the hosts; canaries per group:
# 1 % of the fleet, between 1 and 5, watched SIM_WATCH seconds; canary budget 0,
# group budget 5 %, done at 90 %.
# Plaintext: the coordinator runs with --insecure (bench/run.sh measures TLS).
# Environment:
#   DROVER_BUILD_DIR       build directory (default: <repo>/build)
#   DROVER_SKIP_BUILD=1    use the binaries already built
#   SIM_POLL               updaters' poll interval in seconds (default: HOSTS/1000, 2..10)
#   SIM_BAKE               bake time per group in seconds (default 15)
#   SIM_WATCH              canary watch per group in seconds (default 20: longer
#                          than the late break plus a poll)
#   SIM_FLAGS              extra drover-rollout-sim flags
#   KEEP_LOGS=1            keep the logs of a failed run
# Progress goes to stderr; the last stdout line is the summary:
#   hosts=N scenario=S groups=3 broken_version_hosts=B halted=0|1 time_to_halt_s=T|- rolled_back=R
#   left_broken=L on_target=O rollout_s=X
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
PG="$ROOT/deploy/lib/pg.sh"
BINS=(drover-coordinator droverctl drover-rollout-sim)
USAGE="usage: bench/rollout_sim.sh [--kill-leader] HOSTS broken|late|good"

KILL=0
if [[ "${1:-}" == "--kill-leader" ]]; then KILL=1; shift; fi
HOSTS=${1:-}
SCENARIO=${2:-}
[[ "$HOSTS" =~ ^[0-9]+$ && $HOSTS -ge 100 ]] || { echo "rollout_sim.sh: host count \"$HOSTS\": want a number >= 100; $USAGE" >&2; exit 2; }
case "$SCENARIO" in
  broken|late|good) ;;
  *) echo "rollout_sim.sh: scenario \"$SCENARIO\": want broken, late or good; $USAGE" >&2; exit 2 ;;
esac

log() { echo "rollout_sim.sh: $*" >&2; }
die() { log "$*"; exit 1; }

START_VERSION=1.0.0
NEW_VERSION=1.1.0
POLL=${SIM_POLL:-$((HOSTS / 1000))}
((POLL < 2)) && POLL=2
((POLL > 10)) && POLL=10
BAKE=${SIM_BAKE:-15}
WATCH=${SIM_WATCH:-20}
CANARIES=$((HOSTS / 100))
((CANARIES < 1)) && CANARIES=1
((CANARIES > 5)) && CANARIES=5

if [[ -z "${DROVER_SKIP_BUILD:-}" ]]; then
  if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2 || die "cmake failed"
  fi
  cmake --build "$BUILD" -j2 --target "${BINS[@]}" >&2 || die "build failed in $BUILD"
fi
for bin in "${BINS[@]}"; do
  [[ -x "$BUILD/bin/$bin" ]] || die "$BUILD/bin/$bin is missing: build it, or unset DROVER_SKIP_BUILD"
done

TMP=$(mktemp -d -t drover-rollout-sim.XXXXXX)
chmod 755 "$TMP"  # pg.sh runs PostgreSQL as 'postgres' when we are root
COORD_PID=""
SIM_PID=""
PG_STARTED=0
cleanup() {
  local rc=$?
  for pid in "$SIM_PID" "$COORD_PID"; do
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
free_port() {
  local p
  for _ in $(seq 1 20); do
    p=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768-)
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}
"$PG" init "$TMP/pg"
PG_PORT=""
for _ in 1 2 3 4 5; do
  p=$(free_port) || break
  PG_STARTED=1
  if "$PG" start "$TMP/pg" "$p"; then PG_PORT=$p; break; fi
done
[[ -n "$PG_PORT" ]] || die "could not start PostgreSQL on a free port (log: $TMP/pg/postgres.log)"
"$PG" createdb "$TMP/pg" "$PG_PORT" drover_sim
(umask 077 && "$PG" url "$TMP/pg" "$PG_PORT" drover_sim >"$TMP/database.url")
log "PostgreSQL on 127.0.0.1:$PG_PORT"

# --- Coordinator: the kernel picks its port (one probed free could be taken
# before the bind); a restart after --kill-leader binds the same address again.
GRPC_ADDR=127.0.0.1:0
READY="$TMP/ready"
# The per-host and per-address limiters would throttle a fleet that shares 127.0.0.1.
COORD_ARGS=(--database_url_file="$TMP/database.url" --metrics_listen=127.0.0.1:0
            --ready_file="$READY" --insecure --rollout_tick=1s --report_rate_per_host=0 --get_target_rate_per_peer=0)
# start_coordinator: starts it on $GRPC_ADDR and sets GRPC_ADDR to the address it bound.
start_coordinator() {
  rm -f "$READY"
  "$BUILD/bin/drover-coordinator" "${COORD_ARGS[@]}" --grpc_listen="$GRPC_ADDR" 2>>"$TMP/coordinator.log" &
  COORD_PID=$!
  local deadline=$((SECONDS + 90))
  until [[ -f "$READY" ]]; do
    if ! kill -0 "$COORD_PID" 2>/dev/null; then
      tail -20 "$TMP/coordinator.log" >&2
      die "the coordinator exited during start-up (log above)"
    fi
    ((SECONDS < deadline)) || { tail -20 "$TMP/coordinator.log" >&2; die "the coordinator was not ready within 90 s"; }
    sleep 0.1
  done
  GRPC_ADDR=$(sed -n 's/^grpc=//p' "$READY")
  [[ "$GRPC_ADDR" == 127.0.0.1:[1-9]* ]] || die "the ready file names no grpc= address: $(cat "$READY")"
}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
start_coordinator
log "coordinator pid $COORD_PID on $GRPC_ADDR (plaintext, --insecure)"

ctl() { "$BUILD/bin/droverctl" --coordinator="$GRPC_ADDR" --insecure "$@"; }
ctl channels create sim --control-plane=2.0.0 --target="$START_VERSION" --poll-interval="${POLL}s" >/dev/null
AUTO_ROLLBACK=false
[[ $SCENARIO == late ]] && AUTO_ROLLBACK=true
ctl rollout policy set sim --groups=canary,dev,prod --canaries="$CANARIES" --canary-budget=0 --group-budget=5% \
  --done-percent=90 --bake="${BAKE}s" --canary-watch="${WATCH}s" --silent-timeout=2m --auto-rollback="$AUTO_ROLLBACK" >/dev/null
log "channel sim: start $START_VERSION, poll ${POLL}s; policy: groups canary,dev,prod, $CANARIES canaries, canary budget 0, canary watch ${WATCH}s, group budget 5%, bake ${BAKE}s, auto roll-back $AUTO_ROLLBACK"

# --- The fleet -----------------------------------------------------------------
SIM_ARGS=(--target="$GRPC_ADDR" --hosts="$HOSTS" --channel_id=sim --groups=canary:1,dev:19,prod:80
          --start_version="$START_VERSION" --target_version="$NEW_VERSION" --scenario="$SCENARIO"
          --settled_file="$TMP/settled" --progress_file="$TMP/progress" --first_poll_spread="$POLL")
case "$SCENARIO" in
  broken) SIM_ARGS+=(--broken_version="$NEW_VERSION" --broken_mode=watch) ;;
  late) SIM_ARGS+=(--broken_version="$NEW_VERSION" --broken_mode=late) ;;
esac
# shellcheck disable=SC2086  # SIM_FLAGS is a list of flags
"$BUILD/bin/drover-rollout-sim" "${SIM_ARGS[@]}" ${SIM_FLAGS:-} >"$TMP/sim.out" 2> >(tee "$TMP/sim.log" >&2) &
SIM_PID=$!
deadline=$((SECONDS + 600))
until [[ -f "$TMP/settled" ]]; do
  kill -0 "$SIM_PID" 2>/dev/null || die "drover-rollout-sim exited before the fleet settled (log above)"
  ((SECONDS < deadline)) || die "the fleet did not settle within 600 s"
  sleep 0.2
done
log "every host reported $START_VERSION; setting the target $NEW_VERSION"
ctl target set sim "$NEW_VERSION" >/dev/null

if [[ $KILL -eq 1 ]]; then
  # Mid-rollout: the first group done, the others not.
  deadline=$((SECONDS + 900))
  until grep -q 'groups=canary:done' "$TMP/progress" 2>/dev/null; do
    kill -0 "$SIM_PID" 2>/dev/null || die "drover-rollout-sim exited before the first group was done"
    ((SECONDS < deadline)) || die "the first group was not done within 900 s"
    sleep 0.2
  done
  BEFORE=$(cat "$TMP/progress")
  kill -KILL "$COORD_PID"
  wait "$COORD_PID" 2>/dev/null || true
  log "SIGKILLed the coordinator (pid $COORD_PID) mid-rollout: $BEFORE"
  KILLED_AT=$SECONDS
  start_coordinator
  log "coordinator restarted (pid $COORD_PID) after $((SECONDS - KILLED_AT)) s"
fi

set +e
wait "$SIM_PID"
SIM_RC=$?
set -e
SIM_PID=""
[[ $SIM_RC -eq 0 ]] || die "drover-rollout-sim failed with status $SIM_RC"
LAST=$(tail -n 1 "$TMP/sim.out")
[[ -n "$LAST" ]] || die "drover-rollout-sim printed no summary"

if [[ $KILL -eq 1 ]]; then
  before_id=$(sed -n 's/^id=\([0-9]*\) .*/\1/p' <<<"$BEFORE")
  after=$(cat "$TMP/progress")
  after_id=$(sed -n 's/^id=\([0-9]*\) .*/\1/p' <<<"$after")
  after_state=$(sed -n 's/^id=[0-9]* state=\([a-z_]*\) .*/\1/p' <<<"$after")
  resumed=0
  [[ -n "$before_id" && "$before_id" == "$after_id" && "$after_state" == done ]] && resumed=1
  echo "leader_kill=1 rollout_before=$before_id rollout_after=$after_id state_after=$after_state resumed=$resumed"
fi

# --- Orderly stop --------------------------------------------------------------
kill -TERM "$COORD_PID"
deadline=$((SECONDS + 60))
while kill -0 "$COORD_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
kill -0 "$COORD_PID" 2>/dev/null && die "the coordinator did not exit within 60 s of SIGTERM"
wait "$COORD_PID" 2>/dev/null || true
COORD_PID=""
"$PG" stop "$TMP/pg"
PG_STARTED=0
echo "$LAST"
