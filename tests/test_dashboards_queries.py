"""Every query of the shipped Grafana dashboards, run against real servers after a simulated
run of the collector: panel targets, annotations and template variables, with the variables
substituted the way Grafana would, must be accepted by Prometheus and InfluxDB 1.x and return
data.

The scenario (one per module): InfluxDB 1.x and Prometheus (scraping every second) on
loopback, an App shipping to InfluxDB with two sites on the map and rules made fast, and a
fleet of 8 simulated chargers with faults on. During the run firing non-critical alerts are
acknowledged over the API; faults clear, so alerts resolve. When the fleet stops, every
charger goes offline (ChargerOffline, SiteOutage, then the response-time SLA alerts), and
SIM-0001 comes back reporting a fault it still has (errors "now", its offline alert resolves).

No Grafana runs here; what it does with a query is reproduced: the time range is "Last 15
minutes" (panels with `timeFrom` get theirs), `$__interval` comes from the range, the panel's
max data points and the minimum interval (panel, query or datasource), Prometheus range
queries are aligned to their step, and template variables are formatted per datasource.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from conftest import make_config
from datasource_queries import label_values, run_influxql, run_promql
from grafana_emulation import ALL, Variable, substitute, timing
from helpers import call, eventually, raw_charger
from servers import InfluxDB1, Prometheus
from test_dashboards_structure import (
    iter_annotation_queries,
    iter_targets,
    load_dashboards,
    target_query,
    target_uid,
)

from chargewatch.app import App
from collector.simulator import FleetOptions, run_fleet

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
PROMETHEUS, INFLUXDB = "cw-prometheus", "cw-influxdb"

CHARGERS = [f"SIM-{i:04d}" for i in range(1, 9)]
SITES = {  # id -> (name, latitude, longitude, chargers)
    "depot-north": ("Depot North", 52.52, 13.40, CHARGERS[:4]),
    "highway-a9": ("A9 Services", 48.77, 11.43, CHARGERS[4:]),
}
FLEET_SECONDS = 12.0
SEED = 4  # injects every fault kind in this run; SIM-0001 stops sessions early on
RANGE_S = 15 * 60  # Grafana's "Last 15 minutes"
ACK_BY = "noc-dashboards-test"

# Panels that may legitimately return nothing after a run of a minute; their queries must
# still be accepted. Keep this short: make the scenario produce the data instead.
MAY_BE_EMPTY: dict[tuple[str, str], str] = {}  # (dashboard file, panel title) -> why

FAST = {
    "faulted_for": "0s",
    "offline_for": "0s",
    "outage_for": "0s",
    "ack_within": "1s",  # CriticalNotAcknowledged: SiteOutage is never acknowledged here
    "resolve_within": "2s",  # CriticalNotResolved, MajorNotResolved
}


def config_yaml(influx_url: str) -> str:
    config = {
        "influxdb": {
            "url": influx_url,
            "api": "v1",
            "database": "chargewatch",
            "flush_interval": 0.1,
        },
        "ocpp": {"heartbeat_interval": 2},
        "rules": {
            "evaluation_delay": 0,
            "snapshot_interval": 1,  # so the snapshot histogram has observations
            "overrides": [{"params": FAST}],
        },
        "sites": [
            {"id": site, "name": name, "latitude": lat, "longitude": lon, "chargers": chargers}
            for site, (name, lat, lon, chargers) in SITES.items()
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


# ---- the scenario -------------------------------------------------------------------------


@dataclass
class Scenario:
    prometheus: str
    influxdb: str
    end: float  # the dashboards' "now": every query is evaluated at this instant

    @property
    def start(self) -> float:
        return self.end - RANGE_S


async def _acknowledge_firing(http: httpx.AsyncClient, acked: set[str]) -> None:
    """Acknowledge the firing alerts that are not critical (those stay unacknowledged, so
    CriticalNotAcknowledged fires)."""
    response = await http.get("/api/v1/alerts")
    response.raise_for_status()
    for alert in response.json()["alerts"]:
        if alert["state"] != "firing" or alert["severity"] == "critical":
            continue
        if alert["acknowledged_by"] or alert["fingerprint"] in acked:
            continue
        answer = await http.post(
            f"/api/v1/alerts/{alert['fingerprint']}/acknowledge",
            json={"by": ACK_BY, "comment": "on it"},
        )
        if answer.status_code == 202:
            acked.add(alert["fingerprint"])
        else:  # resolved in the meantime
            assert answer.status_code == 404, answer.text


def _firing(app: App, rule: str) -> bool:
    assert app.rules is not None
    return any(a.rule == rule and a.state == "firing" for a in app.rules.active())


def _caught_up(app: App) -> bool:
    assert app.rules is not None and app.journal is not None and app.influx is not None
    return app.rules.position >= app.journal.last_seq and app.influx.backlog == 0


def _scraped_after(prometheus: str, since: float) -> bool:
    """Prometheus' last successful scrape of the App is later than `since`."""
    response = httpx.get(
        f"{prometheus}/api/v1/query",
        params={"query": 'timestamp(up{job="chargewatch"} == 1)'},
        timeout=5,
    )
    result = response.json()["data"]["result"]
    return bool(result) and float(result[0]["value"][1]) > since


