#!/usr/bin/env bash
# Drover on Citus (distributed PostgreSQL, docs/scale.md): starts a local
# cluster (a coordinator and two workers, deploy/citus/cluster.sh) in a
# temporary directory, runs the store, API, liveness and staged-rollout store
# integration tests against it
# (each test in a database of its own, distributed by migration 000012), then
# bench/run.sh on it. Not part of tests/run.sh: the citus extension is not a
# Debian package. Without it this says how to build it and exits non-zero.
#   tests/citus.sh [HOSTS]     HOSTS for the bench (default 2000; 0 skips it)
# Environment: DROVER_BUILD_DIR (default <repo>/build), KEEP_LOGS=1 keeps the
# cluster's directory after a failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
CLUSTER="$ROOT/deploy/citus/cluster.sh"
HOSTS=${1:-2000}
[[ "$HOSTS" =~ ^[0-9]+$ ]] || { echo "citus.sh: host count '$HOSTS' is not a number" >&2; exit 2; }
TESTS=(store_integration_test api_integration_test liveness_integration_test rollout_store_integration_test)

log() { echo "citus.sh: $*" >&2; }

"$ROOT/deploy/install-deps.sh" >&2
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
fi
cmake --build "$BUILD" -j"$(nproc)" --target "${TESTS[@]}" drover-coordinator drover-bench >&2

TMP=$(mktemp -d -t drover-citus.XXXXXX)
chmod 755 "$TMP"  # the nodes run as 'postgres' when we are root
cleanup() {
  local rc=$?
  "$CLUSTER" stop "$TMP/cluster" >/dev/null 2>&1 || true
  if [[ $rc -ne 0 && -n "${KEEP_LOGS:-}" ]]; then log "cluster kept in $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
# Below Linux's ephemeral range (32768-60999): the nodes' own connections to
# each other take ports there, and could take one meant for a node.
for _ in 1 2 3 4 5; do
  p=$((20000 + RANDOM % 12000))
  port_in_use "$p" || port_in_use $((p + 1)) || port_in_use $((p + 2)) && continue
  set +e
  "$CLUSTER" start "$TMP/cluster" "$p"
  rc=$?
  set -e
  if [[ $rc -eq 0 ]]; then PORT=$p; break; fi
  [[ $rc -eq 3 ]] && exit 3  # the extension is missing: cluster.sh said how to build it
  # A node that did not start: the next try makes the cluster afresh.
  "$CLUSTER" stop "$TMP/cluster" || true
  rm -rf "$TMP/cluster"
done
[[ -n "$PORT" ]] || { log "could not start a Citus cluster (logs: $TMP/cluster/*/postgres.log)"; exit 1; }
log "Citus cluster on 127.0.0.1:$PORT-$((PORT + 2))"

export DROVER_TEST_DATABASE_URL
DROVER_TEST_DATABASE_URL=$("$CLUSTER" url "$TMP/cluster" "$PORT" postgres)
# Run through system(): each word quoted for the shell.
DROVER_TEST_CREATEDB_COMMAND=$(printf '%q createdb %q %q' "$CLUSTER" "$TMP/cluster" "$PORT")
export DROVER_TEST_CREATEDB_COMMAND
failed=()
for t in "${TESTS[@]}"; do
  log "=== $t"
  t0=$SECONDS
  if "$BUILD/bin/$t" >"$TMP/$t.log" 2>&1; then
    log "$t passed ($((SECONDS - t0)) s): $(grep -E '^\[  PASSED  \]' "$TMP/$t.log")"
  else
    failed+=("$t")
    grep -E '^\[  FAILED  \]|Failure' "$TMP/$t.log" | sort -u >&2 || true
    log "$t FAILED ($((SECONDS - t0)) s; log: $TMP/$t.log with KEEP_LOGS=1)"
  fi
  # Each test made a database on every node, each with Citus' maintenance
  # daemon and its connections: dropped before the next binary's.
  for db in $(psql -X -At "$DROVER_TEST_DATABASE_URL" -c "SELECT datname FROM pg_database WHERE datname LIKE 't\_%'"); do
    "$CLUSTER" dropdb "$TMP/cluster" "$PORT" "$db"
  done
done
if [[ ${#failed[@]} -gt 0 ]]; then
  log "failed: ${failed[*]}"
  exit 1
fi

if [[ "$HOSTS" -gt 0 ]]; then
  log "=== bench/run.sh --plaintext $HOSTS on Citus"
  DROVER_BENCH_CITUS=1 DROVER_SKIP_BUILD=1 DROVER_BUILD_DIR="$BUILD" "$ROOT/bench/run.sh" --plaintext "$HOSTS"
fi
log "all passed"
