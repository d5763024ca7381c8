#!/usr/bin/env bash
# Runs Drover's coordinator on this machine with its own local PostgreSQL
# (kept under ./var and reused on the next run), or against your database.
#
#   deploy/quickstart.sh                   build, start PostgreSQL and the coordinator (foreground)
#   deploy/quickstart.sh --detach          the same, in the background
#   deploy/quickstart.sh --stop            stop what --detach started
#   deploy/quickstart.sh --database=URL    use your own PostgreSQL instead
#
# It also starts demo agents, each with its own drover-updater (tarball
# installer under DATA_DIR/demo), on the channel "demo": set a new target
# (build/bin/droverctl target set demo 1.1.0) and watch the rollout
# (build/bin/droverctl status demo --watch).
#
# --with-prometheus also starts Prometheus with deploy/prometheus/ (scrape
# config and alert rules; data under DATA_DIR/prometheus) on --prometheus-port.
#
# Options: --data-dir=DIR (default ./var), --grpc-port=N (7600),
# --metrics-port=N (7601), --pg-port=N (7632), --demo-agents=N (3; 0: none),
# --with-prometheus, --prometheus-port=N (9090), --help.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA_DIR="$ROOT/var"
GRPC_PORT=7600
METRICS_PORT=7601
PG_PORT=7632
DATABASE=""
DETACH=0
STOP=0
DEMO_AGENTS=3
WITH_PROMETHEUS=0
PROMETHEUS_PORT=9090

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "quickstart: $*" >&2; exit 2; }
# The pid file exists and names a running process.
pid_file_alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

