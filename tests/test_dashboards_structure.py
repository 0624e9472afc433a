"""The Grafana dashboards and their provisioning, checked against what is real: every dashboard
parses and keeps its uid, every datasource reference names a provisioned datasource, every
template variable used is defined, every panel has a query, a description and a unit, and the
queries only name metrics, measurements, tags and fields the collector really produces.

No Grafana runs here. `iter_queries` is also what a test running the panels' queries against
real Prometheus and InfluxDB reuses.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"
PROVISIONING = DASHBOARDS / "provisioning"
METRICS_DOC = ROOT / "docs" / "metrics.md"
INFLUX_DOC = ROOT / "docs" / "influxdb-schema.md"
INFLUX_SCHEMA = ROOT / "collector" / "sinks" / "influx_schema.py"
METRIC_SOURCES = ("chargewatch", "collector", "rules", "notifier")

# file -> uid: links (alert e-mails use /d/cw-charger?var-charger=...) depend on these
EXPECTED_UIDS = {
    "overview.json": "cw-overview",
    "charger.json": "cw-charger",
    "sessions.json": "cw-sessions",
    "sla.json": "cw-sla",
    "collector.json": "cw-collector",
}
DATASOURCES = {"cw-prometheus": "prometheus", "cw-influxdb": "influxdb"}
# Grafana's own annotation source ("Annotations & Alerts"), allowed on the built-in entry only
GRAFANA_BUILTIN = {"type": "grafana", "uid": "-- Grafana --"}

# variables Grafana defines itself
BUILTIN_VARIABLES = {
    "timeFilter",
    "__timeFilter",
    "__interval",
    "__interval_ms",
    "__rate_interval",
    "__rate_interval_ms",
    "__range",
    "__range_s",
    "__range_ms",
    "__from",
    "__to",
    "__all",
    "__dashboard",
    "__org",
    "__user",
    "__name",
}
# InfluxQL alias patterns (series naming), valid in `alias` only
ALIAS_PATTERN = re.compile(r"tag_\w+|col|m|measurement|\d+")
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))|\[\[(\w+)(?::\w+)?\]\]")

LAYOUT_TYPES = {"row", "text"}  # panels without queries
# state timelines show strings (statuses): a unit means nothing there
UNITLESS_TYPES = {"state-timeline"}
# colour by value: these need thresholds unless they use one fixed colour
THRESHOLD_TYPES = {"stat", "gauge", "bargauge"}


# ---- loading ------------------------------------------------------------------------------


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load_dashboards() -> dict[str, dict[str, Any]]:
    """file name -> dashboard model."""
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in dashboard_files()}


def provisioned_datasources() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((PROVISIONING / "datasources").glob("*.y*ml")):
        out += yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    return out


# ---- walking a dashboard ------------------------------------------------------------------


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included (collapsed rows keep theirs in `panels`)."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def target_query(target: dict[str, Any]) -> str:
    """The query text of a Prometheus (expr) or InfluxDB (query) target."""
    return str(target.get("expr") or target.get("query") or "")


def target_uid(panel: dict[str, Any], target: dict[str, Any]) -> str:
    ds = target.get("datasource") or panel.get("datasource") or {}
    return ds.get("uid", "") if isinstance(ds, dict) else str(ds)


def iter_targets(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) of every query: the panel has timeFrom / interval / maxDataPoints, a
    Prometheus target says `instant` or `range`, an InfluxDB one its `resultFormat`."""
    for panel in iter_panels(dashboard):
        if panel.get("type") in LAYOUT_TYPES:
            continue
        for target in panel.get("targets", []):
            yield panel, target


def iter_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(panel title, datasource uid, query text) of every panel target, in layout order.

    Template variables are left as they are ($site, $timeFilter, $__interval, ...): a caller
    running the queries substitutes them the way Grafana would. Hidden targets are included.
    """
    for panel, target in iter_targets(dashboard):
        yield panel.get("title", ""), target_uid(panel, target), target_query(target)


def iter_annotation_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(annotation name, datasource uid, query) of the dashboard's query annotations."""
    for anno in dashboard.get("annotations", {}).get("list", []):
        if anno.get("builtIn"):
            continue
        query = anno.get("query") or (anno.get("target") or {}).get("query", "")
        yield anno.get("name", ""), anno["datasource"]["uid"], query


