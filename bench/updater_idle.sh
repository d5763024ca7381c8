#!/usr/bin/env bash
# Measures drover-updater at rest: resident memory and CPU while idle between
# passes (goal: RSS <= 10 MiB, no busy polling), with the daemon connected to
# the coordinator's watch endpoint for pushed changes; then how soon a pushed
# change reaches the daemon (critical raised and lowered 3 times, with the
# daemon's own poll interval at 10 min so only the push explains a pass). The daemon starts a
# drover-updater-pass process per pass; between passes only the daemon is
# resident. Prints the daemon's peak RSS over the window, its proportional set
# size (shared library pages divided among the processes mapping them) and
# private heap (anon), the peak RSS of a pass (from the daemon's log), and the
# CPU of daemon and passes together. Starts its own PostgreSQL, coordinator and
# demo agent, lets the daemon converge, then samples.
#   bench/updater_idle.sh [SECONDS]     (default 30)
# Environment: DROVER_BUILD_DIR (default build), DROVER_SKIP_BUILD=1 to use
# the binaries already built.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
SECONDS_IDLE=${1:-30}
if [[ -z "${DROVER_SKIP_BUILD:-}" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target drover-coordinator drover-updater droverctl demo-agents >/dev/null
fi

W=$(mktemp -d /tmp/drover-idle.XXXXXX); chmod 755 "$W"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [[ -f "$W/agent.pid" ]] && kill -TERM "$(cat "$W/agent.pid")" 2>/dev/null || true
  "$ROOT/deploy/lib/pg.sh" stop "$W/pg" immediate >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 1 20); do
    p=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768-)
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}
PGP=$(free_port); AGENT_PORT=$(free_port)
"$ROOT/deploy/lib/pg.sh" init "$W/pg" >/dev/null
"$ROOT/deploy/lib/pg.sh" start "$W/pg" "$PGP"
"$ROOT/deploy/lib/pg.sh" createdb "$W/pg" "$PGP" drover
# The URL holds a password: from a file, never argv (the coordinator refuses that).
(umask 077 && "$ROOT/deploy/lib/pg.sh" url "$W/pg" "$PGP" >"$W/database.url")
"$BUILD/bin/drover-coordinator" --database_url_file="$W/database.url" \
  --grpc_listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --watch_listen=127.0.0.1:0 --ready_file="$W/ready" \
  --insecure >"$W/coordinator.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do [[ -f "$W/ready" ]] && break; sleep 0.1; done
COORD=$(sed -n 's/^grpc=//p' "$W/ready")
WATCH=$(sed -n 's/^watch=//p' "$W/ready")
"$ROOT/tests/fixtures/make_tarballs.sh" "$W/tarballs" "$BUILD/bin" >/dev/null
# The demo channel.
if [[ -x "$BUILD/bin/droverctl" ]]; then
  "$BUILD/bin/droverctl" --insecure --coordinator="$COORD" channels create demo --control-plane=1.3.0 --target=1.0.0 --poll-interval=5s >/dev/null
else
  echo "updater_idle: build droverctl first" >&2; exit 1
fi
cat >"$W/updater.conf" <<CONF
coordinator: "$COORD"
channel: "demo"
host_id: "idle-host"
state_dir: "$W/state"
insecure_unsigned_targets: true
watch: "$WATCH"
agent {
  name: "demo-agent"
  tarball { base: "$W/tarballs" public_key_file: "$W/tarballs/tarball-key.pub.pem" install_dir: "$W/agent" }
  restart_command: ["$ROOT/tests/fixtures/demo-agent/restart.sh", "$W/agent", "$AGENT_PORT", "$W/agent.pid"]
  health_check { http { url: "http://127.0.0.1:$AGENT_PORT/readyz" } timeout { seconds: 2 } }
  health_watch { seconds: 1 }
}
CONF
"$BUILD/bin/drover-updater" run --config="$W/updater.conf" >"$W/updater.log" 2>&1 &
UPID=$!; pids+=($UPID)
# Converged: the agent installed and reported.
for _ in $(seq 600); do grep -q "already on target" "$W/updater.log" 2>/dev/null && break; sleep 0.1; done
grep -q "already on target" "$W/updater.log" || { cat "$W/updater.log" >&2; echo "updater did not converge" >&2; exit 1; }
for _ in $(seq 100); do grep -q "connected; a change" "$W/updater.log" && break; sleep 0.1; done
grep -q "connected; a change" "$W/updater.log" || { cat "$W/updater.log" >&2; echo "the daemon did not connect to the watch endpoint" >&2; exit 1; }
# utime + stime of the daemon and of the passes it has reaped.
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$UPID/stat"; }
t0=$(ticks); start=$(date +%s.%N)
max_rss=0
end=$(( $(date +%s) + SECONDS_IDLE ))
while [[ $(date +%s) -lt $end ]]; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$UPID/status"); anon=$(awk '/RssAnon/ {print $2}' "/proc/$UPID/status"); file=$(awk '/RssFile/ {print $2}' "/proc/$UPID/status"); pss=$(awk '/^Pss:/ {print $2}' "/proc/$UPID/smaps_rollup")
  (( rss > max_rss )) && max_rss=$rss
  sleep 1
