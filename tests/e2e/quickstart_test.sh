#!/usr/bin/env bash
# deploy/quickstart.sh end to end: first run creates PostgreSQL under the data
# directory, a second run reuses it (appending to the logs, and suggesting a
# target the channel accepts), --stop stops everything quickly, a coordinator
# that cannot start leaves no PostgreSQL running, and bad options fail with a
# message naming them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QS="$ROOT/deploy/quickstart.sh"
DIR=$(mktemp -d /tmp/drover-qs.XXXXXX)
chmod 755 "$DIR"  # PostgreSQL runs as user postgres and must reach $DIR/var
# shellcheck source=tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"  # free_port
G=$(free_port); M=$(free_port); P=$(free_port); W=$(free_port); V=$(free_port)
OPTS=(--data-dir="$DIR/var" --grpc-port="$G" --metrics-port="$M" --watch-port="$W" --version-port="$V" --pg-port="$P")
cleanup() { "$QS" --stop "${OPTS[@]}" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT

out=$("$QS" --detach "${OPTS[@]}" 2>&1) || fail "first start: $out"
first_out=$out
grep -q "gRPC:    127.0.0.1:$G" <<<"$out" || fail "gRPC address not printed: $out"
grep -q "metrics: http://127.0.0.1:$M/metrics" <<<"$out" || fail "metrics address not printed: $out"
metrics=$(curl -sf "http://127.0.0.1:$M/metrics") || fail "metrics not served"
grep -q "^drover_build_info{" <<<"$metrics" || fail "no drover_build_info in /metrics"
[[ -f "$DIR/var/postgres/data/PG_VERSION" ]] || fail "PostgreSQL data directory not created"

out=$("$QS" --detach "${OPTS[@]}" 2>&1) && fail "second start while running should fail"
grep -q "already running" <<<"$out" || fail "no clear message for a second start: $out"

# The demo fleet: three agents, each with its own updater, install the
# channel's target; a new target rolls out to all of them.
BIN=${DROVER_BUILD_DIR:-$ROOT/build}/bin
CTL=("$BIN/droverctl" --coordinator="127.0.0.1:$G" --ca_file="$DIR/var/tls/ca.pem")
# The admin token the quickstart made, as its hint says; 0600.
export DROVER_TOKEN_FILE="$DIR/var/demo/admin.token"
[[ $(stat -c %a "$DROVER_TOKEN_FILE") == 600 ]] || fail "the admin token file is not mode 0600"
grep -q "export DROVER_TOKEN_FILE=$DROVER_TOKEN_FILE" <<<"$first_out" || fail "no DROVER_TOKEN_FILE hint: $first_out"
poll() {  # poll SECONDS COMMAND...: until COMMAND succeeds, or fail
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [[ $(date +%s) -lt $deadline ]] || return 1
    sleep 0.2
  done
}
on_target() { "${CTL[@]}" --output=json status demo | tr -d ' \n' | grep -q "\"on_target\":\"$1\""; }
poll 60 on_target 3 || fail "demo agents did not reach the first target: $("${CTL[@]}" status demo 2>&1)"
"${CTL[@]}" target set demo 1.1.0 >/dev/null || fail "could not set the demo target"
poll 90 on_target 3 || fail "demo rollout to 1.1.0 did not finish: $("${CTL[@]}" status demo 2>&1)"
# The version server it prints answers Teleport's protocol for the demo
# channel, over HTTPS verified by the quickstart's CA.
grep -q "version: https://127.0.0.1:$V/v1/ (Teleport's version-server protocol" <<<"$first_out" \
  || fail "the version-server URL is not printed: $first_out"
# An anonymous client is one of the catch-all: held at the rollout's start
# version (1.0.0) until the last group has baked, then told 1.1.0.
vs=$(curl -sS --cacert "$DIR/var/tls/ca.pem" "https://127.0.0.1:$V/v1/demo/version") \
  || fail "the version server does not answer for demo"
[[ $vs == v1.0.0 || $vs == v1.1.0 ]] || fail "the version server answers '$vs' for demo, want v1.0.0 or v1.1.0"
[[ $(curl -sS --cacert "$DIR/var/tls/ca.pem" "https://127.0.0.1:$V/v1/demo/critical") == no ]] \
  || fail "the version server's critical answer for demo is not no"
# The demo updaters follow the watch endpoint: each connected, and the
# target change was pushed to them.
for i in 1 2 3; do
  grep -q "watch 127.0.0.1:$W: connected" "$DIR/var/demo/host-$i/updater.log" \
    || fail "demo updater $i did not connect to the watch endpoint: $(tail -5 "$DIR/var/demo/host-$i/updater.log")"
done
grep -q "the coordinator announced a change of this host's answer" "$DIR"/var/demo/host-*/updater.log \
  || fail "no demo updater was pushed the target change"
[[ $(curl -sf "http://127.0.0.1:$((G + 11))/version") == 1.1.0 ]] || fail "demo agent 1 does not run 1.1.0"
# Secure by default: TLS only, and the demo updaters enrolled for certificates.
"$BIN/droverctl" --insecure --coordinator="127.0.0.1:$G" --timeout=2s channels list >/dev/null 2>&1 \
  && fail "the quickstart coordinator answered plaintext"
[[ -f "$DIR/var/demo/host-1/state/identity/host.pem" ]] || fail "demo updater 1 did not enrol"
[[ $(stat -c %a "$DIR/var/demo/host-1/state/identity/host.key") == 600 ]] || fail "demo host key is not mode 600"
[[ $(stat -c %a "$DIR/var/tls/ca.key") == 600 ]] || fail "the CA key is not mode 600"

# The demo's private signing key is not where the updaters read tarballs.
grep -rlq "PRIVATE KEY" "$DIR/var/demo/tarballs" && fail "a private key sits in the tarball directory: $(grep -rl "PRIVATE KEY" "$DIR/var/demo/tarballs")"
grep -q "PRIVATE KEY" "$DIR/var/demo/keys/tarball-key.pem" || fail "the demo signing key is not in $DIR/var/demo/keys"
# What the first run logged, to find again after the second.
first_coordinator_line=$(head -1 "$DIR/var/coordinator.log")
first_updater_line=$(head -1 "$DIR/var/demo/host-1/updater.log")
[[ -n "$first_updater_line" ]] || fail "updater 1 logged nothing"
# The database password is on no command line (ps shows those to everyone):
# the coordinator reads its URL from a file only its user can read.
pw=$(cat "$DIR/var/postgres/password")
coordinator_pid=$(pgrep -f "drover-coordinator --database_url_file=$DIR/var/database.url" | head -1)
[[ -n "$coordinator_pid" ]] || fail "no coordinator started with --database_url_file: $(pgrep -af drover-coordinator)"
grep -qF -- "$pw" "/proc/$coordinator_pid/cmdline" && fail "the database password is on the coordinator's command line"
[[ $(stat -c %a "$DIR/var/database.url") == 600 ]] || fail "database.url is mode $(stat -c %a "$DIR/var/database.url"), want 600"

stop_start=$(date +%s%N)
"$QS" --stop "${OPTS[@]}" >/dev/null || fail "--stop failed"
stop_ms=$(( ($(date +%s%N) - stop_start) / 1000000 ))
echo "quickstart_test: --stop took ${stop_ms} ms"
# It took 14 s when each process was stopped in turn (3.5 s now, on a loaded
# 2-core machine).
[[ $stop_ms -lt 8000 ]] || fail "--stop took ${stop_ms} ms (want < 8 s)"
stopped_at=$(date -u +%Y-%m-%dT%H:%M:%S)
pgrep -f "$DIR/var/demo" >/dev/null && fail "demo updaters or agents survived --stop"
curl -sf "http://127.0.0.1:$M/metrics" >/dev/null && fail "coordinator still serving after --stop"

# The second run reuses the same database: the schema is already there, so
# no migration runs (version N -> N).
out=$("$QS" --detach "${OPTS[@]}" 2>&1) || fail "restart: $out"
grep -qE "schema version ([1-9][0-9]*) -> \1$" "$DIR/var/coordinator.log" || fail "database not reused: $(cat "$DIR/var/coordinator.log")"
# Logs were appended to, not truncated.
[[ $(head -1 "$DIR/var/coordinator.log") == "$first_coordinator_line" ]] || fail "coordinator.log was truncated"
[[ $(grep -c "^quickstart: starting" "$DIR/var/coordinator.log") -eq 2 ]] || fail "coordinator.log lacks a start line per run"
[[ $(head -1 "$DIR/var/demo/host-1/updater.log") == "$first_updater_line" ]] || fail "updater.log was truncated"
# The suggested target follows the current one (1.1.0): the channel accepts it.
grep -q "target set demo 1.1.0" <<<"$first_out" || fail "first run does not suggest 1.1.0: $first_out"
hint=$(sed -n 's/^ *try: \(.*\) && .*/\1/p' <<<"$out")
grep -q "target set demo 1.2.0" <<<"$hint" || fail "second run does not suggest the version after 1.1.0: $out"
hint_out=$($hint 2>&1) || fail "the suggested command is refused: $hint: $hint_out"
# The demo agents stopped with it run again, on the version they had, and
# say they are healthy in reports made since the restart.
[[ $(curl -sf "http://127.0.0.1:$((G + 11))/version") == 1.1.0 ]] || fail "demo agent 1 not running 1.1.0 after the restart"
healthy_since() {
  "${CTL[@]}" --output=json agents list --channel=demo | python3 -c '
import json, sys
agents = json.load(sys.stdin)["agents"]
sys.exit(0 if len(agents) == 3 and all(a["last_seen_time"] > sys.argv[1] and a["health"] == "HEALTH_HEALTHY"
                                       for a in agents) else 1)' "$1"
}
poll 60 healthy_since "$stopped_at" || fail "demo agents not healthy after the restart: $("${CTL[@]}" agents list --channel=demo 2>&1)"
"$QS" --stop "${OPTS[@]}" >/dev/null

# A coordinator that cannot start (its gRPC port is taken) leaves no
# PostgreSQL running.
G2=$(free_port); M2=$(free_port); P2=$(free_port); W2=$(free_port)
V2=$(free_port)
OPTS2=(--data-dir="$DIR/var2" --grpc-port="$G2" --metrics-port="$M2" --watch-port="$W2" --version-port="$V2" --pg-port="$P2" --demo-agents=0)
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(300)' "$G2" &
blocker=$!
cleanup() { kill "$blocker" 2>/dev/null || true; "$QS" --stop "${OPTS[@]}" >/dev/null 2>&1 || true; "$QS" --stop "${OPTS2[@]}" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
poll 10 python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])))' "$G2" || fail "port blocker did not start"
out=$("$QS" --detach "${OPTS2[@]}" 2>&1) && fail "started with its gRPC port taken: $out"
grep -q "coordinator failed to start" <<<"$out" || fail "no clear message when the coordinator cannot start: $out"
"$ROOT/deploy/lib/pg.sh" status "$DIR/var2/postgres" && fail "PostgreSQL left running after the coordinator failed: $out"
kill "$blocker"

out=$("$QS" --bogus 2>&1) && fail "unknown option accepted"
grep -q "'--bogus'" <<<"$out" || fail "unknown option not named: $out"
out=$("$QS" --grpc-port=99999 2>&1) && fail "bad port accepted"
grep -q "'99999'" <<<"$out" || fail "bad port not named: $out"
echo "quickstart_test: all checks passed"