def iter_variable_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(variable name, datasource uid, query) of the query variables, in dashboard order
    (a chained variable comes after the ones it uses)."""
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        yield var["name"], var["datasource"]["uid"], text


def iter_datasource_refs(node: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    """Every `datasource` value anywhere in the model, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield path, value
            yield from iter_datasource_refs(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from iter_datasource_refs(value, f"{path}[{i}]")


# ---- checks (each returns a list of problems) ----------------------------------------------


def check_model(name: str, dashboard: dict[str, Any]) -> list[str]:
    problems = []
    if dashboard.get("id") is not None:
        problems.append(f"{name}: id must be null (Grafana assigns it)")
    if dashboard.get("uid") != EXPECTED_UIDS.get(name):
        problems.append(
            f"{name}: uid {dashboard.get('uid')!r}, expected {EXPECTED_UIDS.get(name)!r}"
        )
    if int(dashboard.get("schemaVersion", 0)) < 39:
        problems.append(f"{name}: schemaVersion below 39 (Grafana 11)")
    if "chargewatch" not in dashboard.get("tags", []):
        problems.append(f"{name}: not tagged chargewatch")
    if not dashboard.get("title") or not dashboard.get("time", {}).get("from"):
        problems.append(f"{name}: needs a title and a default time range")
    if not dashboard.get("refresh"):
        problems.append(f"{name}: needs a refresh interval")
    for anno in dashboard.get("annotations", {}).get("list", []):
        if not anno.get("builtIn") and anno.get("query") != anno.get("target", {}).get("query"):
            problems.append(f"{name}: annotation {anno.get('name')!r}: query and target differ")
    ids = [p.get("id") for p in iter_panels(dashboard)]
    if len(ids) != len(set(ids)) or None in ids:
        problems.append(f"{name}: panel ids missing or not unique")
    return problems


def check_datasources(name: str, dashboard: dict[str, Any]) -> list[str]:
    problems = []
    builtin_paths = {
        f"$.annotations.list[{i}]"
        for i, a in enumerate(dashboard.get("annotations", {}).get("list", []))
        if a.get("builtIn")
    }
    for path, ref in iter_datasource_refs(dashboard):
        if ref == GRAFANA_BUILTIN and path in builtin_paths:
            continue
        if not isinstance(ref, dict):
            problems.append(f"{name} {path}: datasource {ref!r} is not a {{type, uid}} reference")
        elif DATASOURCES.get(ref.get("uid", "")) != ref.get("type"):
            problems.append(f"{name} {path}: datasource {ref} is not provisioned")
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("datasource") != panel.get("datasource"):
                problems.append(f"{name} {panel.get('title')!r}: a target's datasource differs")
    return problems


def used_variables(text: str) -> set[str]:
    return {a or b or c for a, b, c in VARIABLE.findall(text)}


def check_variables(name: str, dashboard: dict[str, Any]) -> list[str]:
    problems = []
    defined: list[str] = []
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        text = json.dumps(query) if isinstance(query, dict) else str(query or "")
        # a variable may only use variables defined before it (chained: site -> charger)
        for used in used_variables(text) - BUILTIN_VARIABLES - set(defined):
            problems.append(f"{name}: variable {var['name']!r} uses ${used}, not defined before")
        defined.append(var["name"])
    known = BUILTIN_VARIABLES | set(defined)
    texts = [("dashboard title", dashboard.get("title", ""))]
    for panel in iter_panels(dashboard):
        title = panel.get("title", "")
        texts += [
            (f"{title!r} title", title),
            (f"{title!r} description", panel.get("description", "")),
        ]
        for target in panel.get("targets", []):
            texts.append((f"{title!r} query", target_query(target)))
            alias = str(target.get("alias", "")) + str(target.get("legendFormat", ""))
            for used in used_variables(alias) - known:
                if not ALIAS_PATTERN.fullmatch(used):
                    problems.append(f"{name}: {title!r} alias uses undefined ${used}")
            # $tag_x names a series only when the outermost query (its GROUP BY comes last)
            # groups by x
            query = target_query(target)
            outer = query.rsplit("GROUP BY", 1)[-1].split("\n")[0] if "GROUP BY" in query else ""
            for tag in re.findall(r"\$tag_(\w+)", alias):
                if f'"{tag}"' not in outer:
                    problems.append(f"{name}: {title!r} alias uses $tag_{tag} without GROUP BY")
    for anno_name, _, query in iter_annotation_queries(dashboard):
        texts.append((f"annotation {anno_name!r}", query))
    for where, text in texts:
        for used in used_variables(text) - known:
            problems.append(f"{name}: {where} uses undefined ${used}")
    return problems


def check_panels(name: str, dashboard: dict[str, Any]) -> list[str]:
    problems = []
    for panel in iter_panels(dashboard):
        kind, title = panel.get("type"), panel.get("title", "")
        where = f"{name} {title!r}"
        if kind in LAYOUT_TYPES:
            continue
        if not title:
            problems.append(f"{name}: a {kind} panel has no title")
        if not str(panel.get("description", "")).strip():
            problems.append(f"{where}: no description")
        targets = panel.get("targets", [])
        if not targets or not all(target_query(t).strip() for t in targets):
            problems.append(f"{where}: every panel needs targets, each with a query")
        for target in targets:
            uid = target_uid(panel, target)
            if uid == "cw-influxdb" and target.get("rawQuery") is not True:
                problems.append(f"{where}: InfluxQL targets are raw queries (rawQuery: true)")
            if uid == "cw-prometheus" and not target.get("expr"):
                problems.append(f"{where}: Prometheus targets need expr")
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        if kind not in UNITLESS_TYPES and not defaults.get("unit"):
            problems.append(f"{where}: no unit (fieldConfig.defaults.unit)")
        if kind in THRESHOLD_TYPES:
            fixed = defaults.get("color", {}).get("mode") in ("fixed", "palette-classic")
            fixed = fixed or panel.get("options", {}).get("colorMode") == "none"
            steps = defaults.get("thresholds", {}).get("steps", [])
            if not fixed and len(steps) < 2:
                problems.append(f"{where}: colours by thresholds but has no threshold")
    return problems


def check_layout(name: str, dashboard: dict[str, Any]) -> list[str]:
    problems, cells = [], {}
    for panel in dashboard.get("panels", []):
        pos = panel.get("gridPos", {})
        x, y, w, h = (pos.get(k, -1) for k in ("x", "y", "w", "h"))
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > 24:
            problems.append(f"{name} {panel.get('title')!r}: bad gridPos {pos}")
            continue
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                if (cx, cy) in cells:
                    problems.append(f"{name}: {panel.get('title')!r} overlaps {cells[(cx, cy)]!r}")
                    break
                cells[(cx, cy)] = panel.get("title")
            else:
                continue
            break
    return problems


# ---- query contents ---------------------------------------------------------------------

PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
PROMQL_KEYWORDS |= {"group_left", "group_right", "inf", "nan"}
LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def promql_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are no function, keyword, label
    or string (label matchers, label lists, strings and durations are removed first)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = LABEL_LISTS.sub(" ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group().lower() in PROMQL_KEYWORDS:
            continue
        if text[: match.start()].rstrip().endswith(("$", ".")) or match.group()[0].isdigit():
            continue
        names.add(match.group())
    return names


def documented_metrics() -> tuple[set[str], list[str]]:
    """Backticked metric names in docs/metrics.md, and `prefix_*` patterns."""
    tokens = set(re.findall(r"`([a-z_:][a-z0-9_:*]*)`", METRICS_DOC.read_text(encoding="utf-8")))
    return {t for t in tokens if "*" not in t}, [t[:-1] for t in tokens if t.endswith("_*")]


def documented_labels() -> dict[str, set[str]]:
    """metric -> its labels, from the tables of docs/metrics.md (a `labels` column, or the
    labels in parentheses after the type, as in `counter (reason)`)."""
    labels: dict[str, set[str]] = {}
    columns: list[str] = []
    for line in METRICS_DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            columns = []
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not columns:
            columns = cells
            continue
        names = re.findall(r"`([a-z_:]+)`", cells[0])
        if not names or "metric" not in columns:
            continue
        found = set(re.findall(r"[a-z_]+", re.sub(r"^[^(]*\(?|\)$", "", cells[1])))
        found -= {"gauge", "counter", "histogram", "summary"}
        if "labels" in columns:
            found |= set(re.findall(r"[a-z_]+", cells[columns.index("labels")]))
        labels[names[0]] = found
    return labels


# series of chargewatch_alerts carry the alert's own labels (any rule's `labels:`)
OPEN_LABELS = {"chargewatch_alerts"}
TARGET_LABELS = {"job", "instance"}  # added by Prometheus at scrape time
SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")


def promql_label_problems(expr: str, labels: dict[str, set[str]]) -> list[str]:
    """Label matchers must name labels of their metric; by/on/group_left lists must name
    labels of the expression's metrics (or ones label_replace creates)."""
    problems = []
    metrics = promql_metrics(expr)
    made = set(re.findall(r'label_replace\([^"]*"([a-z_]+)"', expr))
    known = set(TARGET_LABELS) | made
    for metric in metrics:
        base = re.sub(r"_(bucket|sum|count)$", "", metric)
        found = labels.get(metric, labels.get(base, set()))
        known |= found | ({"le"} if metric.endswith("_bucket") else set())
    for metric, matchers in SELECTOR.findall(expr):
        if metric in OPEN_LABELS or metric.startswith("process_"):
            continue
        base = re.sub(r"_(bucket|sum|count)$", "", metric)
        own = labels.get(metric, labels.get(base, set())) | TARGET_LABELS
        for label in re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)", matchers):
            if label not in own:
                problems.append(f"{metric} has no label {label!r}")
    if metrics & OPEN_LABELS:
        return problems
    for clause in LABEL_LISTS.findall(expr):
        for label in re.findall(r"[a-z_]+", clause.split("(", 1)[1]):
            if label not in known:
                problems.append(
                    f"label {label!r} in {clause!r} is not a label of {sorted(metrics)}"
                )
    return problems


def metric_problems(name: str, documented: set[str], prefixes: list[str], source: str) -> list[str]:
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    if not name.startswith(("chargewatch_", "process_")):
        return [f"{name}: not a ChargeWatch metric"]
    if not ({name, base} & documented or any(name.startswith(p) for p in prefixes)):
        return [f"{name}: not in docs/metrics.md"]
    code_name = re.sub(r"_total$", "", base)
    if name.startswith("chargewatch_") and f'"{code_name}"' not in source:
        return [f"{name}: no metric {code_name!r} in the collector's code"]
    return []


def metric_source() -> str:
    return "\n".join(
        p.read_text(encoding="utf-8")
        for d in METRIC_SOURCES
        for p in (ROOT / d).rglob("*.py")
        if "tests" not in p.parts
    )


def influx_doc_schema() -> dict[str, tuple[set[str], set[str]]]:
    """measurement -> (tags, fields) as docs/influxdb-schema.md names them: table rows
    `| tag | `name` |` / `| field | `name` |`, or a paragraph "tags `a`, `b`; fields `c`"."""
    text = INFLUX_DOC.read_text(encoding="utf-8")
    schema: dict[str, tuple[set[str], set[str]]] = {}
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        heading, _, body = section.partition("\n")
        tags: set[str] = set()
        fields: set[str] = set()
        for kind, cell in re.findall(r"^\| (tag|field) \| ([^|]*)\|", body, flags=re.M):
            (tags if kind == "tag" else fields).update(re.findall(r"`([a-z_]+)`", cell))
        prose = re.sub(r"\([^)]*\)", "", body.strip().split("\n\n")[0])
        match = re.search(r"\btags\s(.*?);\s*fields?\s(.*)", prose, flags=re.S)
        if match:
            tags.update(re.findall(r"`([a-z_]+)`", match.group(1)))
            fields.update(re.findall(r"`([a-z_]+)`", match.group(2)))
        for measurement in re.findall(r"`([a-z_]+)`", heading):
            schema[measurement] = (tags, fields)
    return schema


def influxql_problems(
    query: str, schema: dict[str, tuple[set[str], set[str]]], code: str
) -> list[str]:
    """Measurements the query reads must be documented; every other double-quoted name must
    be a tag or field of one of them (in the docs and in the encoder) or an alias (AS), and
    GROUP BY must name tags (InfluxQL silently ignores a field there)."""
    measurements = set(re.findall(r'\bFROM\s+"([^"]+)"', query, flags=re.I))
    measurements |= set(re.findall(r"\bFROM\s+([A-Za-z_]\w*)", query, flags=re.I))
    problems = [
        f"measurement {m!r} is not in docs/influxdb-schema.md" for m in measurements - schema.keys()
    ]
    if not measurements:
        problems.append("reads no measurement")
    tags = set().union(*(schema[m][0] for m in measurements & schema.keys()))
    fields = set().union(*(schema[m][1] for m in measurements & schema.keys()))
    aliases = set(re.findall(r'\bAS\s+"([^"]+)"', query, flags=re.I))
    for ident in set(re.findall(r'"([^"]+)"', query)) - measurements - aliases:
        if ident not in tags | fields:
            problems.append(f"{ident!r} is no tag or field of {sorted(measurements)}")
        elif f'"{ident}"' not in code:
            problems.append(f"{ident!r} is not written by collector/sinks/influx_schema.py")
    for clause in re.findall(r"GROUP BY ([^)\n]*)", re.sub(r"time\([^)]*\)", "", query)):
        for ident in re.findall(r'"([^"]+)"', clause):
            if ident not in tags:
                problems.append(f"GROUP BY {ident!r}: not a tag of {sorted(measurements)}")
    doc = INFLUX_DOC.read_text(encoding="utf-8")
    for measurand in re.findall(r"\"measurand\"\s*=\s*'([^']+)'", query):
        if measurand not in doc:
            problems.append(f"measurand {measurand!r} is not in docs/influxdb-schema.md")
    return problems


def check_queries(name: str, dashboard: dict[str, Any]) -> list[str]:
    documented, prefixes = documented_metrics()
    source, influx_code = metric_source(), INFLUX_SCHEMA.read_text(encoding="utf-8")
    schema, labels = influx_doc_schema(), documented_labels()
    problems = []
    queries = [*iter_queries(dashboard), *iter_annotation_queries(dashboard)]
    queries += list(iter_variable_queries(dashboard))
    for title, uid, query in queries:
        if uid == "cw-prometheus":
            metrics = promql_metrics(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query))
            if not metrics:
                problems.append(f"{name} {title!r}: no metric in {query!r}")
            problems += [f"{name} {title!r}: {p}" for p in promql_label_problems(query, labels)]
            for metric in sorted(metrics):
                problems += [
                    f"{name} {title!r}: {p}"
                    for p in metric_problems(metric, documented, prefixes, source)
                ]
        elif uid == "cw-influxdb":
            problems += [
                f"{name} {title!r}: {p}" for p in influxql_problems(query, schema, influx_code)
            ]
        else:
            problems.append(f"{name} {title!r}: query on unknown datasource {uid!r}")
    return problems


