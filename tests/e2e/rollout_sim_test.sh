#!/usr/bin/env bash
# bench/rollout_sim.sh end to end at a small scale (200 hosts, short polls and
# bake times), asserting the issue's acceptance figures from the summary line:
#   broken: the version reaches no more hosts than the first group's canaries
#           (and at most 1 % of the fleet), the rollout halts, every host that
#           took it rolled back locally, none is left on it unhealthy;
#   late:   healthy through the updater's watch, broken seconds later: the
#           canary watch of the next group halts it, the automatic roll-back
#           brings every host that took it back;
#   good, with the coordinator SIGKILLed once the first group is done: the
#           same rollout resumes after the restart and ends done, every host on
#           the target, no halt.
# Plus the refusals of bad arguments (script and simulator).
# Environment: DROVER_BIN_DIR (default build/bin).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DROVER_BIN_DIR:-$ROOT/build/bin}
fail() { echo "FAIL: $*" >&2; exit 1; }
TMP=$(mktemp -d /tmp/drover-rollout-sim-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# field LINE NAME: the value of NAME=... in a summary line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p; s/^$2=\([^ ]*\).*/\1/p" <<<"$1" | head -1; }

# Refusals, before anything is started.
rc=0; "$ROOT/bench/rollout_sim.sh" 200 sideways >/dev/null 2>"$TMP/err" || rc=$?
[[ $rc -eq 2 ]] && grep -q 'scenario "sideways"' "$TMP/err" || fail "a bad scenario: want exit 2 naming it, got $rc: $(cat "$TMP/err")"
rc=0; "$ROOT/bench/rollout_sim.sh" lots good >/dev/null 2>"$TMP/err" || rc=$?
[[ $rc -eq 2 ]] && grep -q 'host count "lots"' "$TMP/err" || fail "a bad host count: want exit 2 naming it, got $rc"
rc=0; "$BIN/drover-rollout-sim" --groups=a:50,b:40 >/dev/null 2>"$TMP/err" || rc=$?
[[ $rc -eq 1 ]] && grep -q 'add up to 90' "$TMP/err" || fail "group shares not adding up to 100: want exit 1, got $rc: $(cat "$TMP/err")"
rc=0; "$BIN/drover-rollout-sim" --broken_mode=sometimes >/dev/null 2>"$TMP/err" || rc=$?
[[ $rc -eq 1 ]] && grep -q 'broken_mode=sometimes' "$TMP/err" || fail "a bad --broken_mode: want exit 1 naming it, got $rc"

HOSTS=200
run() {  # run NAME ARGS...: the script's summary line in $TMP/NAME.out
  local name=$1; shift
  local rc=0
  DROVER_BUILD_DIR="$(dirname "$BIN")" DROVER_SKIP_BUILD=1 SIM_POLL=2 SIM_BAKE=4 SIM_WATCH=${SIM_WATCH:-4} \
    SIM_FLAGS="--install_min=0.5 --install_max=1.5 --watch=1 --late_after=${LATE_AFTER:-1}" \
    timeout 300 "$ROOT/bench/rollout_sim.sh" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
  [[ $rc -eq 0 ]] || { tail -30 "$TMP/$name.err" >&2; fail "rollout_sim.sh $* exited $rc"; }
  echo "$name: $(tail -n 1 "$TMP/$name.out")"
}

run broken "$HOSTS" broken
line=$(tail -n 1 "$TMP/broken.out")
[[ $(field "$line" hosts) == "$HOSTS" && $(field "$line" scenario) == broken && $(field "$line" groups) == 3 ]] \
  || fail "broken: summary lacks hosts=$HOSTS scenario=broken groups=3: $line"
canaries=$((HOSTS / 100))  # what the script sets for 200 hosts: 2, i.e. 1 % of the fleet
bvh=$(field "$line" broken_version_hosts)
[[ $(field "$line" halted) == 1 ]] || fail "broken: the rollout did not halt: $line"
[[ $bvh -ge 1 ]] || fail "broken: no host took the broken version, nothing was tested: $line"
[[ $bvh -le $canaries ]] || fail "broken: $bvh hosts took the broken version, more than the $canaries canaries: $line"
[[ $((bvh * 100)) -le $HOSTS ]] || fail "broken: $bvh hosts took the broken version, over 1 % of $HOSTS: $line"
[[ $(field "$line" rolled_back) == "$bvh" ]] || fail "broken: not every host that took it rolled back: $line"
[[ $(field "$line" left_broken) == 0 ]] || fail "broken: hosts left on the broken version: $line"
[[ $(field "$line" on_target) == 0 ]] || fail "broken: hosts on the broken target at the end: $line"
grep -q 'rollout [0-9]* 1.0.0 -> 1.1.0: halted' "$TMP/broken.err" || fail "broken: the simulator did not see the halt"

# Healthy through the updater's watch, broken 8 s after the install: past the
# 4 s bake of the canary group (whose 2 hosts are all canaries), so only the
# canary watch of the next group stands between it and that group's 38 hosts
# (measured without the watch: 23 hosts took it).
SIM_WATCH=12 LATE_AFTER=8 run late "$HOSTS" late
line=$(tail -n 1 "$TMP/late.out")
bvh=$(field "$line" broken_version_hosts)
[[ $(field "$line" halted) == 1 ]] || fail "late: the rollout did not halt: $line"
[[ $bvh -ge 1 ]] || fail "late: no host took the broken version, nothing was tested: $line"
[[ $bvh -le $((2 * canaries)) ]] || fail "late: $bvh hosts took it, more than the canaries of two groups: $line"
[[ $(field "$line" left_broken) == 0 ]] || fail "late: hosts left on the broken version after the roll-back: $line"
grep -q 'rolled_back after' "$TMP/late.err" || fail "late: the rollout was not rolled back"

run good --kill-leader "$HOSTS" good
line=$(tail -n 1 "$TMP/good.out")
[[ $(field "$line" halted) == 0 ]] || fail "good: the rollout halted: $line"
[[ $(field "$line" on_target) == "$HOSTS" ]] || fail "good: not every host on the target: $line"
[[ $(field "$line" broken_version_hosts) == 0 && $(field "$line" rolled_back) == 0 ]] || fail "good: failures: $line"
kill_line=$(grep '^leader_kill=' "$TMP/good.out") || fail "good: no leader_kill line"
echo "good: $kill_line"
[[ $(field "$kill_line" resumed) == 1 ]] || fail "good: the rollout did not resume after the SIGKILL: $kill_line"
grep -q 'SIGKILLed the coordinator' "$TMP/good.err" || fail "good: the coordinator was not killed"
echo "rollout_sim_test: broken halts at the canaries; late at the canary watch; good reaches every host across a leader SIGKILL"
