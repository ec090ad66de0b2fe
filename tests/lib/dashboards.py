#!/usr/bin/env python3
"""tests/lib/dashboards.py: check Grafana dashboards against a real Prometheus.

    dashboards.py structure DASHBOARD.json...
        each file is a dashboard Grafana can load: uid, title, schemaVersion,
        the datasource variable, panels with unique ids and a gridPos, and
        every non-row panel with a Prometheus datasource and targets that have
        a refId and an expr.
    dashboards.py names EXPR
        prints the metric names a PromQL expression reads, one a line.
    dashboards.py series PROM_URL NAMESPACE DASHBOARD.json...
        asks Prometheus (/api/v1/series) for every metric name the panels' and
        variables' expressions read, with the scrape's namespace label; runs
        every panel expression (/api/v1/query, the variables given values) and
        wants a valid query with at least one series back; checks the loaded
        alerting rules (/api/v1/rules) evaluate without error over names that
        exist; and wants every shardcron_* name the platform writes on
        some dashboard. Prints each fault naming the dashboard, panel and name; exit 1
        when there is one.

Name extraction is lexical, enough for the expressions the dashboards and
rules use: strings, label matchers, ranges and `by (...)`-style label lists
are dropped, then an identifier not followed by "(" and not a keyword is a
metric name.
"""
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan"}


def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = []
    for mt in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", e):
        name = mt.group(0)
        if e[mt.end():].lstrip().startswith("(") or name.lower() in KEYWORDS:
            continue
        if name not in names:
            names.append(name)
    return names


def label_values_query(q):
    """label_values(METRIC_SELECTOR, LABEL) -> (selector, label), or None."""
    mt = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", q)
    return (mt.group(1), mt.group(2)) if mt else None


def panels_of(dash):
    """Every panel, those inside collapsed rows too."""
    for p in dash.get("panels", []):
        yield p
        for q in p.get("panels", []) or []:
            yield q