CHECKS = (
    check_model,
    check_datasources,
    check_variables,
    check_panels,
    check_layout,
    check_queries,
)


# ---- tests on the shipped files --------------------------------------------------------


def test_every_dashboard_parses_and_the_uids_are_the_expected_ones() -> None:
    assert {p.name for p in dashboard_files()} == set(EXPECTED_UIDS)
    dashboards = load_dashboards()
    uids = [d["uid"] for d in dashboards.values()]
    assert len(uids) == len(set(uids))
    assert {n: d["uid"] for n, d in dashboards.items()} == EXPECTED_UIDS
    for path in dashboard_files():  # readable: indented, one trailing newline
        text = path.read_text(encoding="utf-8")
        assert text.startswith('{\n  "') and text.endswith("}\n"), path


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(EXPECTED_UIDS))
def test_dashboard(name: str, check: Any) -> None:
    dashboard = load_dashboards()[name]
    assert check(name, dashboard) == []


def test_every_dashboard_has_panels_of_both_datasources_where_promised() -> None:
    # live state from Prometheus, history from InfluxDB; the collector page is Prometheus only
    used = {n: {uid for _, uid, _ in iter_queries(d)} for n, d in load_dashboards().items()}
    assert used["collector.json"] == {"cw-prometheus"}
    for name in ("overview.json", "charger.json", "sessions.json"):
        assert used[name] == {"cw-prometheus", "cw-influxdb"}, name
    assert used["sla.json"] == {"cw-influxdb"}


