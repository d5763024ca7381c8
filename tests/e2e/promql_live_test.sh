#!/usr/bin/env bash
# Every PromQL expression of dashboards/*.json and deploy/prometheus/drover-rules.yml
# against a real Prometheus (Debian's package) scraping a real coordinator on a
# real PostgreSQL, fed by drover-bench: each must parse and return series
# (tests/e2e/promql_check.py says how alerts are checked).
#
# The fleet: a 20000-host bench run (heartbeats, then changes with update
# outcomes), a second small run (reports older than the stored ones,
# CreateChannel ALREADY_EXISTS), then PostgreSQL is stopped so that the
# database-error series exist too.
# Environment: DROVER_BIN_DIR (default build/bin), PROMETHEUS (default prometheus),
# PROMQL_CHECK_DEADLINE (seconds the checks may take to pass, default 90).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DROVER_BIN_DIR:-$ROOT/build/bin}
PROMETHEUS=${PROMETHEUS:-prometheus}
PG="$ROOT/deploy/lib/pg.sh"
# shellcheck source=tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"

for b in drover-coordinator drover-bench droverctl; do
  [[ -x "$BIN/$b" ]] || fail "$BIN/$b not built (set DROVER_BIN_DIR or build the $b target)"
done
command -v "$PROMETHEUS" >/dev/null || fail "$PROMETHEUS not found: install Debian's prometheus package (deploy/install-deps.sh)"

TMP=$(mktemp -d /tmp/drover-promql.XXXXXX)
PGDIR=$(mktemp -d /tmp/drover-promql-pg.XXXXXX)  # pg.sh hands it to user postgres
COORD_PID="" PROM_PID=""