def max_prometheus_step() -> float:
    """The longest step (seconds) of the Prometheus range queries that must return data."""
    now = time.time()
    return max(
        timing(panel, target, PROMETHEUS, now - RANGE_S, now).interval_ms / 1000
        for name, dashboard in load_dashboards().items()
        for panel, target in iter_targets(dashboard)
        if target_uid(panel, target) == PROMETHEUS
        and not target.get("instant")
        and (name, panel.get("title")) not in MAY_BE_EMPTY
    )


async def run_scenario(app: App, prometheus: Prometheus, stack: contextlib.AsyncExitStack) -> None:
    """The fleet run, acknowledgements, the outage at the end and SIM-0001's return; returns
    once InfluxDB holds everything and Prometheus has scraped the final state."""
    faults: set[str] = set()
    completed: set[str] = set()

    def on_event(charger: str, kind: str, details: dict[str, Any]) -> None:
        if kind == "fault":
            faults.add(details["kind"])
        elif kind == "session_completed":
            completed.add(charger)

    http = await stack.enter_async_context(
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}", timeout=10)
    )
    options = FleetOptions(
        url=f"ws://127.0.0.1:{app.ocpp_port}/ocpp",
        chargers=len(CHARGERS),
        connectors=2,
        meter_interval=0.1,
        faults=1.0,
        duration=FLEET_SECONDS,
        seed=SEED,
    )
    fleet = asyncio.create_task(run_fleet(options, on_event=on_event))
    acked: set[str] = set()
    while not fleet.done():
        await _acknowledge_firing(http, acked)
        await asyncio.sleep(0.2)
    stats = fleet.result()
    assert stats.total_call_errors == 0, stats
    # what the panels need from the run (a different seed may not give it)
    assert acked, "no alert stayed firing long enough to be acknowledged"
    assert "SIM-0001" in completed, f"SIM-0001 completed no session ({sorted(completed)})"
    assert {"faulted", "drop"} <= faults, f"no Faulted connector or dropped charger: {faults}"

    # Every charger is offline now (both sites are down: SiteOutage, critical, is never
    # acknowledged). SIM-0001 comes back and reports a fault it keeps ("errors now").
    ws = await stack.enter_async_context(raw_charger(app.ocpp_port, "SIM-0001"))
    fault = {
        "connectorId": 1,
        "status": "Faulted",
        "errorCode": "GroundFailure",
        "vendorId": "https://chargex.inl.gov",
        "vendorErrorCode": "CX002",
        "info": "RCD tripped",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    assert (await call(ws, "StatusNotification", fault))[0] == 3
    for rule in ("CriticalNotAcknowledged", "CriticalNotResolved", "MajorNotResolved"):
        await eventually(lambda rule=rule: _firing(app, rule), 20)
    await eventually(lambda: _caught_up(app), 30)
    history = (await http.get("/api/v1/alerts/history", params={"limit": 1000})).json()
    resolved = {t["fingerprint"] for t in history["items"] if t["state"] == "resolved"}
    assert acked & resolved, "no acknowledged alert resolved"
    # Grafana evaluates a range query at multiples of its step only: the final state shows
    # once a step boundary has passed and Prometheus has scraped after it.
    step = max_prometheus_step()
    boundary = math.ceil(time.time() / step) * step
    await eventually(lambda: _scraped_after(prometheus.url, boundary + 1), step + 20)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scenario(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scenario]:
    tmp = tmp_path_factory.mktemp("dashboards")
    async with contextlib.AsyncExitStack() as stack:  # stops everything in reverse order
        influx = InfluxDB1(tmp / "influxdb")
        stack.callback(influx.stop)
        influx.start()
        app = App(make_config(tmp / "data", config_yaml(influx.url)))
        await app.start()
        stack.push_async_callback(app.stop)
        scrape = yaml.safe_load(SCRAPE_CONFIG.read_text())
        job = scrape["scrape_configs"][0]
        job["static_configs"][0]["targets"] = [f"127.0.0.1:{app.http_port}"]
        job["scrape_interval"] = job["scrape_timeout"] = "1s"
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(scrape))
        prometheus = Prometheus(tmp / "prometheus", tmp / "prometheus.yml")
        stack.callback(prometheus.stop)
        prometheus.start()
        await run_scenario(app, prometheus, stack)
        yield Scenario(prometheus.url, influx.url, end=time.time())