done
t1=$(ticks); stop=$(date +%s.%N)
hz=$(getconf CLK_TCK)
passes=$(grep -c "pass:" "$W/updater.log")
pass_peak=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' "$W/updater.log" | sort -n | tail -1)
# Pushes: only the watch can explain a pass once the daemon polls every 10 min.
echo 'poll_interval { seconds: 600 }' >>"$W/updater.conf"
for _ in $(seq 200); do grep -qE "next in (9m|10m|11m)" "$W/updater.log" && break; sleep 0.1; done
grep -qE "next in (9m|10m|11m)" "$W/updater.log" || { cat "$W/updater.log" >&2; echo "the 10 min poll interval was not taken" >&2; exit 1; }
push_ms=()
for round in 1 2 3 4 5 6; do
  before=$(grep -c "announced a change" "$W/updater.log" || true)
  passes_before=$(grep -c "pass took" "$W/updater.log" || true)
  t_change=$(date +%s.%N)
  if (( round % 2 )); then
    "$BUILD/bin/droverctl" --insecure --coordinator="$COORD" critical raise demo --reason=bench >/dev/null
  else
    "$BUILD/bin/droverctl" --insecure --coordinator="$COORD" critical lower demo >/dev/null
  fi
  for _ in $(seq 1000); do (( $(grep -c "announced a change" "$W/updater.log" || true) > before )) && break; sleep 0.01; done
  line=$(grep "announced a change" "$W/updater.log" | tail -1)
  (( $(grep -c "announced a change" "$W/updater.log" || true) > before )) || { cat "$W/updater.log" >&2; echo "change $round was not pushed within 10 s" >&2; exit 1; }
  push_ms+=("$(python3 -c 'import sys,datetime; t=datetime.datetime.strptime(sys.argv[1],"%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp(); print(int((t-float(sys.argv[2]))*1000))' "${line%% *}" "$t_change")")
  # The watch polls again once the pass it started is over (pushed passes
  # are also at least 5 s apart).
  for _ in $(seq 2000); do (( $(grep -c "pass took" "$W/updater.log" || true) > passes_before )) && break; sleep 0.01; done
done
python3 - "$max_rss" "$t0" "$t1" "$hz" "$start" "$stop" "$passes" "$anon" "$file" "$pss" "${pass_peak:-0}" "${push_ms[*]}" <<'PY'
import sys
rss_kib, t0, t1, hz, start, stop, passes, anon, file, pss, pass_peak, push = sys.argv[1:]
push = sorted(int(x) for x in push.split())
cpu = (int(t1) - int(t0)) / int(hz)
wall = float(stop) - float(start)
print(f"updater_idle_rss_mib={int(rss_kib)/1024:.1f} pss_mib={int(pss)/1024:.1f} anon_mib={int(anon)/1024:.1f} "
      f"shared_file_mib={int(file)/1024:.1f} pass_peak_rss_mib={float(pass_peak):.1f} "
      f"updater_idle_cpu_percent={100*cpu/wall:.2f} "
      f"wall_s={wall:.0f} passes_total={passes} poll_interval_s=5 watch_connected=1 "
      f"push_to_daemon_ms_median={push[len(push)//2]} push_to_daemon_ms_max={push[-1]}")
PY
