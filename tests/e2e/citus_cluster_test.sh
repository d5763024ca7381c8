#!/usr/bin/env bash
# deploy/citus/cluster.sh's refusals, which need no Citus: a PostgreSQL
# without the extension (a stand-in bin directory whose pg_config names
# empty directories) gets the build instructions and exit status 3, before
# anything is created; bad ports, database names and commands are named.
# The cluster itself is tested by tests/citus.sh, where the extension is built.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/e2e/lib.sh"
CLUSTER="$ROOT/deploy/citus/cluster.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

mkdir -p "$TMP/bin" "$TMP/lib" "$TMP/share/extension"
cat >"$TMP/bin/pg_config" <<CONF
#!/bin/sh
case "\$1" in
  --pkglibdir) echo "$TMP/lib" ;;
  --sharedir) echo "$TMP/share" ;;
esac
CONF
chmod +x "$TMP/bin/pg_config"

set +e
out=$(DROVER_PG_BIN="$TMP/bin" "$CLUSTER" start "$TMP/cluster" 47990 2>&1)
rc=$?
set -e
[[ $rc -eq 3 ]] || fail "without the extension: exit $rc, want 3: $out"
grep -q "citus extension is not installed" <<<"$out" || fail "no diagnosis: $out"
grep -q "git clone --branch v13.0.5" <<<"$out" || fail "no build instructions: $out"
grep -q "make install" <<<"$out" || fail "no install step: $out"
[[ ! -e "$TMP/cluster" ]] || fail "created $TMP/cluster although it could not run"

# Half an extension (the library without its control file) is missing too.
touch "$TMP/lib/citus.so"
set +e
DROVER_PG_BIN="$TMP/bin" "$CLUSTER" start "$TMP/cluster" 47990 >/dev/null 2>&1
rc=$?
set -e
[[ $rc -eq 3 ]] || fail "without citus.control: exit $rc, want 3"

expect_refusal() {  # WANT_TEXT ARGS...
  local want=$1 out rc
  shift
  set +e
  out=$("$CLUSTER" "$@" 2>&1)
  rc=$?
  set -e
  [[ $rc -ne 0 ]] || fail "cluster.sh $* succeeded"
  grep -qF -- "$want" <<<"$out" || fail "cluster.sh $*: want '$want' in: $out"
}
expect_refusal "port 'seventy' is not a number in 1024..65533" start "$TMP/c" seventy
expect_refusal "port '80' is not a number in 1024..65533" start "$TMP/c" 80
expect_refusal "database name 'Bad-Name' is not a lower-case identifier" createdb "$TMP/c" 47990 Bad-Name
expect_refusal "database name 'x;drop' is not a lower-case identifier" dropdb "$TMP/c" 47990 'x;drop'
expect_refusal "the cluster in $TMP/c is not running: start it first" createdb "$TMP/c" 47990 fine
expect_refusal "unknown command 'launch'" launch "$TMP/c"
expect_refusal "usage: cluster.sh" start
echo "PASS: citus cluster.sh refusals"
