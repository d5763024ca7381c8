#!/usr/bin/env bash
# bench/run.sh end to end, small and short: with TLS (ca init, an operator
# token, one certificate and connection per simulated host) and with
# --plaintext. Each run's summary line must carry its mode and positive
# figures for every phase, the handshake phases included; the TLS run must
# have needed no report refused (a certificate naming another host would be).
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

for mode in tls plaintext; do
  args=()
  [[ $mode == plaintext ]] && args=(--plaintext)
  rc=0
  DROVER_BUILD_DIR="$(dirname "$BIN")" DROVER_SKIP_BUILD=1 timeout 240 "$ROOT/bench/run.sh" "${args[@]}" 40 \
    --duration=2 --noop_duration=1 --rounds=1 --handshake_duration=1 --handshake_concurrency=2 --concurrency=16 \
    --populate_timeout=60 >"$TMP/$mode.out" 2>"$TMP/$mode.err" || rc=$?
  [[ $rc -eq 0 ]] || { tail -30 "$TMP/$mode.err" >&2; fail "bench/run.sh ($mode) exited $rc"; }
  line=$(tail -n 1 "$TMP/$mode.out")
  echo "$mode: $line"
  want_tls=$([[ $mode == tls ]] && echo 1 || echo 0)
  [[ $(field "$line" tls) == "$want_tls" ]] || fail "$mode: summary lacks tls=$want_tls: $line"
  [[ $(field "$line" hosts) == 40 ]] || fail "$mode: summary lacks hosts=40: $line"
  [[ $(field "$line" connections) == 40 ]] || fail "$mode: want one connection per host (connections=40): $line"
  for f in reports_per_s noop_rpc_per_s handshakes_per_s coordinator_cpu_ms_per_handshake target_handshakes_per_s \
           target_coordinator_cpu_ms_per_handshake; do
    v=$(field "$line" "$f")
    [[ -n $v ]] || fail "$mode: summary lacks $f: $line"
    positive "$v" || fail "$mode: $f=$v, want > 0: $line"
  done
  # Every phase ran without a refused call: wrong host, rate limits, authorization.
  grep -E '^(populate|reports|noop|handshakes)' "$TMP/$mode.err" | grep -v 'errors: none' | grep -q 'errors:' \
    && { grep 'errors:' "$TMP/$mode.err" >&2; fail "$mode: some phase had errors"; }
  grep -q "status: total_agents 40," "$TMP/$mode.err" || fail "$mode: the rollout status does not count 40 agents"
done
echo "bench_run_test: TLS and plaintext runs passed"