cleanup() {
  local rc=$?
  stop_pid "$PROM_PID"
  stop_pid "$COORD_PID"
  "$PG" stop "$PGDIR" immediate >/dev/null 2>&1 || true
  if [[ $rc -ne 0 ]]; then
    for log in coordinator.log prometheus.log bench.log bench2.log bench3.log droverctl.log; do
      [[ -s "$TMP/$log" ]] && { echo "--- last lines of $log" >&2; tail -15 "$TMP/$log" >&2; }
    done
  fi
  rm -rf "$TMP" "$PGDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

alive() { kill -0 "$1" 2>/dev/null || fail "$2 exited (log: $TMP/$3)"; }

# 1. PostgreSQL and the coordinator.
PG_PORT=$(free_port)
"$PG" init "$PGDIR"
"$PG" start "$PGDIR" "$PG_PORT"
"$PG" createdb "$PGDIR" "$PG_PORT" drover
DATABASE=$("$PG" url "$PGDIR" "$PG_PORT" drover)

# The URL holds a password: from a file, never argv (the coordinator refuses that).
(umask 077 && printf '%s\n' "$DATABASE" >"$TMP/database.url")
"$BIN/drover-coordinator" --database_url_file="$TMP/database.url" --grpc_listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
  --fleet_refresh=1s --ready_file="$TMP/ready" --insecure >"$TMP/coordinator.log" 2>&1 &
COORD_PID=$!
coordinator_ready() {
  alive "$COORD_PID" "the coordinator" coordinator.log
  grep -q '^metrics=' "$TMP/ready" 2>/dev/null && grep -q '^grpc=' "$TMP/ready"
}
wait_for 60 "coordinator ready file" coordinator_ready
GRPC=$(sed -n 's/^grpc=//p' "$TMP/ready")
METRICS=$(sed -n 's/^metrics=//p' "$TMP/ready")

# 2. Prometheus with our config and rules, scraping and evaluating every second.
mkdir -p "$TMP/prometheus"
cp "$ROOT/deploy/prometheus/drover-rules.yml" "$TMP/prometheus/"
sed -e "s|\"127.0.0.1:7601\"|\"$METRICS\"|" -e 's#^\(  *\)\(scrape\|evaluation\)_interval: .*#\1\2_interval: 1s#' \
  "$ROOT/deploy/prometheus/prometheus.yml" >"$TMP/prometheus/prometheus.yml"
grep -q "\"$METRICS\"" "$TMP/prometheus/prometheus.yml" \
  || fail "deploy/prometheus/prometheus.yml no longer has the target \"127.0.0.1:7601\" this test rewrites"
[[ $(grep -c '_interval: 1s$' "$TMP/prometheus/prometheus.yml") -eq 2 ]] \
  || fail "deploy/prometheus/prometheus.yml lacks the global scrape_interval/evaluation_interval this test rewrites"
PROM_PORT=$(free_port)
PROM="http://127.0.0.1:$PROM_PORT"
"$PROMETHEUS" --config.file="$TMP/prometheus/prometheus.yml" --storage.tsdb.path="$TMP/prometheus/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$TMP/prometheus.log" 2>&1 &
PROM_PID=$!
prometheus_ready() { alive "$PROM_PID" Prometheus prometheus.log; curl -sf "$PROM/-/ready" >/dev/null; }
wait_for 60 "Prometheus ready on $PROM" prometheus_ready
# Has at least one successful scrape of the coordinator.
scraped() {
  curl -sf "$PROM/api/v1/query" --data-urlencode 'query=up{job="drover-coordinator"} == 1' | grep -q '"value"'
}
wait_for 60 "Prometheus scraping the coordinator at $METRICS" scraped

# 3. A simulated fleet. The change phase moves each host it visits between
# 15.1.0 and 15.2.0 (the target), so the on-target share (and the convergence
# estimate, which needs it growing) rises only while the phase visits fewer
# hosts than there are: 1 s at this machine's rates is well under 20000.
timeout 120 "$BIN/drover-bench" --target="$GRPC" --hosts=20000 --duration=1 --noop_duration=0 --warmup_ms=0 --threads=1 \
  --concurrency=64 --populate_timeout=60 --channel_id=bench >"$TMP/bench.log" 2>&1 || fail "drover-bench failed (log: bench.log)"
# Hosts 0-9 again from sequence 1: older than stored (OUT_OF_ORDER); the channel exists: ALREADY_EXISTS.
timeout 60 "$BIN/drover-bench" --target="$GRPC" --hosts=10 --duration=1 --noop_duration=0 --warmup_ms=0 --threads=1 \
  --concurrency=4 --populate_timeout=30 --channel_id=bench >"$TMP/bench2.log" 2>&1 || fail "second drover-bench failed (log: bench2.log)"
alive "$COORD_PID" "the coordinator" coordinator.log
# A new target on a channel of its own (so the bench channel's convergence
# series keep growing) starts a staged rollout: its series exist from then on.
# Hosts of their own too: reports of host-0000000.. from sequence 1 again are
# older than what is stored, so those hosts would stay in "bench", leave
# "staged" without hosts and its rollout done at once (no live series).
timeout 60 "$BIN/drover-bench" --target="$GRPC" --hosts=10 --duration=1 --noop_duration=0 --warmup_ms=0 --threads=1 \
  --concurrency=4 --populate_timeout=30 --channel_id=staged --host_prefix=staged- >"$TMP/bench3.log" 2>&1 || fail "third drover-bench failed (log: bench3.log)"
CTL=("$BIN/droverctl" --coordinator="$GRPC" --insecure)
"${CTL[@]}" control-plane set staged 15.3.0 >"$TMP/droverctl.log" 2>&1 || fail "droverctl control-plane set (log: droverctl.log)"
"${CTL[@]}" target set staged 15.3.0 >>"$TMP/droverctl.log" 2>&1 || fail "droverctl target set (log: droverctl.log)"
rollout_exported() {
  local m  # read whole: `curl | grep -q` fails under pipefail when grep quits first
  m=$(curl -sf "http://$METRICS/metrics") && grep -q '^drover_rollout_group_state{' <<<"$m"
}
wait_for 30 "rollout series on $METRICS" rollout_exported

# 4. The database goes away: the coordinator counts errors, keeps its gauges.
"$PG" stop "$PGDIR" immediate
# Until the new series have enough samples for rate() and every check passes.
python3 "$ROOT/tests/e2e/promql_check.py" "$PROM" "$ROOT/dashboards" "${PROMQL_CHECK_DEADLINE:-90}"
alive "$COORD_PID" "the coordinator" coordinator.log
alive "$PROM_PID" Prometheus prometheus.log
echo "promql_live_test: all checks passed"
