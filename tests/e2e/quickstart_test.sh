#!/usr/bin/env bash
# deploy/quickstart.sh end to end: first run creates PostgreSQL under the data
# directory, a second run reuses it, --stop stops both, and bad options fail
# with a message naming them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QS="$ROOT/deploy/quickstart.sh"
DIR=$(mktemp -d /tmp/drover-qs.XXXXXX)
chmod 755 "$DIR"  # PostgreSQL runs as user postgres and must reach $DIR/var
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
G=$(free_port); M=$(free_port); P=$(free_port)
OPTS=(--data-dir="$DIR/var" --grpc-port="$G" --metrics-port="$M" --pg-port="$P")
cleanup() { "$QS" --stop "${OPTS[@]}" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$QS" --detach "${OPTS[@]}" 2>&1) || fail "first start: $out"
grep -q "gRPC:    127.0.0.1:$G" <<<"$out" || fail "gRPC address not printed: $out"
grep -q "metrics: http://127.0.0.1:$M/metrics" <<<"$out" || fail "metrics address not printed: $out"
curl -sf "http://127.0.0.1:$M/metrics" | grep -q '^drover_build_info{' || fail "metrics not served"
[[ -f "$DIR/var/postgres/data/PG_VERSION" ]] || fail "PostgreSQL data directory not created"

out=$("$QS" --detach "${OPTS[@]}" 2>&1) && fail "second start while running should fail"
grep -q "already running" <<<"$out" || fail "no clear message for a second start: $out"

"$QS" --stop "${OPTS[@]}" >/dev/null || fail "--stop failed"
curl -sf "http://127.0.0.1:$M/metrics" >/dev/null && fail "coordinator still serving after --stop"

# The second run reuses the same database: the schema is already there.
out=$("$QS" --detach "${OPTS[@]}" 2>&1) || fail "restart: $out"
grep -q "schema version 2 -> 2" "$DIR/var/coordinator.log" || fail "database not reused: $(cat "$DIR/var/coordinator.log")"
"$QS" --stop "${OPTS[@]}" >/dev/null

out=$("$QS" --bogus 2>&1) && fail "unknown option accepted"
grep -q "'--bogus'" <<<"$out" || fail "unknown option not named: $out"
out=$("$QS" --grpc-port=99999 2>&1) && fail "bad port accepted"
grep -q "'99999'" <<<"$out" || fail "bad port not named: $out"
echo "quickstart_test: all checks passed"