def structure(path):
    faults = []
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        return ["%s: not JSON: %s" % (path, e)]
    for key in ("uid", "title", "schemaVersion", "panels", "templating"):
        if key not in d:
            faults.append("%s: no %r" % (path, key))
    if faults:
        return faults
    if not isinstance(d["schemaVersion"], int) or d["schemaVersion"] < 36:
        faults.append("%s: schemaVersion %r (want 36 or later)" % (path, d["schemaVersion"]))
    variables = {v.get("name"): v for v in d["templating"].get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        faults.append("%s: no datasource variable of type prometheus" % path)
    ids = set()
    for p in panels_of(d):
        where = "%s: panel %r" % (path, p.get("title"))
        if not isinstance(p.get("id"), int) or p["id"] in ids:
            faults.append("%s: id %r missing or repeated" % (where, p.get("id")))
        ids.add(p.get("id"))
        gp = p.get("gridPos", {})
        if not all(isinstance(gp.get(k), int) for k in ("h", "w", "x", "y")) or gp["x"] + gp["w"] > 24:
            faults.append("%s: gridPos %r" % (where, gp))
        if not p.get("title"):
            faults.append("%s: no title" % where)
        if p.get("type") == "row":
            continue
        if p.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            faults.append("%s: datasource %r (want the ${datasource} variable)" % (where, p.get("datasource")))
        targets = p.get("targets") or []
        if not targets:
            faults.append("%s: no targets" % where)
        refs = set()
        for t in targets:
            if not t.get("expr") or not t.get("refId") or t["refId"] in refs:
                faults.append("%s: target %r lacks an expr or a unique refId" % (where, t))
            refs.add(t.get("refId"))
            for var in re.findall(r"\$(?:\{)?([A-Za-z_]\w*)", t.get("expr", "")):
                if var not in variables and not var.startswith("__"):
                    faults.append("%s: expr uses $%s, no such variable" % (where, var))
    return faults


def get(url, path, params):
    q = urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen("%s%s?%s" % (url, path, q), timeout=10) as r:
        return json.load(r)


def query_ok(url, expr):
    """(series returned, error text or "")."""
    try:
        r = get(url, "/api/v1/query", {"query": expr})
    except urllib.error.HTTPError as e:
        try:
            return 0, json.load(e).get("error", str(e))
        except ValueError:
            return 0, str(e)
    if r.get("status") != "success":
        return 0, r.get("error", "failed")
    return len(r["data"]["result"]), ""


def series(url, ns, paths):
    faults = []
    exists = {}

    def have(name, where):
        if name not in exists:
            r = get(url, "/api/v1/series", {"match[]": '%s{namespace="%s"}' % (name, ns)})
            exists[name] = len(r["data"]) > 0
        if not exists[name]:
            faults.append("%s: no series %s{namespace=%r} in Prometheus" % (where, name, ns))

    values = {"namespace": re.escape(ns), "instance": ".*", "__rate_interval": "5s",
              "__range": "1h", "__interval": "1s", "datasource": "prometheus"}

    def fill(expr):
        return re.sub(r"\$\{?(\w+)\}?", lambda mt: values.get(mt.group(1), mt.group(0)), expr)

    checked = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        for v in d["templating"]["list"]:
            if v.get("type") != "query":
                continue
            q = v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
            lv = label_values_query(q)
            where = "%s: variable $%s" % (path, v["name"])
            if not lv:
                faults.append("%s: query %r is not label_values(SELECTOR, LABEL)" % (where, q))
                continue
            sel, label = lv
            for name in metric_names(sel):
                have(name, where)
            r = get(url, "/api/v1/series", {"match[]": fill(sel)})
            if not any(label in s for s in r["data"]):
                faults.append("%s: no series of %s carries label %r" % (where, sel, label))
        for p in panels_of(d):
            for t in p.get("targets", []) or []:
                where = "%s: panel %r target %s" % (path, p.get("title"), t.get("refId"))
                names = metric_names(t["expr"])
                if not names:
                    faults.append("%s: no metric name found in %r" % (where, t["expr"]))
                for name in names:
                    have(name, where)
                n, err = query_ok(url, fill(t["expr"]))
                if err:
                    faults.append("%s: Prometheus refused %r: %s" % (where, fill(t["expr"]), err))
                elif n == 0:
                    faults.append("%s: %r returned no series" % (where, fill(t["expr"])))
                checked += 1
    # Every name the daemons write is charted somewhere (a histogram by any
    # of its _bucket/_sum/_count series).
    def base(n):
        return re.sub(r"_(?:bucket|sum|count)$", "", n)

    charted = {base(n) for n in exists}
    written = get(url, "/api/v1/label/__name__/values", {"match[]": '{namespace="%s"}' % ns})["data"]
    for name in sorted({base(n) for n in written if n.startswith("shardcron_")} - charted):
        faults.append("%s is on /metrics but on no dashboard: add a panel in scripts/grafana-dashboards"
                      % name)
    rules = get(url, "/api/v1/rules", {})["data"]["groups"]
    nrules = 0
    for g in rules:
        for rule in g["rules"]:
            nrules += 1
            where = "rule %s" % rule["name"]
            if rule.get("health") != "ok":
                faults.append("%s: health %r: %s" % (where, rule.get("health"), rule.get("lastError", "")))
            for name in metric_names(rule["query"]):
                have(name, where)
    if nrules == 0:
        faults.append("Prometheus loaded no alerting rules")
    return faults, checked, nrules, len(exists)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "structure":
        faults = [f for p in sys.argv[2:] for f in structure(p)]
        for f in faults:
            print(f)
        sys.exit(1 if faults else 0)
    if len(sys.argv) == 3 and sys.argv[1] == "names":
        print("\n".join(metric_names(sys.argv[2])))
        return
    if len(sys.argv) >= 5 and sys.argv[1] == "series":
        faults, checked, nrules, nnames = series(sys.argv[2], sys.argv[3], sys.argv[4:])
        for f in faults:
            print(f)
        if not faults:
            print("%d panel expressions, %d rules, %d metric names: all present" % (checked, nrules, nnames))
        sys.exit(1 if faults else 0)
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
