#!/usr/bin/env bash
# The version server (Teleport protocol) under load from wrk, a plain HTTP
# load generator: a throwaway PostgreSQL, a coordinator with
# --version_server_listen and TLS (its fleet CA's certificate), one channel
# with a target, then wrk on GET /v1/<channel>/version with keep-alive
# connections, over HTTPS and over plain HTTP (--version_server_plaintext,
# the coordinator restarted). Per run: requests/s, p99 latency, and the
# coordinator's CPU per request (its utime+stime over the run / requests),
# which shows what an answer costs the coordinator with the caches warm.
# wrk and the coordinator share this machine's cores: requests/s is bounded
# by both.
# Usage: bench/version_server.sh [SECONDS] [CONNECTIONS]   (default 10, 64)
# Environment: DROVER_BUILD_DIR, DROVER_SKIP_BUILD=1.
# Progress goes to stderr; the last line of stdout is
#   https_rps=... https_p99_ms=... https_cpu_us=... http_rps=... http_p99_ms=... http_cpu_us=... non_200=...
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
PG="$ROOT/deploy/lib/pg.sh"
BINS=(drover-coordinator droverctl)
DURATION=${1:-10}
CONNS=${2:-64}
log() { echo "version_server.sh: $*" >&2; }
die() { log "$*"; exit 1; }
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || { log "seconds \"$DURATION\" is not a positive number"; exit 2; }
[[ "$CONNS" =~ ^[1-9][0-9]*$ ]] || { log "connections \"$CONNS\" is not a positive number"; exit 2; }
command -v wrk >/dev/null || die "wrk is not installed (deploy/install-deps.sh installs it)"

if [[ -z "${DROVER_SKIP_BUILD:-}" ]]; then
  if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2 || die "cmake failed"
  fi
  cmake --build "$BUILD" -j2 --target "${BINS[@]}" >&2 || die "build failed in $BUILD"
fi
for bin in "${BINS[@]}"; do
  [[ -x "$BUILD/bin/$bin" ]] || die "$BUILD/bin/$bin is missing: build it, or unset DROVER_SKIP_BUILD"
done

TMP=$(mktemp -d -t drover-vsbench.XXXXXX)
chmod 755 "$TMP"  # pg.sh runs PostgreSQL as 'postgres' when we are root
COORD_PID=""
PG_STARTED=0
cleanup() {
  local rc=$?
  if [[ -n "$COORD_PID" ]] && kill -0 "$COORD_PID" 2>/dev/null; then
    kill -KILL "$COORD_PID" 2>/dev/null || true
    wait "$COORD_PID" 2>/dev/null || true
  fi
  if [[ $PG_STARTED -eq 1 ]]; then "$PG" stop "$TMP/pg" immediate >/dev/null 2>&1 || true; fi
  if [[ $rc -ne 0 && -s "$TMP/coordinator.log" ]]; then tail -20 "$TMP/coordinator.log" >&2; fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
"$PG" createdb "$TMP/pg" "$PG_PORT" drover_vs >&2
(umask 077 && "$PG" url "$TMP/pg" "$PG_PORT" drover_vs >"$TMP/database.url")
"$BUILD/bin/drover-coordinator" ca init --ca_dir="$TMP/tls" --fleet=bench >/dev/null
DROVER_DATABASE_URL=$(cat "$TMP/database.url") "$BUILD/bin/drover-coordinator" operators create --name=bench \
  --role=admin --token_file="$TMP/admin.token" >/dev/null 2>&1 || die "operators create failed"

# start_coordinator [FLAGS...]: starts it, waits for its ready file.
start_coordinator() {
  rm -f "$TMP/ready"
  "$BUILD/bin/drover-coordinator" --database_url_file="$TMP/database.url" --grpc_listen=127.0.0.1:0 \
    --metrics_listen=127.0.0.1:0 --version_server_listen=127.0.0.1:0 --ready_file="$TMP/ready" \
    --tls_cert_file="$TMP/tls/server.pem" --tls_key_file="$TMP/tls/server.key" \
    --host_ca_cert_file="$TMP/tls/ca.pem" --host_ca_key_file="$TMP/tls/ca.key" --fleet=bench \
    --get_target_rate_per_peer=0 "$@" 2>>"$TMP/coordinator.log" &
  COORD_PID=$!
  local deadline=$((SECONDS + 60))
  until [[ -s "$TMP/ready" ]]; do
    kill -0 "$COORD_PID" 2>/dev/null || die "the coordinator exited during start-up"
    ((SECONDS < deadline)) || die "the coordinator was not ready within 60 s"
    sleep 0.05
  done
}
stop_coordinator() {
  kill -TERM "$COORD_PID"
  wait "$COORD_PID" 2>/dev/null || true
  COORD_PID=""
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run NAME: wrk against the running coordinator; sets NAME_rps, NAME_p99_ms, NAME_cpu_us.
NON_200=0
run() {
  local name=$1 url ticks0 ticks1 out rps p99 reqs non2xx
  url="$(sed -n 's/^version=//p' "$TMP/ready")stable/cloud/version"
  [[ $(curl -fsS --cacert "$TMP/tls/ca.pem" "$url") == v15.1.3 ]] || die "$name: $url does not answer v15.1.3"
  ticks0=$(cpu_ticks "$COORD_PID")
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$url")
  ticks1=$(cpu_ticks "$COORD_PID")
  echo "$out" >&2
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
  NON_200=$((NON_200 + ${non2xx:-0}))
  # "99%  1.23ms" (or us, s) -> milliseconds.
  p99=$(awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
          if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.2f", v }' <<<"$out")
  [[ -n "$rps" && -n "$reqs" && -n "$p99" ]] || die "$name: cannot read wrk's output"
  printf -v "${name}_rps" '%.0f' "$rps"
  printf -v "${name}_p99_ms" '%s' "$p99"
  printf -v "${name}_cpu_us" '%.1f' "$(awk -v t=$((ticks1 - ticks0)) -v hz="$(getconf CLK_TCK)" -v n="$reqs" \
    'BEGIN { print t / hz * 1e6 / n }')"
  log "$name: ${rps} requests/s, p99 ${p99} ms"
}

start_coordinator
GRPC=$(sed -n 's/^grpc=//p' "$TMP/ready")
CTL=("$BUILD/bin/droverctl" --coordinator="$GRPC" --ca_file="$TMP/tls/ca.pem" --token-file="$TMP/admin.token")
"${CTL[@]}" channels create stable/cloud --control-plane=15.2.0 --target=15.1.3 >/dev/null
log "wrk: ${DURATION}s, $CONNS keep-alive connections, 2 threads, over HTTPS"
run https
stop_coordinator
start_coordinator --version_server_plaintext
log "wrk: ${DURATION}s, $CONNS keep-alive connections, 2 threads, over plain HTTP"
run http
stop_coordinator
echo "https_rps=$https_rps https_p99_ms=$https_p99_ms https_cpu_us=$https_cpu_us" \
  "http_rps=$http_rps http_p99_ms=$http_p99_ms http_cpu_us=$http_cpu_us non_200=$NON_200"
