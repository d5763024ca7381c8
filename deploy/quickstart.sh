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
# (it prints one to try, e.g. build/bin/droverctl target set demo 1.1.0) and watch the rollout
# (build/bin/droverctl status demo --watch).
#
# --with-prometheus also starts Prometheus with deploy/prometheus/ (scrape
# config and alert rules; data under DATA_DIR/prometheus) on --prometheus-port.
#
# Options: --data-dir=DIR (default ./var), --grpc-port=N (7600),
# --metrics-port=N (7601), --watch-port=N (7602: pushed changes to the demo
# updaters), --version-port=N (7603: Teleport's version-server protocol over
# HTTPS), --pg-port=N (7632), --demo-agents=N (3; 0: none),
# --with-prometheus, --prometheus-port=N (9090), --help.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA_DIR="$ROOT/var"
GRPC_PORT=7600
METRICS_PORT=7601
WATCH_PORT=7602
VERSION_PORT=7603
PG_PORT=7632
DATABASE=""
DETACH=0
STOP=0
DEMO_AGENTS=3
WITH_PROMETHEUS=0
PROMETHEUS_PORT=9090

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
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
    --watch-port=*) WATCH_PORT=${arg#*=} ;;
    --version-port=*) VERSION_PORT=${arg#*=} ;;
    --pg-port=*) PG_PORT=${arg#*=} ;;
    --demo-agents=*) DEMO_AGENTS=${arg#*=} ;;
    --with-prometheus) WITH_PROMETHEUS=1 ;;
    --prometheus-port=*) PROMETHEUS_PORT=${arg#*=} ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$arg' (see --help)" ;;
  esac
done
[[ "$DEMO_AGENTS" =~ ^[0-9]+$ && "$DEMO_AGENTS" -le 20 ]] || die "--demo-agents '$DEMO_AGENTS' is not a number in 0..20"
for p in "$GRPC_PORT" "$METRICS_PORT" "$WATCH_PORT" "$VERSION_PORT" "$PG_PORT" "$PROMETHEUS_PORT"; do
  [[ "$p" =~ ^[0-9]+$ && "$p" -ge 1 && "$p" -le 65535 ]] || die "port '$p' is not a number in 1..65535"
done

PG="$ROOT/deploy/lib/pg.sh"
PID_FILE="$DATA_DIR/coordinator.pid"
LOG_FILE="$DATA_DIR/coordinator.log"
READY_FILE="$DATA_DIR/coordinator.ready"
PROMETHEUS_DIR="$DATA_DIR/prometheus"

# Alive and not a zombie (a child of this shell stays one until reaped).
running() {
  local state
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# Stops the processes named in pid files, each if it still runs NAME: all get
# SIGTERM at once, then together up to 10 s before SIGKILL.
#   stop_pid_files NAME FILE...
stop_pid_files() {
  local name=$1 file pid pids=() left
  shift
  for file in "$@"; do
    [[ -f "$file" ]] || continue
    pid=$(cat "$file")
    if running "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$name"; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
    rm -f "$file"
  done
  for _ in $(seq 100); do
    left=()
    for pid in "${pids[@]}"; do running "$pid" && left+=("$pid"); done
    [[ ${#left[@]} -eq 0 ]] && return 0
    pids=("${left[@]}")
    sleep 0.1
  done
  echo "quickstart: ${pids[*]} ($name) ignored SIGTERM for 10 s; sending SIGKILL" >&2
  kill -KILL "${pids[@]}" 2>/dev/null || true
}
stop_pid_file() { stop_pid_files "$2" "$1"; }

# Updaters first (so that none restarts an agent being stopped), then agents.
stop_demo() {
  stop_pid_files drover-updater "$DATA_DIR"/demo/host-*/updater.pid
  stop_pid_files demo-agent "$DATA_DIR"/demo/host-*/agent.pid
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
# Logs are appended to, never truncated: a second run keeps the first one's.
echo "quickstart: starting $(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$LOG_FILE"
LOG_START=$(wc -l <"$LOG_FILE")
STARTED_POSTGRES=0
# A coordinator that cannot start leaves no PostgreSQL of ours behind.
stop_started_postgres() {
  [[ $STARTED_POSTGRES -eq 1 ]] || return 0
  "$PG" stop "$DATA_DIR/postgres" && echo "quickstart: PostgreSQL stopped (the coordinator did not start)" >&2
}
if [[ -z "$DATABASE" ]]; then
  "$PG" status "$DATA_DIR/postgres" >/dev/null 2>&1 || STARTED_POSTGRES=1
  "$PG" init "$DATA_DIR/postgres"
  "$PG" start "$DATA_DIR/postgres" "$PG_PORT"
  "$PG" createdb "$DATA_DIR/postgres" "$PG_PORT" drover
  DATABASE=$("$PG" url "$DATA_DIR/postgres" "$PG_PORT" drover)
  echo "quickstart: PostgreSQL running on 127.0.0.1:$PG_PORT (data in $DATA_DIR/postgres)"
fi

# TLS even locally: the fleet's CA and the coordinator's certificate, made
# once (keys 0600); updaters enrol with join tokens, droverctl verifies the
# coordinator against the CA.
TLS_DIR="$DATA_DIR/tls"
if [[ ! -f "$TLS_DIR/ca.pem" ]]; then
  "$BUILD/bin/drover-coordinator" ca init --ca_dir="$TLS_DIR" --fleet=quickstart >/dev/null \
    || die "could not create the CA in $TLS_DIR"
fi
rm -f "$READY_FILE"
# The URL holds the database password: it goes to the coordinator in a file
# only this user can read, never on its command line (visible in ps).
DB_URL_FILE="$DATA_DIR/database.url"
(umask 077 && printf '%s\n' "$DATABASE" >"$DB_URL_FILE.tmp" && mv "$DB_URL_FILE.tmp" "$DB_URL_FILE")
ARGS=(--database_url_file="$DB_URL_FILE" --grpc_listen="127.0.0.1:$GRPC_PORT" --metrics_listen="127.0.0.1:$METRICS_PORT"
      --watch_listen="127.0.0.1:$WATCH_PORT" --version_server_listen="127.0.0.1:$VERSION_PORT"
      --ready_file="$READY_FILE" --fleet=quickstart
      --tls_cert_file="$TLS_DIR/server.pem" --tls_key_file="$TLS_DIR/server.key"
      --host_ca_cert_file="$TLS_DIR/ca.pem" --host_ca_key_file="$TLS_DIR/ca.key")

# An admin identity for droverctl: the operator API wants a token. Made once,
# straight in the database, kept 0600 under the demo directory.
TOKEN_FILE="$DATA_DIR/demo/admin.token"
mkdir -p "$DATA_DIR/demo"
if [[ ! -s "$TOKEN_FILE" ]]; then
  rm -f "$TOKEN_FILE"
  DROVER_DATABASE_URL="$DATABASE" "$BUILD/bin/drover-coordinator" operators create \
    --name="quickstart-$(date -u +%Y%m%d%H%M%S)" --role=admin --token_file="$TOKEN_FILE" >>"$LOG_FILE" 2>&1 \
    || die "could not create the admin token for droverctl (log: $LOG_FILE)"
fi
export DROVER_TOKEN_FILE="$TOKEN_FILE"

# Signed target metadata. The root key belongs OFFLINE (it certifies every
# targets key); this demo keeps it in $DATA_DIR/keys/root for convenience. The
# coordinator holds the online targets key; the updaters pin root.pub.
KEYS="$DATA_DIR/keys"
mkdir -p "$KEYS/root" "$KEYS/targets" && chmod 700 "$KEYS" "$KEYS/root" "$KEYS/targets"
[[ -f "$KEYS/root/root.key" ]] || "$BUILD/bin/droverctl" keys create-root --out-dir="$KEYS/root" >/dev/null
[[ -f "$KEYS/targets/targets.key" ]] || "$BUILD/bin/droverctl" keys create-targets \
  --root-key="$KEYS/root/root.key" --out-dir="$KEYS/targets" >/dev/null
ARGS+=(--targets_key_file="$KEYS/targets/targets.key" --root_public_key_file="$KEYS/root/root.pub"
       --delegation_file="$KEYS/targets/delegation.pb")

print_addresses() {
  echo "quickstart: coordinator ready"
  echo "  gRPC:    $(sed -n 's/^grpc=//p' "$READY_FILE")"
  echo "  metrics: http://$(sed -n 's/^metrics=//p' "$READY_FILE")/metrics"
  echo "  watch:   $(sed -n 's/^watch=//p' "$READY_FILE") (pushed changes: updaters with watch: set get a pass within a second)"
  local version_url
  version_url=$(sed -n 's/^version=//p' "$READY_FILE")
  echo "  version: $version_url (Teleport's version-server protocol; try: curl --cacert $TLS_DIR/ca.pem ${version_url}demo/version)"
}

# Demo agents, each managed by its own updater through signed tarballs.
start_demo() {
  [[ "$DEMO_AGENTS" -gt 0 ]] || return 0
  local demo="$DATA_DIR/demo" ctl=("$BUILD/bin/droverctl" --coordinator="127.0.0.1:$GRPC_PORT" --ca_file="$TLS_DIR/ca.pem") out rc i
  mkdir -p "$demo"
  # The signing key stays out of the directory the updaters read tarballs
  # from (an earlier run kept it there: move it, so signatures stay valid).
  mkdir -p "$demo/keys" && chmod 700 "$demo/keys"
  if [[ -f "$demo/tarballs/tarball-key.pem" && ! -f "$demo/keys/tarball-key.pem" ]]; then
    mv "$demo/tarballs/tarball-key.pem" "$demo/keys/tarball-key.pem"
  fi
  rm -f "$demo/tarballs/tarball-key.pem" "$demo/tarballs/tarball-key.pub.pem"
  "$ROOT/tests/fixtures/make_tarballs.sh" "$demo/tarballs" "$BUILD/bin" "$demo/keys" >/dev/null
  set +e
  out=$("${ctl[@]}" channels create demo --control-plane=1.3.0 --target=1.0.0 --poll-interval=5s 2>&1); rc=$?
  set -e
  [[ $rc -eq 0 || $rc -eq 7 ]] || die "creating the demo channel failed: $out"
  for i in $(seq "$DEMO_AGENTS"); do
    local h="$demo/host-$i" port=$((GRPC_PORT + 10 + i))
    mkdir -p "$h"
    # A host without a certificate gets a join token to enrol with (a file, mode 600).
    if [[ ! -f "$h/state/identity/host.pem" ]]; then
      (umask 077 && "${ctl[@]}" tokens create --channel=demo --ttl=1h >"$h/join-token" 2>/dev/null) \
        || die "could not create a join token for demo host $i"
    fi
    cat >"$h/updater.conf" <<CONF
coordinator: "127.0.0.1:$GRPC_PORT"
coordinator_ca_file: "$TLS_DIR/ca.pem"
join_token_file: "$h/join-token"
channel: "demo"
watch: "127.0.0.1:$WATCH_PORT"
host_id: "demo-host-$i"
state_dir: "$h/state"
root_public_key_file: "$KEYS/root/root.pub"
agent {
  name: "demo-agent"
  tarball { base: "$demo/tarballs" public_key_file: "$demo/keys/tarball-key.pub.pem" install_dir: "$h/agent" }
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
    nohup "$BUILD/bin/drover-updater" run --config="$h/updater.conf" >>"$h/updater.log" 2>&1 &
    echo $! >"$h/updater.pid"
  done
  echo "  demo:    $DEMO_AGENTS agents on channel \"demo\" (agent ports $((GRPC_PORT + 11))-$((GRPC_PORT + 10 + DEMO_AGENTS)), logs in $demo)"
  echo "           droverctl's admin token: export DROVER_TOKEN_FILE=$TOKEN_FILE"
  echo "           try: $BUILD/bin/droverctl --coordinator=127.0.0.1:$GRPC_PORT --ca_file=$TLS_DIR/ca.pem target set demo $(next_demo_target "$demo" "${ctl[@]}") && $BUILD/bin/droverctl --coordinator=127.0.0.1:$GRPC_PORT --ca_file=$TLS_DIR/ca.pem status demo --watch"
}

# The target to suggest: the demo version after the channel's current target,
# or, past the last one, the one before it (a roll-back).
next_demo_target() {
  local demo=$1 current versions v prev=""
  shift
  current=$("$@" --output=json status demo 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin).get("target_version", ""))' 2>/dev/null) || current=""
  versions=$(ls "$demo/tarballs" | sed -n 's/^demo-agent-\(.*\)\.tar\.gz$/\1/p' | sort -V)
  for v in $versions; do
    if [[ -z "$current" || $(printf '%s\n%s\n' "$current" "$v" | sort -V | tail -1) == "$v" && "$v" != "$current" ]]; then
      echo "$v"
      return
    fi
    [[ "$v" == "$current" ]] || prev=$v
  done
  echo "$prev --allow-downgrade"
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
  nohup "$BUILD/bin/drover-coordinator" "${ARGS[@]}" >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  for _ in $(seq 600); do
    [[ -f "$READY_FILE" ]] && break
    if ! pid_file_alive "$PID_FILE"; then
      tail -n +"$LOG_START" "$LOG_FILE" >&2
      rm -f "$PID_FILE"
      stop_started_postgres
      die "coordinator failed to start (log above, and in $LOG_FILE)"
    fi
    sleep 0.1
  done
  if [[ ! -f "$READY_FILE" ]]; then
    stop_pid_file "$PID_FILE" drover-coordinator
    stop_started_postgres
    die "coordinator not ready after 60 s; see $LOG_FILE"
  fi
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
  else
    stop_started_postgres
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