# ---- what Grafana does with a query -------------------------------------------------------

# ---- the dashboards -----------------------------------------------------------------------

SELECTIONS = ("defaults", "picked")


def choose(model: dict[str, Any], options: list[str], selection: str) -> list[str] | str:
    """What the operator has selected: the dashboard's saved value (`defaults`: All, or the
    first option when none is saved, as Grafana does), or values picked from the list
    (`picked`: the last two of a multi-value variable, the first of a single-value one)."""
    if model.get("type") in ("textbox", "constant"):
        current = model.get("current", {}).get("value")
        return [str(current if current is not None else model.get("query", ""))]
    current = model.get("current", {}).get("value")
    saved = current if isinstance(current, list) else [current] if current else []
    if selection == "defaults":
        if ALL in saved:
            return ALL
        kept = [v for v in saved if v in options]
        return kept or options[:1]
    if model.get("multi"):
        return options[-2:]
    return options[:1]


async def resolve_variables(
    http: httpx.AsyncClient, s: Scenario, name: str, dashboard: dict[str, Any], selection: str
) -> tuple[dict[str, Variable], list[str]]:
    """The dashboard's variables in order (a chained one uses those before it), and the
    problems of their queries."""
    variables: dict[str, Variable] = {}
    problems = []
    for model in dashboard.get("templating", {}).get("list", []):
        options: list[str] = []
        if model.get("type") == "query":
            uid = model["datasource"]["uid"]
            raw = model["query"]
            query = raw.get("query", "") if isinstance(raw, dict) else str(raw)
            text = substitute(query, uid, variables)
            assert uid == PROMETHEUS, f"{name}: variable {model['name']} on {uid}"
            error, options = await label_values(http, s.prometheus, text, s.start, s.end)
            if model.get("regex"):
                options = [o for o in options if re.search(model["regex"], o)]
            if error or not options:
                problems.append(
                    f"{name}: variable ${model['name']} [{uid}]: "
                    f"{error or 'no values'}\n    query: {text}"
                )
                continue
        variables[model["name"]] = Variable(
            model["name"], model, options, choose(model, options, selection)
        )
    return variables, problems


Query = tuple[str, dict[str, Any], dict[str, Any], str, str]


def dashboard_queries(dashboard: dict[str, Any]) -> list[Query]:
    """(where, panel, target, datasource uid, query) of every annotation and panel target;
    annotations have no panel (they use the dashboard's range and the datasource's interval)."""
    queries: list[Query] = [
        (f"annotation {anno!r}", {}, {}, uid, query)
        for anno, uid, query in iter_annotation_queries(dashboard)
    ]
    queries += [
        (f"panel {p.get('title')!r}", p, t, target_uid(p, t), target_query(t))
        for p, t in iter_targets(dashboard)
    ]
    return queries


