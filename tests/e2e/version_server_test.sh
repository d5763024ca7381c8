#!/usr/bin/env bash
# The Teleport-compatible version server (--version_server_listen), end to
# end: a real PostgreSQL, a coordinator serving HTTPS with the fleet CA's
# certificate, curl, and tests/fixtures/teleport/teleport-upgrade-like.sh (a
# client asking the way Teleport's systemd updater does). Checks the
# answers as channels change (target, none, critical, a channel holding
# "/", Teleport's proxy path, HEAD), per-host answers under a staged
# rollout with the catch-all off, the refusals (unknown channel 404, bad id
# 400 named, unknown path 404, POST 405, a peer over the GetTarget rate
# 429), that TLS is verified, and a database outage: 503 with no database
# text, then answers again once it is back.
# Environment: DROVER_BIN_DIR (default build/bin).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DROVER_BIN_DIR:-$ROOT/build/bin}
PG="$ROOT/deploy/lib/pg.sh"
CLIENT="$ROOT/tests/fixtures/teleport/teleport-upgrade-like.sh"
# shellcheck source=tests/e2e/lib.sh
source "$ROOT/tests/e2e/lib.sh"
for b in drover-coordinator droverctl; do
  [[ -x "$BIN/$b" ]] || fail "$BIN/$b not built (set DROVER_BIN_DIR or build the $b target)"
done

