#!/usr/bin/env bash
# bench/run.sh end to end, small and short: with TLS (ca init, an operator
# token, one certificate and connection per simulated host) and with
# --plaintext. Each run's summary line must start with the ten keys the
# issue fixes, in order, carry its mode and positive figures for every
# phase (heartbeat, change, no-op, the handshake phases); the heartbeat
# phase's reports must all have named their predecessor, the change phase
# must have sent outcomes; the TLS run must have needed no report refused (a certificate
# naming another host would be).
# Environment: DROVER_BIN_DIR (default build/bin).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DROVER_BIN_DIR:-$ROOT/build/bin}
fail() { echo "FAIL: $*" >&2; exit 1; }
TMP=$(mktemp -d /tmp/drover-bench-run.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# field LINE NAME: the value of NAME=... in the summary line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p; s/^$2=\([^ ]*\).*/\1/p" <<<"$1" | head -1; }
positive() { awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }

WANT_KEYS="hosts heartbeat_per_s change_per_s noop_rpc_per_s heartbeat_ratio change_ratio p50_ms p99_ms status_ms coordinator_rss_mib"

for mode in tls plaintext; do
  args=()
  [[ $mode == plaintext ]] && args=(--plaintext)
  rc=0
  DROVER_BUILD_DIR="$(dirname "$BIN")" DROVER_SKIP_BUILD=1 timeout 240 "$ROOT/bench/run.sh" "${args[@]}" 40 \
    --duration=2 --noop_duration=1 --rounds=1 --warmup_ms=300 --handshake_duration=1 --handshake_concurrency=2 --concurrency=16 \
    --populate_timeout=60 >"$TMP/$mode.out" 2>"$TMP/$mode.err" || rc=$?
  [[ $rc -eq 0 ]] || { tail -30 "$TMP/$mode.err" >&2; fail "bench/run.sh ($mode) exited $rc"; }
  line=$(tail -n 1 "$TMP/$mode.out")
  echo "$mode: $line"
  want_tls=$([[ $mode == tls ]] && echo 1 || echo 0)
  [[ $(field "$line" tls) == "$want_tls" ]] || fail "$mode: summary lacks tls=$want_tls: $line"
  [[ $(field "$line" hosts) == 40 ]] || fail "$mode: summary lacks hosts=40: $line"
  [[ $(field "$line" connections) == 40 ]] || fail "$mode: want one connection per host (connections=40): $line"
  keys=$(tr ' ' '\n' <<<"$line" | cut -d= -f1 | head -10 | paste -sd' ')
  [[ $keys == "$WANT_KEYS" ]] || fail "$mode: summary keys are \"$keys\", want \"$WANT_KEYS\": $line"
  for f in heartbeat_per_s change_per_s noop_rpc_per_s heartbeat_ratio change_ratio p50_ms p99_ms coordinator_rss_mib \
           handshakes_per_s coordinator_cpu_ms_per_handshake target_handshakes_per_s \
           target_coordinator_cpu_ms_per_handshake; do
    v=$(field "$line" "$f")
    [[ -n $v ]] || fail "$mode: summary lacks $f: $line"
    positive "$v" || fail "$mode: $f=$v, want > 0: $line"
  done
  # The bloat figures: agents' dead share (0 is possible) and the database's size.
  dead=$(field "$line" agents_dead_pct)
  [[ $dead =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "$mode: summary lacks agents_dead_pct: $line"
  positive "$(field "$line" database_mib)" || fail "$mode: summary lacks database_mib > 0: $line"
  grep -q "tables after the run" "$TMP/$mode.err" || fail "$mode: no table sizes after the run"
  grep -qE '^ *agents +\|' "$TMP/$mode.err" || fail "$mode: the table sizes do not list agents"
  # Every phase ran without a refused call: wrong host, rate limits, authorization.
  grep -E '^(populate|heartbeat|change|noop|handshakes)' "$TMP/$mode.err" | grep -v 'errors: none' | grep -q 'errors:' \
    && { grep 'errors:' "$TMP/$mode.err" >&2; fail "$mode: some phase had errors"; }
  grep -q "status: total_agents 40," "$TMP/$mode.err" || fail "$mode: the rollout status does not count 40 agents"
  grep -q "^populate: 40 hosts .*failed hosts 0; not acknowledged 0;" "$TMP/$mode.err" \
    || fail "$mode: populate left a host without an acknowledged report"
  # The heartbeat phase ran as chains (previous_sequence set), the change
  # phase stored changes and outcomes.
  hb=$(grep '^heartbeat (' "$TMP/$mode.err") || fail "$mode: no heartbeat phase summary"
  chg=$(grep '^change (' "$TMP/$mode.err") || fail "$mode: no change phase summary"
  # With no call failing, every host's last report is acknowledged before
  # its next is sent: every heartbeat names its predecessor.
  read -r sent chained < <(sed -n 's/.* sent \([0-9]*\) (\([0-9]*\) naming their previous report).*/\1 \2/p' <<<"$hb")
  [[ ${sent:-0} -gt 0 && $chained == "$sent" ]] \
    || fail "$mode: want every heartbeat sent to name its previous report: $hb"
  [[ $(sed -n 's/.*accepted \([0-9]*\).*/\1/p' <<<"$chg") -gt 0 ]] || fail "$mode: no change was accepted: $chg"
  [[ $(sed -n 's/.*outcomes sent \([0-9]*\).*/\1/p' <<<"$chg") -gt 0 ]] || fail "$mode: no change carried an outcome: $chg"
  # The real connection pattern: polls/s and the fleet it sustains.
  polls=$(grep '^polls (updater pattern' "$TMP/$mode.err") || fail "$mode: no polls/s summary"
  sustained=$(sed -n 's/.*sustains \([0-9]*\) hosts at a 60 s poll interval, \([0-9]*\) at 5 min.*/\1 \2/p' <<<"$polls")
  read -r at60 at300 <<<"$sustained"
  positive "${at60:-0}" && [[ ${at300:-0} -gt $at60 ]] \
    || fail "$mode: polls summary lacks the fleet sustained at 60 s and 5 min: $polls"
done
echo "bench_run_test: TLS and plaintext runs passed"