for arg in "$@"; do
  case "$arg" in
    --detach) DETACH=1 ;;
    --stop) STOP=1 ;;
    --database=*) DATABASE=${arg#*=} ;;
    --data-dir=*) DATA_DIR=$(realpath -m "${arg#*=}") ;;
    --grpc-port=*) GRPC_PORT=${arg#*=} ;;
    --metrics-port=*) METRICS_PORT=${arg#*=} ;;
    --pg-port=*) PG_PORT=${arg#*=} ;;
    --demo-agents=*) DEMO_AGENTS=${arg#*=} ;;
    --with-prometheus) WITH_PROMETHEUS=1 ;;
    --prometheus-port=*) PROMETHEUS_PORT=${arg#*=} ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$arg' (see --help)" ;;
  esac
done
[[ "$DEMO_AGENTS" =~ ^[0-9]+$ && "$DEMO_AGENTS" -le 20 ]] || die "--demo-agents '$DEMO_AGENTS' is not a number in 0..20"
for p in "$GRPC_PORT" "$METRICS_PORT" "$PG_PORT" "$PROMETHEUS_PORT"; do
  [[ "$p" =~ ^[0-9]+$ && "$p" -ge 1 && "$p" -le 65535 ]] || die "port '$p' is not a number in 1..65535"
done

PG="$ROOT/deploy/lib/pg.sh"
PID_FILE="$DATA_DIR/coordinator.pid"
LOG_FILE="$DATA_DIR/coordinator.log"
READY_FILE="$DATA_DIR/coordinator.ready"
PROMETHEUS_DIR="$DATA_DIR/prometheus"

# Stops a process named in a pid file, if it still runs `name`.
stop_pid_file() {
  local file=$1 name=$2 pid
  [[ -f "$file" ]] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$name"; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

stop_demo() {
  local d
  for d in "$DATA_DIR"/demo/host-*; do
    [[ -d "$d" ]] || continue
    stop_pid_file "$d/updater.pid" drover-updater
    stop_pid_file "$d/agent.pid" demo-agent
  done
}

stop_prometheus() {
  local file="$PROMETHEUS_DIR/prometheus.pid"
  [[ -f "$file" ]] || return 0
  pid_file_alive "$file" && echo "quickstart: stopping Prometheus"
  stop_pid_file "$file" prometheus
}

stop_all() {
  stop_prometheus
  stop_demo
  if [[ -f "$PID_FILE" ]]; then
    pid=$(cat "$PID_FILE")
    # A stale pid file (after a reboot) may name an unrelated process.
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q drover-coordinator; then
      kill -TERM "$pid"
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && { echo "quickstart: coordinator $pid did not stop; sending SIGKILL" >&2; kill -KILL "$pid"; }
      echo "quickstart: coordinator stopped"
    fi
    rm -f "$PID_FILE" "$READY_FILE"
  fi
  if [[ -d "$DATA_DIR/postgres/data" ]]; then
    "$PG" stop "$DATA_DIR/postgres" && echo "quickstart: PostgreSQL stopped"
  fi
}

if [[ $STOP -eq 1 ]]; then
  stop_all
  exit 0
fi

if pid_file_alive "$PID_FILE"; then
  die "a coordinator started from $DATA_DIR is already running (pid $(cat "$PID_FILE")): run $0 --stop first"
fi

"$ROOT/deploy/install-deps.sh"
echo "quickstart: building (first time takes a few minutes)..."
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target drover-coordinator drover-updater droverctl demo-agents >/dev/null

mkdir -p "$DATA_DIR"
if [[ -z "$DATABASE" ]]; then
  "$PG" init "$DATA_DIR/postgres"
  "$PG" start "$DATA_DIR/postgres" "$PG_PORT"
  "$PG" createdb "$DATA_DIR/postgres" "$PG_PORT" drover
  DATABASE=$("$PG" url "$DATA_DIR/postgres" "$PG_PORT" drover)
  echo "quickstart: PostgreSQL running on 127.0.0.1:$PG_PORT (data in $DATA_DIR/postgres)"
fi

rm -f "$READY_FILE"
ARGS=(--database="$DATABASE" --grpc_listen="127.0.0.1:$GRPC_PORT" --metrics_listen="127.0.0.1:$METRICS_PORT"
      --ready_file="$READY_FILE")

print_addresses() {
  echo "quickstart: coordinator ready"
  echo "  gRPC:    $(sed -n 's/^grpc=//p' "$READY_FILE")"
  echo "  metrics: http://$(sed -n 's/^metrics=//p' "$READY_FILE")/metrics"
}

# Demo agents, each managed by its own updater through signed tarballs.
start_demo() {
  [[ "$DEMO_AGENTS" -gt 0 ]] || return 0
  local demo="$DATA_DIR/demo" ctl=("$BUILD/bin/droverctl" --coordinator="127.0.0.1:$GRPC_PORT") out rc i
  mkdir -p "$demo"
  "$ROOT/tests/fixtures/make_tarballs.sh" "$demo/tarballs" "$BUILD/bin" >/dev/null
  set +e
  out=$("${ctl[@]}" channels create demo --control-plane=1.3.0 --target=1.0.0 --poll-interval=5s 2>&1); rc=$?
  set -e
  [[ $rc -eq 0 || $rc -eq 7 ]] || die "creating the demo channel failed: $out"
  for i in $(seq "$DEMO_AGENTS"); do
    local h="$demo/host-$i" port=$((GRPC_PORT + 10 + i))
    mkdir -p "$h"
    cat >"$h/updater.conf" <<CONF
coordinator: "127.0.0.1:$GRPC_PORT"
channel: "demo"
host_id: "demo-host-$i"
state_dir: "$h/state"
agent {
  name: "demo-agent"
  tarball { base: "$demo/tarballs" public_key_file: "$demo/tarballs/tarball-key.pub.pem" install_dir: "$h/agent" }
  restart_command: ["$ROOT/tests/fixtures/demo-agent/restart.sh", "$h/agent", "$port", "$h/agent.pid"]
  health_check { http { url: "http://127.0.0.1:$port/readyz" } timeout { seconds: 2 } }
  health_grace { seconds: 10 }
  health_watch { seconds: 3 }
}
CONF
    # An agent installed by an earlier run was stopped with it: start it again
    # (the updater installs and restarts agents, it does not supervise them).
    if [[ -x "$h/agent/current/bin/demo-agent" ]] \
        && ! pid_file_alive "$h/agent.pid"; then
      "$ROOT/tests/fixtures/demo-agent/restart.sh" "$h/agent" "$port" "$h/agent.pid" \
        || die "could not start the demo agent installed in $h/agent (log: $h/agent/agent.log)"
    fi
    if pid_file_alive "$h/updater.pid"; then continue; fi
    nohup "$BUILD/bin/drover-updater" run --config="$h/updater.conf" >"$h/updater.log" 2>&1 &
    echo $! >"$h/updater.pid"
  done
  echo "  demo:    $DEMO_AGENTS agents on channel \"demo\" (agent ports $((GRPC_PORT + 11))-$((GRPC_PORT + 10 + DEMO_AGENTS)), logs in $demo)"
  echo "           try: $BUILD/bin/droverctl target set demo 1.1.0 && $BUILD/bin/droverctl status demo --watch"
}

# Prometheus scraping this coordinator with Drover's rules. A failure is
# reported but leaves the coordinator running.
start_prometheus() {
  [[ $WITH_PROMETHEUS -eq 1 ]] || return 0
  local dir="$PROMETHEUS_DIR" url="http://127.0.0.1:$PROMETHEUS_PORT"
  if pid_file_alive "$dir/prometheus.pid"; then
    echo "  prometheus: $url (already running)"
    return 0
  fi
  if ! command -v prometheus >/dev/null; then
    echo "quickstart: prometheus not found: install Debian's prometheus package (deploy/install-deps.sh)" >&2
    return 0
  fi
  mkdir -p "$dir/data"
  cp "$ROOT/deploy/prometheus/drover-rules.yml" "$dir/drover-rules.yml"
  sed "s|\"127.0.0.1:7601\"|\"127.0.0.1:$METRICS_PORT\"|" "$ROOT/deploy/prometheus/prometheus.yml" >"$dir/prometheus.yml"
  nohup prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" >"$dir/prometheus.log" 2>&1 &
  echo $! >"$dir/prometheus.pid"
  for _ in $(seq 300); do
    curl -sf "$url/-/ready" >/dev/null 2>&1 && break
    if ! pid_file_alive "$dir/prometheus.pid"; then
      tail -5 "$dir/prometheus.log" >&2
      rm -f "$dir/prometheus.pid"
      echo "quickstart: Prometheus failed to start on port $PROMETHEUS_PORT (log: $dir/prometheus.log)" >&2
      return 0
    fi
    sleep 0.1
  done
  curl -sf "$url/-/ready" >/dev/null 2>&1 \
    || echo "quickstart: Prometheus not ready after 30 s (log: $dir/prometheus.log)" >&2
  echo "  prometheus: $url (rules from deploy/prometheus/drover-rules.yml, data in $dir)"
}

if [[ $DETACH -eq 1 ]]; then
  nohup "$BUILD/bin/drover-coordinator" "${ARGS[@]}" >"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  for _ in $(seq 600); do
    [[ -f "$READY_FILE" ]] && break
    pid_file_alive "$PID_FILE" || { cat "$LOG_FILE" >&2; rm -f "$PID_FILE"; die "coordinator failed to start (log above)"; }
    sleep 0.1
  done
  [[ -f "$READY_FILE" ]] || die "coordinator not ready after 60 s; see $LOG_FILE"
  print_addresses
  start_demo
  start_prometheus
  echo "  log:     $LOG_FILE"
  echo "  stop:    $0 --stop"
else
  # Foreground: Ctrl-C stops the coordinator; PostgreSQL keeps running for
  # the next start ($0 --stop stops it).
  "$BUILD/bin/drover-coordinator" "${ARGS[@]}" &
  pid=$!
  echo $pid >"$PID_FILE"
  trap 'kill -TERM $pid 2>/dev/null || true' INT TERM
  for _ in $(seq 600); do
    [[ -f "$READY_FILE" ]] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  if [[ -f "$READY_FILE" ]]; then
    print_addresses
    start_demo
    start_prometheus
  fi
  set +e
  wait $pid; rc=$?
  wait $pid 2>/dev/null; rc2=$?
  [[ $rc -ge 128 ]] && rc=$rc2
  rm -f "$PID_FILE" "$READY_FILE"
  stop_demo
  stop_prometheus
  exit $rc
fi
