"""Prometheus scraping the collector with the shipped scrape config: PromQL returns the status
and power a charger sent; chargers removed from config or gone too long are not exported."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx
import yaml
from helpers import call, eventually, lib_charger, raw_charger, require_binary
from ocpp.v16 import call as c16
from prometheus_client import CollectorRegistry, generate_latest
from servers import Prometheus

from chargewatch.app import App
from chargewatch.metrics import StateCollector
from chargewatch.state import LiveState

SHIPPED = Path(__file__).parent.parent / "deploy" / "prometheus" / "prometheus.yml"


def test_shipped_scrape_config_is_valid() -> None:
    promtool = require_binary("promtool")
    result = subprocess.run(
        [promtool, "check", "config", str(SHIPPED)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_prometheus_scrapes_status_and_power(start_app, tmp_path: Path) -> None:
    app: App = await start_app()
    config = yaml.safe_load(SHIPPED.read_text())
    job = config["scrape_configs"][0]
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{app.http_port}"]
    job["scrape_interval"] = job["scrape_timeout"] = "1s"
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    prometheus = Prometheus(tmp_path / "prometheus", path)
    prometheus.start()
    try:
        async with lib_charger(app.ocpp_port, "CP-PROM") as cp:
            await cp.call(
                c16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
            )
            await cp.call(
                c16.MeterValues(
                    connector_id=1,
                    meter_value=[
                        {
                            "timestamp": "2026-11-22T10:00:00Z",
                            "sampledValue": [
                                {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"}
                            ],
                        }
                    ],
                )
            )

            def scraped(promql: str) -> list:
                return prometheus.query(promql)

            await eventually(
                lambda: bool(scraped('chargewatch_connector_power_watts{charger="CP-PROM"}')), 20
            )
            power = scraped('chargewatch_connector_power_watts{charger="CP-PROM"}')
            assert power[0]["value"][1] == "7200"
            assert power[0]["metric"]["job"] == "chargewatch"
            status = scraped('chargewatch_connector_status{charger="CP-PROM"} == 1')
            assert [(s["metric"]["connector"], s["metric"]["status"]) for s in status] == [
                ("1", "Charging")
            ]
            assert scraped('chargewatch_charger_connected{charger="CP-PROM"}')[0]["value"][1] == "1"
    finally:
        prometheus.stop()


def _exported(collector: StateCollector) -> set[str]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        line.split('charger="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("chargewatch_charger_connected{")
    }


def test_ghost_chargers_are_not_exported() -> None:
    state = LiveState()
    now = 1_000_000.0
    for cid, connected, seen in [
        ("ONLINE", True, now - 10 * 86400),
        ("RECENT", False, now - 60),
        ("GONE", False, now - 8 * 86400),
        ("NEW", True, now),
    ]:
        charger = state.charger(cid)
        charger.connected, charger.last_seen = connected, seen
    week = 7 * 86400.0
    assert _exported(StateCollector(state, week, None, lambda: now)) == {"ONLINE", "RECENT", "NEW"}
    # the config lists chargers: an unlisted one is exported only while it is connected
    listed = frozenset({"ONLINE", "RECENT", "GONE"})
    assert _exported(StateCollector(state, week, listed, lambda: now)) == {
        "ONLINE",
        "RECENT",
        "NEW",
    }
    assert _exported(StateCollector(state, week, frozenset({"ONLINE"}), lambda: now)) == {
        "ONLINE",
        "NEW",
    }


async def test_forgotten_chargers_leave_metrics_but_stay_in_the_api(start_app) -> None:
    app: App = await start_app(
        "metrics:\n  forget_after_hours: 0.0003\n"  # about 1 s
        "sites:\n  - id: s\n    chargers: [CP-LISTED, CP-SOON]\n"
    )
    async with (
        raw_charger(app.ocpp_port, "CP-LISTED") as a,
        raw_charger(app.ocpp_port, "CP-SOON") as b,
    ):
        await call(a, "Heartbeat", {})
        await call(b, "Heartbeat", {})
        async with raw_charger(app.ocpp_port, "CP-STRAY") as c:
            await call(c, "Heartbeat", {})
        await eventually(lambda: not app.state.chargers["CP-STRAY"].connected)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
            text = state_series((await http.get("/metrics")).text)
            assert 'charger="CP-LISTED"' in text and 'charger="CP-SOON"' in text
            assert 'charger="CP-STRAY"' not in text  # not in the config and not connected
    await eventually(lambda: not app.state.chargers["CP-SOON"].connected)
    await asyncio.sleep(1.5)  # past forget_after
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        text = state_series((await http.get("/metrics")).text)
        assert 'charger="CP-SOON"' not in text and 'charger="CP-LISTED"' not in text
        listing = (await http.get("/api/v1/chargers")).json()
    assert {c["charger_id"] for c in listing["chargers"]} == {"CP-LISTED", "CP-SOON", "CP-STRAY"}


def state_series(exposition: str) -> str:
    """The exposition without the alert series: a gone charger's offline alert is news,
    not a ghost (the alerts of chargers are tested in tests/test_rules_e2e.py)."""
    return "\n".join(
        line for line in exposition.splitlines() if not line.startswith("chargewatch_alerts")
    )
