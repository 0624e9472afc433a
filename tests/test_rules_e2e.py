"""The rule engine inside `chargewatch run`: the simulator's injected faults raise the
matching default alerts, alerts survive a restart, acknowledgements work over the API, and
alerts reach Prometheus' exposition and InfluxDB."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import httpx
import pytest
from helpers import NOW, call, eventually, raw_charger
from servers import InfluxDB1

from chargewatch.app import App
from chargewatch.config import ConfigError
from collector.simulator import FleetOptions, run_fleet

CHARGERS = [f"SIM-{i:04d}" for i in range(1, 9)]
DURATION = 10.0  # seconds of simulated fleet; 100 meter intervals
FAST = """
rules:
  overrides:
    - params: {faulted_for: 0s, offline_for: 0s}
"""
# which default alert each simulator fault kind must raise, and at which level
EXPECTED = {
    "faulted": ("ConnectorFaulted", "connector"),
    "drop": ("ChargerOffline", "charger"),
    "boot_loop": ("BootLoop", "charger"),
    "zero_power": ("ChargingWithoutPower", "connector"),
    "overheat": ("Overheating", "connector"),
    "energy_backwards": ("EnergyRegisterBackwards", "connector"),
}


def sites_yaml(chargers: list[str]) -> str:
    return "sites:\n  - id: depot\n    chargers: [" + ", ".join(chargers) + "]\n"


async def history(app: App, **params: Any) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        response = await http.get("/api/v1/alerts/history", params={"limit": 1000, **params})
    response.raise_for_status()
    return response.json()["items"]


async def active(app: App) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        response = await http.get("/api/v1/alerts")
    response.raise_for_status()
    return response.json()["alerts"]


def faulted_by_charger(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["labels"]["charger"]: a for a in alerts if a["alertname"] == "ConnectorFaulted"}


async def rules_caught_up(app: App) -> None:
    assert app.rules is not None and app.journal is not None
    await eventually(lambda: app.rules.position >= app.journal.last_seq, 10)


@pytest.mark.slow
async def test_every_injected_fault_raises_its_default_alert(start_app) -> None:
    app: App = await start_app(FAST + sites_yaml(CHARGERS) + "ocpp:\n  heartbeat_interval: 5\n")
    injected: dict[str, set[tuple[str, str]]] = defaultdict(set)
    # a fault takes a few meter intervals to show (a boot loop is up to 5 reboots, a
    # temperature climbs for a while): judge only those injected early enough
    deadline = time.monotonic() + DURATION - 2.0

    def on_event(charger: str, kind: str, details: dict[str, Any]) -> None:
        if kind == "fault" and time.monotonic() < deadline:
            injected[details["kind"]].add((charger, str(details.get("connector"))))

    stats = await run_fleet(
        FleetOptions(
            url=f"ws://127.0.0.1:{app.ocpp_port}/ocpp",
            chargers=len(CHARGERS),
            connectors=2,
            meter_interval=0.1,
            faults=1.0,
            duration=DURATION,
            seed=4,
        ),
        on_event=on_event,
    )
    assert stats.total_call_errors == 0
    assert set(injected) == set(EXPECTED), f"seed must inject every fault kind: {injected}"
    await rules_caught_up(app)
    fired: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for item in await history(app):
        if item["state"] == "firing":
            labels = item["labels"]
            fired[item["alertname"]].add((labels.get("charger"), labels.get("connector")))
    for kind, where in injected.items():
        alertname, level = EXPECTED[kind]
        for charger, connector in where:
            if level == "connector":
                assert (charger, connector) in fired[alertname], (kind, charger, connector)
            else:
                assert any(c == charger for c, _ in fired[alertname]), (kind, charger)


async def test_pending_alert_survives_a_restart_and_resolved_ones_do_not_refire(
    start_app, tmp_path
) -> None:
    data = tmp_path / "data"
    config = sites_yaml(["CP-1", "CP-2"]) + "rules:\n  snapshot_interval: 0.2\n"
    app: App = await start_app(config, data_dir=data)
    async with raw_charger(app.ocpp_port, "CP-1") as ws:
        faulted = {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted"}
        await call(ws, "StatusNotification", {**faulted, "timestamp": NOW})
        # CP-2 faults and recovers: its alert goes pending then inactive (for: 2m)
        async with raw_charger(app.ocpp_port, "CP-2") as ws2:
            await call(ws2, "StatusNotification", {**faulted, "timestamp": NOW})
            ok = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
            await call(ws2, "StatusNotification", {**ok, "timestamp": NOW})
        await rules_caught_up(app)
        before = {
            a["labels"]["charger"]: a
            for a in await active(app)
            if a["alertname"] == "ConnectorFaulted"
        }
        assert set(before) == {"CP-1"} and before["CP-1"]["state"] == "pending"
        transitions = len(await history(app))
        await app.stop()
    again: App = await start_app(config, data_dir=data)
    await rules_caught_up(again)
    after = {
        a["labels"]["charger"]: a
        for a in await active(again)
        if a["alertname"] == "ConnectorFaulted"
    }
    assert set(after) == {"CP-1"}
    assert after["CP-1"]["since"] == before["CP-1"]["since"]  # not restarted
    assert after["CP-1"]["fingerprint"] == before["CP-1"]["fingerprint"]
    # nothing happened twice: the replay after the restart journaled no old transition again
    replayed = [t for t in await history(again) if t["alertname"] == "ConnectorFaulted"]
    states = sorted((t["labels"]["charger"], t["state"]) for t in replayed)
    assert states == [("CP-1", "pending"), ("CP-2", "inactive"), ("CP-2", "pending")]
    assert len(await history(again)) >= transitions


async def test_acknowledge_over_the_api(start_app) -> None:
    app: App = await start_app(FAST)
    async with raw_charger(app.ocpp_port, "CP-A") as ws:
        await call(
            ws,
            "StatusNotification",
            {"connectorId": 2, "errorCode": "GroundFailure", "status": "Faulted", "timestamp": NOW},
        )
        await rules_caught_up(app)
        [alert] = [a for a in await active(app) if a["alertname"] == "ConnectorFaulted"]
        assert alert["state"] == "firing" and alert["labels"]["connector"] == "2"
        assert alert["annotations"]["summary"] == "Connector 2 of CP-A is faulted: GroundFailure"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
            url = f"/api/v1/alerts/{alert['fingerprint']}/acknowledge"
            assert (await http.post(url, json={})).status_code == 422  # who is on it?
            missing = await http.post("/api/v1/alerts/0000/acknowledge", json={"by": "x"})
            assert missing.status_code == 404
            answer = await http.post(url, json={"by": "alice", "comment": "on my way"})
            assert answer.status_code == 202, answer.text
            await eventually(lambda: app.rules.active()[0].acknowledged_by == "alice")
            metrics = (await http.get("/metrics")).text
        [acked] = [a for a in await active(app) if a["alertname"] == "ConnectorFaulted"]
        assert acked["acknowledged_by"] == "alice" and acked["acknowledged_at"]
        updates = await history(app, fingerprint=alert["fingerprint"])
        assert [(t["previous"], t["state"]) for t in updates] == [
            ("firing", "firing"),
            (None, "firing"),
        ]
        series = (
            'chargewatch_alerts{alertname="ConnectorFaulted",charger="CP-A",connector="2",'
            'severity="major",state="firing",team="field-service"} 1.0'
        )
        assert series in metrics


async def test_history_pages(start_app) -> None:
    app: App = await start_app(FAST)
    async with raw_charger(app.ocpp_port, "CP-P") as ws:
        for _ in range(3):
            for status, code in (("Faulted", "GroundFailure"), ("Available", "NoError")):
                await call(
                    ws,
                    "StatusNotification",
                    {"connectorId": 1, "errorCode": code, "status": status, "timestamp": NOW},
                )
        await rules_caught_up(app)
    everything = [t for t in await history(app) if t["alertname"] == "ConnectorFaulted"]
    assert [t["state"] for t in everything] == ["resolved", "firing"] * 3
    first = await history(app, alertname="ConnectorFaulted", limit=4)
    assert len(first) == 4
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        page = (
            await http.get(
                "/api/v1/alerts/history",
                params={"alertname": "ConnectorFaulted", "limit": 4},
            )
        ).json()
        rest = (
            await http.get(
                "/api/v1/alerts/history",
                params={"alertname": "ConnectorFaulted", "limit": 4, "before": page["next_before"]},
            )
        ).json()
        bad = await http.get("/api/v1/alerts/history", params={"limit": 0})
    assert bad.status_code == 422
    assert [t["id"] for t in page["items"] + rest["items"]] == [t["id"] for t in everything]
    assert rest["next_before"] is None


async def test_alerts_are_written_to_influxdb(start_app, influxdb1: InfluxDB1) -> None:
    app: App = await start_app(
        FAST + f"influxdb:\n  url: {influxdb1.url}\n  api: v1\n  database: cw\n"
        "  flush_interval: 0.1\n"
    )
    async with raw_charger(app.ocpp_port, "CP-I") as ws:
        for status, code in (("Faulted", "GroundFailure"), ("Available", "NoError")):
            await call(
                ws,
                "StatusNotification",
                {"connectorId": 1, "errorCode": code, "status": status, "timestamp": NOW},
            )
        await rules_caught_up(app)
    assert app.influx is not None
    await eventually(lambda: app.influx.backlog == 0, 20)
    rows = influxdb1.query(
        "SELECT state, summary FROM alert WHERE alertname='ConnectorFaulted' AND charger='CP-I'"
    )[0]["values"]
    assert [r[1] for r in rows] == ["firing", "resolved"]
    assert rows[0][2] == "Connector 1 of CP-I is faulted: GroundFailure"


async def test_a_bad_rule_file_stops_the_start_with_its_line(start_app, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - name: X\n    condition:\n      measurand: {name: Temp, threshold: 1}\n"
    )
    with pytest.raises(ConfigError) as info:
        await start_app(f"rules:\n  files: [{bad}]\n")
    assert f"{bad}:4" in str(info.value) and "unknown measurand 'Temp'" in str(info.value)


async def test_the_engine_keeps_up_while_idle(start_app) -> None:
    """Time passes without events: a silent charger goes offline by the clock alone."""
    app: App = await start_app(
        "rules:\n  evaluation_delay: 0\n  overrides:\n"
        "    - params: {heartbeats: 1, min_silence: 1s, offline_for: 0s}\n"
        "ocpp:\n  heartbeat_interval: 1\n"
    )
    async with raw_charger(app.ocpp_port, "CP-Q") as ws:
        await call(ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        await eventually(
            lambda: any(
                a.rule == "ChargerOffline" and a.state == "firing" for a in app.rules.active()
            ),
            10,
        )


async def test_a_collector_restart_does_not_blame_the_chargers(start_app, tmp_path) -> None:
    """Stopping ChargeWatch closes every connection and leaves a gap in what it saw: neither
    may raise ChargerOffline once the chargers are back."""
    data = tmp_path / "data"
    config = (
        "rules:\n  overrides:\n"
        "    - params: {offline_for: 1s, heartbeats: 1, min_silence: 2s}\n"
        "ocpp:\n  heartbeat_interval: 1\n"
    )
    app: App = await start_app(config, data_dir=data)
    async with raw_charger(app.ocpp_port, "CP-R") as ws:
        await call(ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        await rules_caught_up(app)
        await app.stop()  # closes the charger's connection: our doing
    await asyncio.sleep(3)  # longer than offline_for and than the silence limit
    again: App = await start_app(config, data_dir=data)
    async with raw_charger(again.ocpp_port, "CP-R") as ws:
        await call(ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        await rules_caught_up(again)
        offline = [t for t in await history(again) if t["alertname"] == "ChargerOffline"]
        assert offline == []
    # a charger that really goes away is still caught
    await eventually(lambda: any(a.rule == "ChargerOffline" for a in again.rules.active()), 10)