def test_charger_variables_are_chained_site_charger_connector() -> None:
    dashboard = load_dashboards()["charger.json"]
    variables = {name: query for name, _, query in iter_variable_queries(dashboard)}
    assert list(variables) == ["site", "charger", "connector"]
    assert "$site" in variables["charger"] and "$charger" in variables["connector"]
    # alert e-mails link with ?var-charger=<id> (notifier/config.py dashboard_url)
    charger = next(v for v in dashboard["templating"]["list"] if v["name"] == "charger")
    assert not charger["multi"] and not charger.get("includeAll")


def test_provisioned_datasources_have_the_uids_the_dashboards_use() -> None:
    sources = {ds["uid"]: ds for ds in provisioned_datasources()}
    assert {uid: ds["type"] for uid, ds in sources.items()} == DATASOURCES
    prometheus, influx = sources["cw-prometheus"], sources["cw-influxdb"]
    assert prometheus["url"] == "http://prometheus:9090" and prometheus["access"] == "proxy"
    assert influx["jsonData"]["version"] == "InfluxQL"
    assert influx["jsonData"]["dbName"] == "chargewatch"
    assert influx["jsonData"]["httpMode"] in ("GET", "POST")
    # InfluxDB 2.x speaks InfluxQL with the token in a header (and a DBRP mapping)
    assert influx["jsonData"]["httpHeaderName1"] == "Authorization"
    assert influx["secureJsonData"]["httpHeaderValue1"] == "Token ${INFLUX_TOKEN}"
    assert all(ds.get("name") for ds in sources.values())


