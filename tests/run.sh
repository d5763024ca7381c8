#!/usr/bin/env bash
# The test command: installs what is missing, builds, starts a throwaway
# PostgreSQL, runs every test through ctest, and stops PostgreSQL whatever
# happens. Exits non-zero on any failure.
#   tests/run.sh [ctest args...]     e.g. tests/run.sh -R api_integration
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
cd "$ROOT"

"$ROOT/deploy/install-deps.sh"

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

PGDIR=$(mktemp -d /tmp/drover-test-pg.XXXXXX)
cleanup() {
  "$ROOT/deploy/lib/pg.sh" stop "$PGDIR" immediate || true
  rm -rf "$PGDIR"
}
trap cleanup EXIT
# A CI timeout or ^C still stops PostgreSQL: the EXIT trap runs on exit, not on a signal.
trap 'exit 143' TERM
trap 'exit 130' INT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$ROOT/deploy/lib/pg.sh" init "$PGDIR"
"$ROOT/deploy/lib/pg.sh" start "$PGDIR" "$PORT"
export DROVER_TEST_DATABASE_URL
DROVER_TEST_DATABASE_URL=$("$ROOT/deploy/lib/pg.sh" url "$PGDIR" "$PORT" postgres)

cd "$BUILD"
ctest --output-on-failure --timeout 900 -j2 "$@"
