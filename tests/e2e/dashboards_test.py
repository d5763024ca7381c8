#!/usr/bin/env python3
"""Structure of the Grafana dashboards in dashboards/ (python3 stdlib only).

Checks: valid JSON; a fixed, unique uid and "id": null; a `datasource`
variable of type datasource (Prometheus) that every panel, target and query
variable uses; unique panel ids and refIds; every panel has targets with an
expr; every $variable used is defined and every defined query variable is
used; panels do not overlap; the provisioning YAML is there.
Usage: dashboards_test.py [DASHBOARDS_DIR]
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIR = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dashboards"
DS = "${datasource}"
# $var, ${var}, ${var:format} and the deprecated [[var]].
VAR_RE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")
# Grafana's own variables ($__rate_interval, $__interval, $__range, ...).
BUILTIN = re.compile(r"^__\w+$")

errors = []


def fail(where, msg):
    errors.append(f"{where}: {msg}")


def variables_in(text):
    return {a or b or c for a, b, c in VAR_RE.findall(text)} - {""}


def datasource_uid(ds):
    if isinstance(ds, dict):
        return ds.get("uid")
    return ds


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def check_dashboard(path, uids):
    where = path.name
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        fail(where, f"not valid JSON: {e}")
        return
    uid = d.get("uid")
    if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
        fail(where, f"uid {uid!r} is not a fixed id of 1-40 letters, digits, '-' or '_'")
    elif uid in uids:
        fail(where, f"uid {uid!r} is also used by {uids[uid]}")
    else:
        uids[uid] = where
    if "id" not in d or d["id"] is not None:
        fail(where, f'"id" must be null (Grafana assigns it), not {d.get("id")!r}')
    if not d.get("title"):
        fail(where, "no title")
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
        fail(where, f"schemaVersion {d.get('schemaVersion')!r} is older than 36")

    variables = d.get("templating", {}).get("list", [])
    defined = {}
    for v in variables:
        name = v.get("name")
        if not name:
            fail(where, f"a template variable has no name: {v}")
            continue
        if name in defined:
            fail(where, f"template variable ${name} defined twice")
        defined[name] = v
    ds_var = defined.get("datasource")
    if ds_var is None:
        fail(where, "no `datasource` template variable")
    elif ds_var.get("type") != "datasource" or ds_var.get("query") != "prometheus":
        fail(where, f"$datasource must be type datasource with query prometheus, is "
                    f"type {ds_var.get('type')!r} query {ds_var.get('query')!r}")

    used = set()
    for v in variables:
        if v.get("type") != "query":
            continue
        vw = f"{where} variable ${v.get('name')}"
        if datasource_uid(v.get("datasource")) != DS:
            fail(vw, f"datasource is {v.get('datasource')!r}, not {DS}")
        q = v.get("query")
        text = q.get("query", "") if isinstance(q, dict) else (q or "")
        if not text.strip():
            fail(vw, "empty query")
        for name in variables_in(text) | variables_in(v.get("definition", "")):
            used.add(name)
            if not BUILTIN.match(name) and name not in defined:
                fail(vw, f"uses ${name}, which is not defined")
        if v.get("multi") and v.get("includeAll") and v.get("allValue") is None:
            fail(vw, "multi-value with All but no allValue (All would expand to a long alternation)")

    ids = {}
    cells = []
    panels = list(all_panels(d.get("panels", [])))
    if not any(p.get("type") != "row" for p in panels):
        fail(where, "no panels")
    for p in panels:
        pid = p.get("id")
        pw = f"{where} panel {pid} {p.get('title')!r}"
        if not isinstance(pid, int):
            fail(pw, "id is not an integer")
        elif pid in ids:
            fail(pw, f"id {pid} also used by panel {ids[pid]!r}")
        else:
            ids[pid] = p.get("title")
        g = p.get("gridPos")
        if not isinstance(g, dict) or not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")):
            fail(pw, f"gridPos {g!r} lacks x, y, w or h")
        else:
            if g["x"] < 0 or g["x"] + g["w"] > 24:
                fail(pw, f"gridPos {g} is outside the 24 columns")
            cells.append((pw, g))
        if p.get("type") == "row":
            continue
        if not p.get("title"):
            fail(pw, "no title")
        if datasource_uid(p.get("datasource")) != DS:
            fail(pw, f"datasource is {p.get('datasource')!r}, not {DS}")
        targets = p.get("targets") or []
        if not targets:
            fail(pw, "no targets")
        refs = set()
        for t in targets:
            tw = f"{pw} target {t.get('refId')}"
            if not t.get("refId"):
                fail(tw, "no refId")
            elif t["refId"] in refs:
                fail(tw, "refId used twice in the panel")
            refs.add(t.get("refId"))
            if "datasource" in t and datasource_uid(t["datasource"]) != DS:
                fail(tw, f"datasource is {t['datasource']!r}, not {DS}")
            expr = t.get("expr", "")
            if not isinstance(expr, str) or not expr.strip():
                fail(tw, "no expr")
                continue
            for name in variables_in(expr):
                used.add(name)
                if not BUILTIN.match(name) and name not in defined:
                    fail(tw, f"expr uses ${name}, which is not defined in templating: {expr}")
            if expr.count("(") != expr.count(")"):
                fail(tw, f"unbalanced parentheses: {expr}")

    for name, v in defined.items():
        if v.get("type") == "query" and name not in used:
            fail(where, f"query variable ${name} is defined but no expr uses it")

    for i, (pa, a) in enumerate(cells):
        for pb, b in cells[i + 1:]:
            if (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and
                    a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]):
                fail(pa, f"overlaps {pb}")


def check_provisioning():
    prov = DIR / "provisioning"
    for name, needles in {
        "dashboards.yaml": ["apiVersion: 1", "providers:", "type: file", "path:"],
        "datasources.yaml": ["apiVersion: 1", "datasources:", "type: prometheus", "url:"],
    }.items():
        f = prov / name
        if not f.is_file():
            fail(str(f), "missing")
            continue
        text = f.read_text()
        for n in needles:
            if n not in text:
                fail(str(f), f"lacks {n!r}")
        if "\t" in text:
            fail(str(f), "has a tab (YAML indents with spaces)")


def main():
    files = sorted(DIR.glob("*.json"))
    if not files:
        fail(str(DIR), "no dashboards (*.json)")
    uids = {}
    for f in files:
        check_dashboard(f, uids)
    check_provisioning()
    for e in errors:
        print(f"FAIL: {e}", file=sys.stderr)
    print(f"dashboards_test: {len(files)} dashboards checked, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