def test_dashboard_provider_loads_the_json_files_into_the_chargewatch_folder() -> None:
    files = sorted((PROVISIONING / "dashboards").glob("*.y*ml"))
    assert files
    providers = [p for f in files for p in yaml.safe_load(f.read_text())["providers"]]
    assert len(providers) == 1
    provider = providers[0]
    assert provider["type"] == "file" and provider["folder"] == "ChargeWatch"
    assert provider["allowUiUpdates"] is False
    assert provider["options"]["path"].startswith("/")


def test_iter_queries_yields_every_target_with_its_datasource() -> None:
    dashboard = load_dashboards()["charger.json"]
    queries = list(iter_queries(dashboard))
    targets = sum(len(p.get("targets", [])) for p in iter_panels(dashboard))
    assert len(queries) == targets > 20
    titles = {title for title, _, _ in queries}
    assert {"Status timeline", "Power", "Recent sessions", "Error codes"} <= titles
    for title, uid, query in queries:
        assert uid in DATASOURCES and query, title
    assert [n for n, _, _ in iter_annotation_queries(dashboard)] == [
        "Alerts fired",
        "Alerts resolved",
    ]


# ---- the checks catch what they are for --------------------------------------------------


def _charger() -> dict[str, Any]:
    return copy.deepcopy(load_dashboards()["charger.json"])


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in iter_panels(dashboard) if p.get("title") == title)


