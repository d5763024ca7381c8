#!/usr/bin/env bash
# deploy/prometheus: the scrape config and the rules pass promtool's checks,
# and the rules' unit tests (drover-rules.test.yml, every alert firing and
# not firing) pass.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR="$ROOT/deploy/prometheus"
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v promtool >/dev/null || fail "promtool not found: install Debian's prometheus package (deploy/install-deps.sh)"

# promtool resolves rule_files relative to the file that names them.
out=$(cd "$DIR" && promtool check config prometheus.yml 2>&1) || fail "promtool check config: $out"
out=$(cd "$DIR" && promtool check rules drover-rules.yml 2>&1) || fail "promtool check rules: $out"
out=$(cd "$DIR" && promtool test rules drover-rules.test.yml 2>&1) || fail "promtool test rules: $out"

# Every alert has a unit test.
for alert in $(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$DIR/drover-rules.yml"); do
  grep -q "alertname: $alert\$" "$DIR/drover-rules.test.yml" || fail "alert $alert has no test in drover-rules.test.yml"
done
echo "prometheus_rules_test: all checks passed"
