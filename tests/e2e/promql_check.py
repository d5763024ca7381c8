#!/usr/bin/env python3
"""Evaluates every PromQL expression of Drover's dashboards and rules against a
running Prometheus (python3 stdlib only); run by promql_live_test.sh.

Each dashboard target must parse and return at least one series, with $channel
and the other query variables set the way Grafana would (from their
label_values() query, which must return values) and $__rate_interval,
$__interval and $__range set to 1m. Each recording rule must return series and
have been recorded. An alert's expression must parse, but is empty while
nothing is wrong, so the sub-expressions listed in PROBES must appear in it
and return series. Every rule must be loaded and evaluate without error.
Retries until everything passes or the deadline.
Usage: promql_check.py PROMETHEUS_URL DASHBOARDS_DIR DEADLINE_SECONDS
"""
import json
import pathlib
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

URL, DASHBOARDS, DEADLINE = sys.argv[1].rstrip("/"), pathlib.Path(sys.argv[2]), float(sys.argv[3])
INTERVALS = {"__rate_interval": "1m", "__interval": "1m", "__range": "1m"}

# Per alert, the parts of its expression that return series on a healthy
# fleet (the comparisons around them are covered by drover-rules.test.yml),
# and how far in the future to evaluate each (so that `offset 30m` reads the
# samples scraped now). Whitespace does not matter.
PROBES = {
    "DroverRolloutStalled": [
        ("max by (channel) (drover_channel_on_target_ratio)", 0),
        ("max by (channel) (drover_channel_on_target_ratio offset 30m)", 1800),
        ("time() - max by (channel) (drover_channel_target_update_timestamp_seconds)", 0),
        ('max by (channel) (drover_channel_target_info{target_version!="none"})', 0),
        ("max by (channel) (drover_channel_agents)", 0),
    ],
    "DroverUpdateFailureRatioHigh": [
        ("channel:drover_rollout_failed_hosts:ratio", 0),
        ("channel:drover_agents_failed_target:max", 0),
        ("max by (channel) (drover_channel_agents)", 0),
        ("topk by (channel) (1, max by (channel, target_version) (drover_channel_target_info))", 0),
    ],
    "DroverManyUnhealthyAgents": [
        ("max by (channel) (drover_agents_unhealthy) / max by (channel) (drover_channel_agents)", 0),
    ],
    "DroverAgentsOutOfPolicy": [("max by (channel) (drover_agents_out_of_policy)", 0)],
    "DroverManyStaleAgents": [("max by (channel) (drover_agents_stale) / max by (channel) (drover_channel_agents)", 0)],
    "DroverCriticalRaisedForLong": [("max by (channel) (drover_channel_critical)", 0)],
    # absent(up{...}) is empty while the coordinator is scraped, by design.
    "DroverCoordinatorDown": [('up{job="drover-coordinator"}', 0)],
    "DroverDatabaseUnavailable": [("max by (instance) (drover_database_up)", 0)],
    # Exported (as 0) from start-up.
    # Exported (as 0 until a pass completes) by every replica.
    "DroverRetentionNotRunning": [
        ("max(drover_retention_last_success_timestamp_seconds)", 0),
    ],
    "DroverHeartbeatsNotWritten": [
        ("sum by (instance) (increase(drover_liveness_flush_failures_total[5m]))", 0),
        ("max by (instance) (drover_liveness_pending)", 0),
    ],
    # Exported (as 0) for every channel, and once per coordinator.
    "DroverHostIdCloned": [("max by (channel) (drover_agents_instance_conflict)", 0)],
    "DroverOrphanedHosts": [("max(drover_orphaned_hosts)", 0)],
    # Exported as zeros from start-up (with --insecure too).
    "DroverHostIdentityMisused": [
        ('sum by (reason) (increase(drover_reports_refused_total{reason=~"wrong_host|wrong_channel|revoked"}[10m]))', 0)
    ],
    "DroverRefusedCallsFlood": [("sum(increase(drover_audit_refusals_dropped_total[10m]))", 0)],
    # The live test starts a rollout (a new target on channel bench).
    "DroverRolloutHalted": [('max by (channel) (drover_rollout_state{state=~"halted|rolled_back"})', 0)],
    "DroverRolloutStuck": [
        ("time() - max by (channel, group) (drover_rollout_group_state_since_seconds)", 0),
        ('max by (channel, group) (drover_rollout_group_state{state=~"canary|active"})', 0),
        ("time() - max by (channel) (drover_rollout_state_since_seconds)", 0),
        ('max by (channel) (drover_rollout_state{state="paused"})', 0),
    ],
    "DroverRolloutNoLeader": [
        ("max(drover_rollout_engine_leader)", 0),
        ('count(max by (channel) (drover_rollout_state{state=~"active|paused|halted"}) == 1)', 0),
    ],
}