async def run_query(
    http: httpx.AsyncClient,
    s: Scenario,
    query: Query,
    variables: dict[str, Variable],
    instant: bool | None = None,
) -> tuple[str, str | None, bool]:
    """(substituted query, error, returned data); Prometheus targets run as instant or range
    queries as they say, unless `instant` is given."""
    _, panel, target, uid, text = query
    t = timing(panel, target, uid, s.start, s.end)
    text = substitute(text, uid, variables, t)
    if uid == PROMETHEUS:
        if instant is None:
            instant = bool(target.get("instant")) and not target.get("range")
        return text, *await run_promql(http, s.prometheus, text, t, instant)
    assert uid == INFLUXDB, f"{query[0]}: unknown datasource {uid!r}"
    return text, *await run_influxql(http, s.influxdb, text)


async def check_dashboard(
    name: str, selection: str, s: Scenario, dashboard: dict[str, Any] | None = None
) -> tuple[list[str], int]:
    """(problems, number of queries run) for one dashboard under one variable selection."""
    dashboard = dashboard or load_dashboards()[name]
    async with httpx.AsyncClient(timeout=60) as http:
        variables, problems = await resolve_variables(http, s, name, dashboard, selection)
        if problems:
            return problems, 0
        chosen = {n: v.value for n, v in variables.items()}
        queries = dashboard_queries(dashboard)
        for query in queries:
            where, panel, target, uid, _ = query
            text, error, data = await run_query(http, s, query, variables)
            if error or not (data or (name, panel.get("title")) in MAY_BE_EMPTY):
                ref = f" {target['refId']}" if target.get("refId") else ""
                problems.append(
                    f"{name} {where}{ref} [{uid}] with {chosen}: "
                    f"{'error: ' + error if error else 'no data'}\n    query: {text}"
                )
    return problems, len(queries)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("name", sorted(load_dashboards()))
async def test_every_query_of_the_dashboard_runs_and_returns_data(
    scenario: Scenario, name: str, selection: str
) -> None:
    problems, runs = await check_dashboard(name, selection, scenario)
    assert not problems, f"{len(problems)} of {runs} queries fail:\n" + "\n".join(problems)
    assert runs > 0


@pytest.mark.asyncio(loop_scope="module")
async def test_the_check_catches_errors_and_empty_answers(scenario: Scenario) -> None:
    broken = copy.deepcopy(load_dashboards()["charger.json"])
    panels = {p.get("title"): p for p, _ in iter_targets(broken)}
    panels["Connection"]["targets"][0]["expr"] = (
        'max(chargewatch_charger_connected{charger="$charger")'
    )
    panels["Power"]["targets"][0]["query"] = panels["Power"]["targets"][0]["query"].replace(
        "Power.Active.Import", "Power.Active.Export"
    )
    panels["Recent sessions"]["targets"][0]["query"] += " GROUP BY"
    panels["Identity"]["targets"][0]["expr"] = (
        'chargewatch_charger_info{charger="$charger", vendor="none"}'
    )
    problems, _ = await check_dashboard("charger.json", "defaults", scenario, broken)
    assert len(problems) == 4, problems
    connection, identity, power, sessions = problems
    assert connection.startswith("charger.json panel 'Connection' A [cw-prometheus] with ")
    assert "error: HTTP 400: bad_data" in connection
    assert 'query: max(chargewatch_charger_connected{charger="SIM-0001")' in connection
    assert "panel 'Identity' A [cw-prometheus]" in identity and "no data" in identity
    assert "panel 'Power' A [cw-influxdb]" in power and "no data" in power
    assert "'Power.Active.Export'" in power and "time >= " in power
    assert "panel 'Recent sessions' A [cw-influxdb]" in sessions
    assert "error: HTTP 400: error parsing query" in sessions


def test_the_empty_allowlist_names_panels_that_exist() -> None:
    titles = {
        (name, panel.get("title"))
        for name, dashboard in load_dashboards().items()
        for panel, _ in iter_targets(dashboard)
    }
    assert set(MAY_BE_EMPTY) <= titles
    assert all(reason.strip() for reason in MAY_BE_EMPTY.values())
