"""InfluxDB 1.x end to end: simulated chargers → collector → shipper → a real influxd, then
InfluxQL returns exactly what was ingested — also across an InfluxDB outage and with
refused points quarantined."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import httpx
from helpers import NOW, call, db_rows, eventually, raw_charger
from influx_checks import assert_meter_exactly_once
from servers import InfluxDB1

from chargewatch import store
from chargewatch.app import App
from collector.simulator import FleetOptions, run_fleet
from collector.sinks import shipper


def influx_yaml(url: str, **extra: Any) -> str:
    lines = ["influxdb:", f"  url: {url}", "  api: v1", "  database: cw", "  flush_interval: 0.1"]
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\nsites:\n  - id: depot\n    chargers: [SIM-0001, SIM-0002]\n"


async def shipped(app: App, timeout: float = 30) -> None:
    """Wait until the shipper has written everything the journal holds."""
    assert app.influx is not None
    await eventually(lambda: app.influx.backlog == 0, timeout)


async def test_simulated_fleet_lands_in_influxdb_exactly(start_app, influxdb1: InfluxDB1) -> None:
    app: App = await start_app(influx_yaml(influxdb1.url) + "ocpp:\n  heartbeat_interval: 1\n")
    stats = await run_fleet(
        FleetOptions(
            url=f"ws://127.0.0.1:{app.ocpp_port}/ocpp",
            chargers=3,
            connectors=2,
            meter_interval=0.05,
            faults=0.3,
            duration=4.0,
            seed=99,
        )
    )
    assert stats.total_call_errors == 0 and stats.sessions_completed > 0
    await shipped(app)
    data_dir = app.config.data_dir
    assert_meter_exactly_once(influxdb1, data_dir)

    # energy per session: every stopped session, same energy as the collector computed
    sessions = {
        sid: energy
        for sid, energy in db_rows(
            data_dir, "SELECT session_id, energy_wh FROM sessions WHERE stopped_at IS NOT NULL"
        )
    }
    rows = influxdb1.query(
        "SELECT session_id, energy_wh, duration_s FROM session WHERE event='stop'"
    )[0]["values"]
    assert {r[1]: r[2] for r in rows} == sessions
    assert all(r[3] is not None and r[3] >= 0 for r in rows)

    # last status per connector = the collector's current status of every connector
    series = influxdb1.query(
        'SELECT last("status") FROM connector_status GROUP BY "charger", "connector"'
    )
    last = {(s["tags"]["charger"], int(s["tags"]["connector"])): s["values"][0][1] for s in series}
    current = {
        (cid, k): conn.status
        for cid, ch in app.state.chargers.items()
        for k, conn in ch.connectors.items()
    }
    assert last == current

    # counts: boots and status reports per charger, as journaled
    boots = {
        s["tags"]["charger"]: s["values"][0][1]
        for s in influxdb1.query('SELECT count("count") FROM boot GROUP BY "charger"')
    }
    assert boots == {cid: ch.boot_count for cid, ch in app.state.chargers.items()}
    statuses = influxdb1.query('SELECT count("status") FROM connector_status')[0]["values"][0][1]
    assert statuses == db_rows(data_dir, "SELECT COUNT(*) FROM journal WHERE kind='status'")[0][0]

    # the site tag comes from the config; chargers outside any site have none
    sites = influxdb1.query('SHOW TAG VALUES FROM boot WITH KEY = "site"')
    assert [v[1] for v in sites[0]["values"]] == ["depot"]


async def test_outage_loses_nothing_and_doubles_nothing(start_app, influxdb1: InfluxDB1) -> None:
    app: App = await start_app(influx_yaml(influxdb1.url, retry_max_delay=1))
    fleet = asyncio.create_task(
        run_fleet(
            FleetOptions(
                url=f"ws://127.0.0.1:{app.ocpp_port}/ocpp",
                chargers=10,
                connectors=2,
                meter_interval=0.1,
                faults=0.1,
                duration=7.0,
                seed=5,
            )
        )
    )
    await asyncio.sleep(1.5)
    influxdb1.stop()
    await asyncio.sleep(2.5)
    assert app.influx.backlog > 0  # the journal holds what could not be written
    influxdb1.start()
    stats = await fleet
    assert stats.total_call_errors == 0
    await shipped(app)
    assert_meter_exactly_once(influxdb1, app.config.data_dir)
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{app.http_port}/metrics")).text
    assert 'chargewatch_influxdb_write_errors_total{reason="connection"}' in text
    # the gauge reaches 0 (alert transitions may still be journaled, and shipped, meanwhile)
    url = f"http://127.0.0.1:{app.http_port}/metrics"
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            text = (await client.get(url)).text
            if "chargewatch_influxdb_backlog_events 0.0" in text:
                break
            await asyncio.sleep(0.1)
    assert "chargewatch_influxdb_backlog_events 0.0" in text


async def test_refused_points_are_quarantined_with_the_reason(
    start_app, influxdb1: InfluxDB1
) -> None:
    # a point of the same measurement with "value" as a string: our float values now conflict
    influxdb1.write('meter_value,charger=OTHER value="text" 1795341600000000')
    app: App = await start_app(influx_yaml(influxdb1.url))
    async with raw_charger(app.ocpp_port, "CP-Q") as ws:
        await call(ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        for i in range(2):
            await call(
                ws,
                "MeterValues",
                {
                    "connectorId": 1,
                    "meterValue": [
                        {
                            "timestamp": f"2026-11-22T10:00:0{i}Z",
                            "sampledValue": [
                                {"value": "1"},
                                {"value": "2", "measurand": "Power.Active.Import"},
                                {"value": "3", "measurand": "SoC"},
                            ],
                        }
                    ],
                },
            )
        await call(
            ws,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": NOW},
        )
    await shipped(app)
    quarantine = (app.config.data_dir / "influxdb-quarantine.lp").read_text()
    refused = [line for line in quarantine.splitlines() if not line.startswith("#")]
    reasons = [line for line in quarantine.splitlines() if line.startswith("#")]
    assert len(refused) == 6 and all(r.startswith("meter_value,") for r in refused)
    assert all("field type conflict" in r for r in reasons)
    # everything else was written
    assert influxdb1.query("SELECT count(status) FROM connector_status")[0]["values"][0][1] == 1
    assert influxdb1.query("SELECT count(count) FROM boot")[0]["values"][0][1] == 1
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{app.http_port}/metrics")).text
    assert "chargewatch_influxdb_points_quarantined_total 6.0" in text


async def test_missing_database_is_created(start_app, influxdb1: InfluxDB1) -> None:
    app: App = await start_app(influx_yaml(influxdb1.url, retry_max_delay=1))
    async with raw_charger(app.ocpp_port, "CP-NEW") as ws:
        await call(ws, "Heartbeat", {})
    await shipped(app)
    assert influxdb1.query("SELECT count(count) FROM heartbeat")[0]["values"][0][1] == 1


async def test_shipper_survives_its_own_failures(
    start_app, influxdb1: InfluxDB1, monkeypatch
) -> None:
    """A locked journal (cursor save fails) is retried; an event that cannot be encoded is
    logged, counted and skipped — neither stops the events after it from shipping."""
    real_save, real_points = store.save_cursor, shipper.points
    failures = {"save": 1}

    def flaky_save(*args: Any) -> None:
        if failures["save"] and args[1] == "influxdb":
            failures["save"] -= 1
            raise sqlite3.OperationalError("database is locked")
        real_save(*args)

    def broken_heartbeat(kind: str, data: dict, site_of: Any) -> list[str]:
        if kind == "heartbeat":
            raise KeyError("charger_id")
        return real_points(kind, data, site_of)

    monkeypatch.setattr(store, "save_cursor", flaky_save)
    monkeypatch.setattr(shipper, "points", broken_heartbeat)
    app: App = await start_app(influx_yaml(influxdb1.url, retry_max_delay=1))
    async with raw_charger(app.ocpp_port, "CP-BUG") as ws:
        await call(ws, "Heartbeat", {})
        await call(
            ws,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": NOW},
        )
    await shipped(app)
    assert failures["save"] == 0
    assert influxdb1.query("SELECT count(status) FROM connector_status")[0]["values"][0][1] == 1
    assert influxdb1.query("SELECT count(count) FROM heartbeat") == []  # skipped, not stuck
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{app.http_port}/metrics")).text
    assert 'chargewatch_influxdb_write_errors_total{reason="internal"} 1.0' in text
    assert "chargewatch_influxdb_unencodable_events_total 1.0" in text
    reader = store.open_reader(app.journal.path)
    try:
        assert store.read_cursor(reader, "influxdb") == app.journal.last_seq
    finally:
        reader.close()
