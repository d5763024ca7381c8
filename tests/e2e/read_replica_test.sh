#!/usr/bin/env bash
# --database_read_url against a real streaming replica (issue 17): a primary
# and a hot standby made with pg_basebackup, a coordinator reading agents
# from the standby. Shown by pausing the standby's replay: what the primary
# gained meanwhile is not listed until replay resumes, while rollout status
# (which must agree with what an operator just set) reads the primary. With
# the standby stopped, the same reads go to the primary and
# drover_database_read_fallbacks_total counts them. Writes never go to the
# standby (the bench's reports are all acknowledged).
# Environment: DROVER_BIN_DIR (default build/bin).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DROVER_BIN_DIR:-$ROOT/build/bin}
PG="$ROOT/deploy/lib/pg.sh"
# shellcheck source=tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
for b in drover-coordinator drover-bench droverctl; do
  [[ -x "$BIN/$b" ]] || fail "$BIN/$b not built (set DROVER_BIN_DIR or build the $b target)"
done

TMP=$(mktemp -d /tmp/drover-replica.XXXXXX)
PRIMARY=$(mktemp -d /tmp/drover-replica-primary.XXXXXX)  # pg.sh hands them to user postgres
STANDBY=$(mktemp -d /tmp/drover-replica-standby.XXXXXX)
COORD_PID=""
cleanup() {
  local rc=$?
  stop_pid "$COORD_PID"
  "$PG" stop "$STANDBY" immediate >/dev/null 2>&1 || true
  "$PG" stop "$PRIMARY" immediate >/dev/null 2>&1 || true
  if [[ $rc -ne 0 && -s "$TMP/coordinator.log" ]]; then
    echo "--- last lines of coordinator.log" >&2
    tail -20 "$TMP/coordinator.log" >&2
  fi
  rm -rf "$TMP" "$PRIMARY" "$STANDBY"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_postgres() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

# 1. The primary, and a standby streaming from it (initdb's pg_hba.conf lets
# the bootstrap superuser replicate over 127.0.0.1).
P_PORT=$(free_port)
"$PG" init "$PRIMARY"
"$PG" start "$PRIMARY" "$P_PORT"
"$PG" createdb "$PRIMARY" "$P_PORT" drover
PRIMARY_URL=$("$PG" url "$PRIMARY" "$P_PORT" drover)
S_PORT=$(free_port)
cp "$PRIMARY/password" "$STANDBY/password"
mkdir -p "$STANDBY/run"
chmod 700 "$STANDBY"
[[ $(id -u) -ne 0 ]] || chown -R postgres: "$STANDBY"
as_postgres "$PGBIN/pg_basebackup" -D "$STANDBY/data" -R -X stream --checkpoint=fast \
  -d "$("$PG" url "$PRIMARY" "$P_PORT" postgres)" >"$TMP/basebackup.log" 2>&1 \
  || { cat "$TMP/basebackup.log" >&2; fail "pg_basebackup failed"; }
# Its own socket directory (the copied configuration names the primary's).
echo "unix_socket_directories = '$STANDBY/run'" | as_postgres tee -a "$STANDBY/data/postgresql.conf" >/dev/null
"$PG" start "$STANDBY" "$S_PORT"
STANDBY_URL=$("$PG" url "$STANDBY" "$S_PORT" drover)
[[ $(psql -X -A -t "$STANDBY_URL" -c "SELECT pg_is_in_recovery()") == t ]] || fail "the standby is not in recovery"

# 2. The coordinator: writes to the primary, the reads of its flag to the standby.
(umask 077 && printf '%s\n' "$PRIMARY_URL" >"$TMP/primary.url" && printf '%s\n' "$STANDBY_URL" >"$TMP/standby.url")
# A URL with a password is refused in argv, named.
rc=0
out=$("$BIN/drover-coordinator" --database_url_file="$TMP/primary.url" --database_read_url="$STANDBY_URL" \
  --insecure 2>&1) || rc=$?
[[ $rc -ne 0 && $out == *"--database_read_url holds a password"*"--database_read_url_file=FILE"* ]] \
  || fail "a read URL with a password in argv was not refused by name (exit $rc): $out"
"$BIN/drover-coordinator" --database_url_file="$TMP/primary.url" --database_read_url_file="$TMP/standby.url" \
  --grpc_listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --fleet_refresh=200ms --ready_file="$TMP/ready" \
  --report_rate_per_host=0 --insecure >"$TMP/coordinator.log" 2>&1 &
COORD_PID=$!
wait_for 60 "the coordinator ready" test -s "$TMP/ready"
GRPC=$(sed -n 's/^grpc=//p' "$TMP/ready")
METRICS=$(sed -n 's/^metrics=//p' "$TMP/ready")
CTL=("$BIN/droverctl" --coordinator="$GRPC" --insecure)

# 3. Twenty hosts report (to the primary); the standby lists them once replayed.
"$BIN/drover-bench" --target="$GRPC" --hosts=20 --duration=1 --noop_duration=0 --warmup_ms=0 --threads=1 \
  --concurrency=4 --handshake_duration=0 --populate_timeout=60 --channel_id=bench >"$TMP/bench.log" 2>&1 \
  || { tail -20 "$TMP/bench.log" >&2; fail "drover-bench failed"; }
agents_listed() { "${CTL[@]}" agents list --channel=bench --output=json | grep -c '"host_id"' || true; }
total_agents() { "${CTL[@]}" status bench --output=json | sed -n 's/.*"total_agents": *"\([0-9]*\)".*/\1/p' | head -1; }
wait_for 30 "20 agents listed from the standby" test "$(agents_listed)" -eq 20

# 4. Replay paused: ten more hosts reach the primary, not the standby's lists.
psql -X -q "$STANDBY_URL" -c "SELECT pg_wal_replay_pause()" >/dev/null
wait_for 10 "replay paused" test "$(psql -X -A -t "$STANDBY_URL" -c "SELECT pg_get_wal_replay_pause_state()")" = paused
"$BIN/drover-bench" --target="$GRPC" --hosts=10 --duration=1 --noop_duration=0 --warmup_ms=0 --threads=1 \
  --concurrency=4 --handshake_duration=0 --populate_timeout=60 --channel_id=bench --host_prefix=late- \
  >"$TMP/bench2.log" 2>&1 || { tail -20 "$TMP/bench2.log" >&2; fail "second drover-bench failed"; }
[[ $(psql -X -A -t "$PRIMARY_URL" -c "SELECT count(*) FROM agents") == 30 ]] || fail "the primary does not hold 30 agents"
[[ $(agents_listed) -eq 20 ]] || fail "agents list did not read the paused standby: $(agents_listed) agents"
rc=0
out=$("${CTL[@]}" agents show late-0000000 2>&1) || rc=$?
[[ $rc -ne 0 && $out == *"not found"* ]] || fail "agents show did not read the paused standby (exit $rc): $out"
[[ $(total_agents) == 30 ]] || fail "status must read the primary: total_agents $(total_agents), want 30"
psql -X -q "$STANDBY_URL" -c "SELECT pg_wal_replay_resume()" >/dev/null
wait_for 30 "30 agents listed once replay resumed" test "$(agents_listed)" -eq 30
"${CTL[@]}" agents show late-0000000 >/dev/null || fail "agents show after replay resumed"

# 5. The standby stops: the same reads go to the primary, counted.
"$PG" stop "$STANDBY" immediate
[[ $(agents_listed) -eq 30 ]] || fail "agents list failed with the standby down"
"${CTL[@]}" agents show late-0000000 >/dev/null || fail "agents show failed with the standby down"
fallbacks_counted() {
  local v
  v=$(curl -fsS "http://$METRICS/metrics" | sed -n 's/^drover_database_read_fallbacks_total \([0-9.e+]*\)$/\1/p')
  awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }'
}
wait_for 10 "drover_database_read_fallbacks_total > 0" fallbacks_counted
kill -0 "$COORD_PID" 2>/dev/null || fail "the coordinator exited"
echo "read_replica_test: agent reads served by the standby (stale while paused), by the primary when it is down; status by the primary"