TMP=$(mktemp -d /tmp/drover-vs.XXXXXX)
PGDIR=$(mktemp -d /tmp/drover-vs-pg.XXXXXX)  # pg.sh hands it to user postgres
COORD_PID=""
cleanup() {
  local rc=$?
  stop_pid "$COORD_PID"
  "$PG" stop "$PGDIR" immediate >/dev/null 2>&1 || true
  if [[ $rc -ne 0 && -s "$TMP/coordinator.log" ]]; then
    echo "--- last lines of coordinator.log" >&2
    tail -20 "$TMP/coordinator.log" >&2
  fi
  rm -rf "$TMP" "$PGDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

P_PORT=$(free_port)
"$PG" init "$PGDIR"
"$PG" start "$PGDIR" "$P_PORT"
"$PG" createdb "$PGDIR" "$P_PORT" drover
DB_URL=$("$PG" url "$PGDIR" "$P_PORT" drover)
(umask 077 && printf '%s\n' "$DB_URL" >"$TMP/db.url")

"$BIN/drover-coordinator" ca init --ca_dir="$TMP/tls" --fleet=vs >/dev/null
DROVER_DATABASE_URL="$DB_URL" "$BIN/drover-coordinator" operators create --name=vs-admin --role=admin \
  --token_file="$TMP/admin.token" >/dev/null 2>&1 || fail "operators create"
export DROVER_TOKEN_FILE="$TMP/admin.token"

start_coordinator() {
  rm -f "$TMP/ready"
  "$BIN/drover-coordinator" --database_url_file="$TMP/db.url" --grpc_listen=127.0.0.1:0 \
    --metrics_listen=127.0.0.1:0 --version_server_listen="${VS_LISTEN:-127.0.0.1:0}" --ready_file="$TMP/ready" \
    --tls_cert_file="$TMP/tls/server.pem" --tls_key_file="$TMP/tls/server.key" \
    --host_ca_cert_file="$TMP/tls/ca.pem" --host_ca_key_file="$TMP/tls/ca.key" --fleet=vs \
    --get_target_rate_per_peer=5 --get_target_burst_per_peer=100 --fleet_refresh=200ms \
    --startup_timeout=20s --db_statement_timeout=3s "$@" >>"$TMP/coordinator.log" 2>&1 &
  COORD_PID=$!
  wait_for 60 "the coordinator ready" test -s "$TMP/ready"
}
start_coordinator
GRPC=$(sed -n 's/^grpc=//p' "$TMP/ready")
METRICS=$(sed -n 's/^metrics=//p' "$TMP/ready")
URL=$(sed -n 's/^version=//p' "$TMP/ready")
[[ $URL == https://127.0.0.1:*/v1/ ]] || fail "the ready file's version= is not an https URL ending in /v1/: '$URL'"
grep -q "serving the version server (Teleport protocol) on $URL" "$TMP/coordinator.log" \
  || fail "the coordinator did not log the version server's URL"
CTL=("$BIN/droverctl" --coordinator="$GRPC" --ca_file="$TMP/tls/ca.pem")
C=(curl --silent --show-error --max-time 10 --cacert "$TMP/tls/ca.pem")

# body PATH: the body of a 200 answer (fails otherwise).
body() { "${C[@]}" --fail "$URL$1"; }
# answer_is PATH WANT: the 200 answer to PATH is WANT (for wait_for, which
# runs its command afresh each time).
answer_is() { [[ "$(body "$1" 2>/dev/null)" == "$2" ]]; }
# code METHOD PATH: the status code.
code() { "${C[@]}" -o "$TMP/body" -w '%{http_code}' -X "$1" "$URL$2" || true; }

"${CTL[@]}" channels create stable/cloud --control-plane=15.2.0 >/dev/null
[[ $(body stable/cloud/version) == none ]] || fail "a channel with no target: want none, got '$(body stable/cloud/version)'"
[[ $(body stable/cloud/critical) == no ]] || fail "critical of a fresh channel: want no"
"${CTL[@]}" target set stable/cloud 15.1.3 >/dev/null
# The channel cache lives 1 s: poll for the new answer.
wait_for 10 "version v15.1.3" answer_is stable/cloud/version v15.1.3
"${CTL[@]}" critical raise stable/cloud --reason=CVE-2026-0001 >/dev/null
wait_for 10 "critical yes" answer_is stable/cloud/critical yes
# Exactly the bytes Teleport's shell updater compares: no newline.
[[ $("${C[@]}" "${URL}stable/cloud/critical" | od -An -c | tr -d ' \n') == yes ]] || fail "critical body is not exactly 'yes'"
# Teleport's proxy path serves the same.
base=${URL%/v1/}
[[ $("${C[@]}" --fail "$base/v1/webapi/automaticupgrades/channel/stable/cloud/version") == v15.1.3 ]] \
  || fail "the proxy path does not answer the target"
# HEAD: 200, no body.
[[ $("${C[@]}" -I -o /dev/null -w '%{http_code}' "${URL}stable/cloud/version") == 200 ]] || fail "HEAD is not 200"
[[ $("${C[@]}" -I "${URL}stable/cloud/version" | tr -d '\r' | grep -i '^content-type:') == *text/plain* ]] \
  || fail "HEAD has no text/plain content type"

# A client that asks the way teleport-upgrade does.
mkdir -p "$TMP/tp"
echo "${URL#https://}stable/cloud" >"$TMP/tp/endpoint"
echo 15.0.0 >"$TMP/tp/installed"
out=$(CURL_CA="$TMP/tls/ca.pem" "$CLIENT" "$TMP/tp") || fail "the Teleport-like client failed: $out"
[[ $out == "update 15.0.0 -> 15.1.3: critical" ]] || fail "Teleport-like client, critical: $out"
"${CTL[@]}" critical lower stable/cloud >/dev/null
wait_for 10 "critical no" answer_is stable/cloud/critical no
printf '# periodically exported by teleport, modifications are not preserved\n%s %s\n' \
  $(($(date +%s) + 3600)) $(($(date +%s) + 7200)) >"$TMP/tp/schedule"
out=$(CURL_CA="$TMP/tls/ca.pem" "$CLIENT" "$TMP/tp")
[[ $out == "skip: 15.1.3 waits for the next maintenance window" ]] || fail "Teleport-like client, future window: $out"
printf '# periodically exported by teleport\n%s %s\n' $(($(date +%s) - 60)) $(($(date +%s) + 3600)) >"$TMP/tp/schedule"
out=$(CURL_CA="$TMP/tls/ca.pem" "$CLIENT" "$TMP/tp")
[[ $out == "update 15.0.0 -> 15.1.3: in a maintenance window" ]] || fail "Teleport-like client, in window: $out"
echo 15.1.3 >"$TMP/tp/installed"
out=$(CURL_CA="$TMP/tls/ca.pem" "$CLIENT" "$TMP/tp")
[[ $out == "skip: 15.1.3 is the target" ]] || fail "Teleport-like client, up to date: $out"
"${CTL[@]}" target clear stable/cloud >/dev/null
wait_for 10 "version none after target clear" answer_is stable/cloud/version none
out=$(CURL_CA="$TMP/tls/ca.pem" "$CLIENT" "$TMP/tp")
[[ $out == "skip: no target version" ]] || fail "Teleport-like client, none: $out"
# Without the CA, TLS verification fails: the client gives up.
rc=0; out=$("$CLIENT" "$TMP/tp" 2>&1) || rc=$?
[[ $rc -eq 1 && $out == *"cannot get the target version"* ]] || fail "an unverified server was trusted (exit $rc): $out"

# Refusals, each naming what is wrong, none leaking internals.
[[ $(code GET nosuch/version) == 404 ]] && grep -q 'channel "nosuch" not found' "$TMP/body" \
  || fail "unknown channel: want 404 naming it, got $(code GET nosuch/version): $(cat "$TMP/body")"
[[ $(code GET Bad_Channel/version) == 400 ]] && grep -q '"Bad_Channel"' "$TMP/body" \
  || fail "bad channel id: want 400 naming it: $(cat "$TMP/body")"
[[ $(code GET stable/cloud/latest) == 404 ]] && grep -q '/v1/<channel>/version' "$TMP/body" \
  || fail "unknown path: want 404 with the usage: $(cat "$TMP/body")"
[[ $(code GET "stable/cloud/version?colour=red") == 400 ]] && grep -q '"colour"' "$TMP/body" \
  || fail "unknown query parameter: want 400 naming it: $(cat "$TMP/body")"
[[ $(code POST stable/cloud/version) == 405 ]] || fail "POST: want 405"
[[ $(code GET "stable/cloud/version?group=no%20spaces") == 400 ]] && grep -q 'group' "$TMP/body" \
  || fail "bad group: want 400 naming it: $(cat "$TMP/body")"

# Staged rollout, catch-all off: a client in no listed group is told
# nothing to install; a host of a listed group gets its own answer.
"${CTL[@]}" channels create stable/rolling --control-plane=16.0.0 --target=15.0.0 >/dev/null
"${CTL[@]}" rollout policy set stable/rolling --groups=dev,prod --catch-all=off --canaries=1 >/dev/null
"${CTL[@]}" target set stable/rolling 16.0.0 >/dev/null
wait_for 10 "anonymous answer none under catch-all off" answer_is stable/rolling/version none
dev=$(body "stable/rolling/version?group=dev&host_id=host-1")
[[ $dev == v15.0.0 || $dev == v16.0.0 ]] || fail "a dev host's own answer: want v15.0.0 or v16.0.0, got '$dev'"
[[ $(body "stable/rolling/version?group=prod&host_id=host-2") == v15.0.0 ]] \
  || fail "a prod host (its group not started) must be held at v15.0.0"

# A channel that follows its control plane (stable/rolling in Teleport's
# terms): the answer moves with the control plane; a hand-set target is
# refused, by name.
"${CTL[@]}" channels create stable/follow --control-plane=15.2.0 --follow-control-plane >/dev/null
wait_for 10 "a following channel answers its control plane" answer_is stable/follow/version v15.2.0
out=$("${CTL[@]}" control-plane set stable/follow 15.3.1)
[[ $out == *"Channel stable/follow now has control plane 15.3.1, and its target follows it (15.3.1)."* ]] \
  || fail "control-plane set on a following channel: $out"
wait_for 10 "the following channel's answer moved" answer_is stable/follow/version v15.3.1
rc=0; out=$("${CTL[@]}" target set stable/follow 15.3.0 2>&1) || rc=$?
[[ $rc -ne 0 && $out == *"follows its control plane"* ]] || fail "target set on a following channel (exit $rc): $out"
"${CTL[@]}" channels show stable/follow | grep -q "15.3.1  (the target follows it)" || fail "channels show lacks following"
rc=0; out=$("${CTL[@]}" control-plane set stable/follow 2>&1) || rc=$?
[[ $rc -eq 2 && $out == *"needs a VERSION, or --follow=true|false"* ]] || fail "control-plane set without VERSION (exit $rc): $out"
rc=0; out=$("${CTL[@]}" control-plane set stable/follow --follow=maybe 2>&1) || rc=$?
[[ $rc -eq 2 && $out == *"--follow=maybe"* ]] || fail "--follow=maybe (exit $rc): $out"
"${CTL[@]}" control-plane set stable/follow --follow=false >/dev/null
"${CTL[@]}" target set stable/follow 15.3.0 --allow-downgrade >/dev/null || fail "target set after following stopped"
wait_for 10 "a hand-set target once following stopped" answer_is stable/follow/version v15.3.0

# Over the per-peer GetTarget rate (5/s, burst 100): 429 with Retry-After.
limited=0
ten=()
for _ in $(seq 1 10); do ten+=("${URL}stable/cloud/version"); done
for _ in $(seq 1 40); do
  out=$("${C[@]}" -o /dev/null -D - "${ten[@]}" | tr -d '\r')
  if grep -q '^HTTP/1.1 429' <<<"$out"; then limited=1; break; fi
done
((limited)) || fail "no 429 after 400 requests from one address at a 5/s, burst 100 limit"
grep -qi '^retry-after: 30' <<<"$out" || fail "429 without Retry-After: $out"

# Metrics count the answers.
metric() { curl -fsS "http://$METRICS/metrics" | sed -n "s/^drover_version_server_requests_total{answer=\"$1\"} \([0-9.e+]*\)$/\1/p"; }
counted() { local v; v=$(metric "$1"); [[ -n "$v" ]] && (( ${v%%.*} >= $2 )); }
wait_for 10 "version answers counted" counted version 10
wait_for 10 "rate-limited answers counted" counted rate_limited 1

# PostgreSQL down: 503 with Retry-After, no database text; back once it is.
stop_pid "$COORD_PID"
VS_LISTEN=${URL#https://}; VS_LISTEN=${VS_LISTEN%/v1/}
VS_LISTEN=$VS_LISTEN start_coordinator --get_target_rate_per_peer=0
"$PG" stop "$PGDIR" immediate >/dev/null
st=""
for _ in $(seq 1 100); do
  st=$(code GET stable/cloud/version)
  [[ $st == 503 ]] && break
  sleep 0.2
done
[[ $st == 503 ]] || fail "with PostgreSQL down: want 503, got $st"
grep -q 'cannot be read now; retry later' "$TMP/body" || fail "503 body: $(cat "$TMP/body")"
grep -qiE 'connection|postgres|socket|server|pqxx' "$TMP/body" && fail "503 body leaks internals: $(cat "$TMP/body")"
"$PG" start "$PGDIR" "$P_PORT"
wait_for 60 "answers once PostgreSQL is back" answer_is stable/cloud/version none

# --version_server_plaintext: plain HTTP even with TLS files.
stop_pid "$COORD_PID"
start_coordinator --version_server_plaintext
PURL=$(sed -n 's/^version=//p' "$TMP/ready")
[[ $PURL == http://* ]] || fail "--version_server_plaintext: want an http URL, got $PURL"
[[ $(curl -fsS "${PURL}stable/cloud/critical") == no ]] || fail "plain HTTP answer"
# A bad listen address is refused by name.
stop_pid "$COORD_PID"; COORD_PID=""
rc=0; out=$("$BIN/drover-coordinator" --database_url_file="$TMP/db.url" --insecure --grpc_listen=127.0.0.1:0 \
  --metrics_listen=127.0.0.1:0 --version_server_listen=nonsense 2>&1) || rc=$?
[[ $rc -ne 0 && $out == *'--version_server_listen "nonsense" is not host:port'* ]] \
  || fail "a bad --version_server_listen was not refused by name (exit $rc): $out"
echo "PASS: version server"