def api(path, **params):
    url = f"{URL}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400/422 carry the PromQL error
        try:
            return json.load(e)
        except ValueError:
            return {"status": "error", "error": f"HTTP {e.code}"}
    except (urllib.error.URLError, OSError, ValueError) as e:
        return {"status": "error", "error": str(e)}


def query(expr, shift=0):
    r = api("/api/v1/query", query=expr, time=f"{time.time() + shift:.3f}")
    if r.get("status") != "success":
        return None, f"{r.get('errorType', 'error')}: {r.get('error')}"
    return len(r["data"]["result"]), None


def squash(s):
    return re.sub(r"\s+", "", s)


def regex_escape(v):
    # As Grafana does for a Prometheus regex matcher: one backslash in the
    # regex, written as two in the PromQL string.
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", v)


def variable_values(v):
    """The values of a label_values(SELECTOR, LABEL) query variable."""
    q = v.get("query")
    text = (q.get("query") if isinstance(q, dict) else q) or v.get("definition", "")
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", text)
    if not m:
        return None, f"unsupported variable query {text!r}"
    r = api(f"/api/v1/label/{m.group(2)}/values", **{"match[]": m.group(1)})
    if r.get("status") != "success":
        return None, f"{text}: {r.get('error')}"
    return r["data"], None


def dashboard_checks():
    """(name, expr) of every dashboard target, variables substituted; plus errors."""
    checks, errors = [], []
    for f in sorted(DASHBOARDS.glob("*.json")):
        d = json.loads(f.read_text())
        subst = dict(INTERVALS)
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            values, err = variable_values(v)
            if err or not values:
                errors.append(f"{f.name} variable ${v['name']}: {err or 'no values'}")
                continue
            esc = [regex_escape(x) for x in values]
            subst[v["name"]] = esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"

        def panels(ps):
            for p in ps:
                yield p
                yield from panels(p.get("panels", []))

        for p in panels(d.get("panels", [])):
            for t in p.get("targets", []):
                expr = t.get("expr", "")
                for name, value in sorted(subst.items(), key=lambda kv: -len(kv[0])):
                    expr = re.sub(r"\$\{" + name + r"(?::[^}]*)?\}|\$" + name + r"\b", lambda _: value, expr)
                name = f"{f.name} / {p.get('title')} / {t.get('refId')}"
                if "$" in expr:
                    errors.append(f"{name}: unresolved variable in {expr}")
                else:
                    checks.append((name, expr, 0))
    return checks, errors


def rule_checks():
    checks, errors = [], []
    r = api("/api/v1/rules")
    if r.get("status") != "success":
        return checks, [f"/api/v1/rules: {r.get('error')}"]
    alerts = set()
    groups = r["data"]["groups"]
    if not groups:
        errors.append("Prometheus loaded no rules")
    for g in groups:
        for rule in g["rules"]:
            name, expr = rule["name"], rule["query"]
            where = f"rule {name} ({g['name']})"
            if rule.get("health") != "ok":
                errors.append(f"{where}: health {rule.get('health')!r}, last error {rule.get('lastError')!r}")
            if rule["type"] == "recording":
                checks.append((where, expr, 0))
                checks.append((f"{where} recorded", name, 0))
                continue
            alerts.add(name)
            checks.append((f"{where} (may be empty)", expr, None))
            probes = PROBES.get(name)
            if probes is None:
                errors.append(f"{where}: no PROBES entry in {__file__}: list the sub-expressions that must return "
                              "series")
                continue
            for probe, shift in probes:
                if squash(probe) not in squash(expr):
                    errors.append(f"{where}: probe {probe!r} is not part of its expression {expr!r}")
                else:
                    checks.append((f"{where} part {probe}" + (f" at now+{shift}s" if shift else ""), probe, shift))
    for name in sorted(set(PROBES) - alerts):
        errors.append(f"PROBES lists {name}, which is not a loaded alert")
    return checks, errors


def main():
    stop = time.monotonic() + DEADLINE
    while True:
        d_checks, errors = dashboard_checks()
        r_checks, r_errors = rule_checks()
        errors += r_errors
        results = []
        # shift None: the expression must parse and evaluate, and may be empty.
        for name, expr, shift in d_checks + r_checks:
            n, err = query(expr, shift or 0)
            if err:
                errors.append(f"{name}: {err}: {expr}")
            elif n == 0 and shift is not None:
                errors.append(f"{name}: no series: {expr}")
            results.append((name, n, err is None and (n > 0 or shift is None)))
        if not errors or time.monotonic() > stop:
            break
        time.sleep(1)
    for name, n, ok in results:
        if ok:
            print(f"ok   {name}: {n} series")
    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    total = len(results)
    failed = sum(1 for *_, ok in results if not ok)
    print(f"promql_check: {total - failed} passed, {failed} failed ({len(errors)} problems)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