def test_checks_catch_a_wrong_uid_and_id() -> None:
    broken = _charger()
    broken["uid"], broken["id"] = "charger-2", 7
    problems = check_model("charger.json", broken)
    assert any("uid 'charger-2'" in p for p in problems)
    assert any("id must be null" in p for p in problems)


def test_checks_catch_an_unprovisioned_datasource() -> None:
    broken = _charger()
    panel = _panel(broken, "Power")
    panel["datasource"] = panel["targets"][0]["datasource"] = {"type": "influxdb", "uid": "other"}
    broken["templating"]["list"][0]["datasource"] = "Prometheus"  # a legacy name reference
    problems = check_datasources("charger.json", broken)
    assert any("'uid': 'other'" in p for p in problems)
    assert any("'Prometheus' is not a {type, uid} reference" in p for p in problems)


def test_checks_catch_an_undefined_variable_and_a_wrong_chain_order() -> None:
    broken = _charger()
    _panel(broken, "Power")["targets"][0]["query"] += ' AND "site" =~ /^$sitee$/'
    _panel(broken, "Temperature")["targets"][0]["alias"] = "$tag_site"  # not grouped by site
    variables = broken["templating"]["list"]
    variables[0], variables[1] = variables[1], variables[0]  # charger before site
    problems = check_variables("charger.json", broken)
    assert any("undefined $sitee" in p for p in problems)
    assert any("'charger' uses $site, not defined before" in p for p in problems)
    assert any("'Temperature' alias uses $tag_site without GROUP BY" in p for p in problems)


def test_checks_catch_a_panel_without_query_description_or_unit() -> None:
    broken = _charger()
    panel = _panel(broken, "Power")
    panel["targets"][0]["query"] = ""
    panel["description"] = " "
    del panel["fieldConfig"]["defaults"]["unit"]
    silent = _panel(broken, "Silent for")
    silent["fieldConfig"]["defaults"]["thresholds"]["steps"] = [{"color": "green", "value": None}]
    problems = check_panels("charger.json", broken)
    for expected in ("needs targets", "no description", "no unit", "has no threshold"):
        assert any(expected in p for p in problems), expected


def test_checks_catch_overlapping_panels() -> None:
    broken = _charger()
    broken["panels"][2]["gridPos"] = dict(broken["panels"][1]["gridPos"])
    assert check_layout("charger.json", broken)


def test_checks_catch_metrics_and_influxdb_names_that_do_not_exist() -> None:
    broken = _charger()
    _panel(broken, "Connection")["targets"][0]["expr"] = (
        'max(chargewatch_charger_online{charger="$charger"}) or up'
    )
    _panel(broken, "Power")["targets"][0]["query"] = (
        'SELECT mean("watts") FROM "meter_values" WHERE "charger" = \'$charger\' AND '
        "\"measurand\" = 'Power.Active.Export.Interval' AND $timeFilter"
    )
    _panel(broken, "Recent sessions")["targets"][0]["query"] = (
        'SELECT "driver_name" FROM "session" WHERE $timeFilter GROUP BY time(1h), "id_tag"'
    )
    _panel(broken, "Silent for")["targets"][0]["expr"] = (
        'sum by (station) (chargewatch_charger_last_seen_timestamp_seconds{status="x"})'
    )
    problems = "\n".join(check_queries("charger.json", broken))
    assert "chargewatch_charger_last_seen_timestamp_seconds has no label 'status'" in problems
    assert "label 'station' in 'by (station)' is not a label of" in problems
    assert "chargewatch_charger_online: not in docs/metrics.md" in problems
    assert "up: not a ChargeWatch metric" in problems
    assert "measurement 'meter_values' is not in docs" in problems
    assert "'Power.Active.Export.Interval' is not in docs" in problems
    assert "'driver_name' is no tag or field of ['session']" in problems
    assert "GROUP BY 'id_tag': not a tag of ['session']" in problems  # a field: ignored there


def test_promql_metric_parsing() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, action) (rate(chargewatch_ocpp_handling_seconds_"
        'bucket{instance=~"$instance"}[$__rate_interval]))) or label_replace(vector(0), "code",'
        ' "none", "", "") * on (charger) group_left (status) (chargewatch_connector_status == 1)'
    )
    assert promql_metrics(expr) == {
        "chargewatch_ocpp_handling_seconds_bucket",
        "chargewatch_connector_status",
    }
    assert promql_metrics("time() - max(chargewatch_charger_last_seen_timestamp_seconds)") == {
        "chargewatch_charger_last_seen_timestamp_seconds"
    }
