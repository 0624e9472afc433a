"""/metrics carries per-charger and per-connector state with the right names, labels and values,
and passes `promtool check metrics` (Debian package prometheus)."""

from __future__ import annotations

import subprocess

import httpx
from helpers import NOW, call, eventually, lib_charger, raw_charger, require_binary
from ocpp.v16 import call as c16
from prometheus_client.parser import text_string_to_metric_families

from chargewatch.app import App

SITES = """
sites:
  - id: depot-north
    name: Depot North
    chargers: [CP-M1]
"""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def _scenario(app: App) -> None:
    async with lib_charger(app.ocpp_port, "CP-M1") as cp:
        await cp.call(
            c16.BootNotification(
                charge_point_vendor="ABB", charge_point_model="Terra", firmware_version="1.2"
            )
        )
        await cp.call(
            c16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
        await cp.call(
            c16.StatusNotification(
                connector_id=2,
                error_code="HighTemperature",
                status="Faulted",
                vendor_id="https://chargex.inl.gov",
                vendor_error_code="CX019",
            )
        )
        start = await cp.call(
            c16.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp=NOW)
        )
        await cp.call(
            c16.MeterValues(
                connector_id=1,
                transaction_id=start.transaction_id,
                meter_value=[
                    {
                        "timestamp": NOW,
                        "sampledValue": [
                            {"value": "22.5", "measurand": "Power.Active.Import", "unit": "kW"},
                            {"value": "1500", "unit": "Wh"},
                            {
                                "value": "32",
                                "measurand": "Current.Import",
                                "unit": "A",
                                "phase": "L1",
                            },
                            {"value": "230", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
                            {"value": "55", "measurand": "SoC", "unit": "Percent"},
                            {
                                "value": "41",
                                "measurand": "Temperature",
                                "unit": "Celsius",
                                "location": "Body",
                            },
                        ],
                    }
                ],
            )
        )
        # a malformed call, to see the error counters move
        await cp._connection.send('[2,"bad","Heartbeat",{"x":1}]')
        await cp.call(c16.Heartbeat())


async def test_metrics_content(start_app) -> None:
    app: App = await start_app(SITES)
    await _scenario(app)
    await eventually(lambda: not app.state.chargers["CP-M1"].connected)
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"http://127.0.0.1:{app.http_port}/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    m = samples(resp.text)
    c = (("charger", "CP-M1"), ("site", "depot-north"))
    k1 = (("charger", "CP-M1"), ("connector", "1"), ("site", "depot-north"))
    k2 = (("charger", "CP-M1"), ("connector", "2"), ("site", "depot-north"))
    assert m[("chargewatch_charger_connected", c)] == 0.0
    assert m[("chargewatch_charger_boots_total", c)] == 1.0
    assert m[("chargewatch_charger_messages_total", c)] == 7.0
    assert m[("chargewatch_charger_sessions_total", c)] == 1.0
    assert m[("chargewatch_charger_last_seen_timestamp_seconds", c)] > 1.7e9
    assert (
        m[
            (
                "chargewatch_charger_info",
                (
                    *c[:1],
                    ("firmware", "1.2"),
                    ("model", "Terra"),
                    ("site", "depot-north"),
                    ("vendor", "ABB"),
                ),
            )
        ]
        == 1.0
    )
    assert m[("chargewatch_connector_status", (*k1, ("status", "Charging")))] == 1.0
    assert m[("chargewatch_connector_status", (*k1, ("status", "Available")))] == 0.0
    assert m[("chargewatch_connector_status", (*k2, ("status", "Faulted")))] == 1.0
    assert (
        m[
            (
                "chargewatch_connector_error",
                (
                    ("category", "safety"),
                    ("charger", "CP-M1"),
                    ("connector", "2"),
                    ("error_code", "HighTemperature"),
                    ("site", "depot-north"),
                    ("vendor_error_code", "CX019"),
                    ("vendor_id", "https://chargex.inl.gov"),
                ),
            )
        ]
        == 1.0
    )
    assert m[("chargewatch_connector_power_watts", k1)] == 22500.0
    assert m[("chargewatch_connector_energy_active_import_register_watt_hours", k1)] == 1500.0
    assert m[("chargewatch_connector_current_amperes", (*k1[:2], ("phase", "L1"), k1[2]))] == 32
    assert m[("chargewatch_connector_voltage_volts", (*k1[:2], ("phase", "L1-N"), k1[2]))] == 230
    assert m[("chargewatch_connector_soc_ratio", k1)] == 0.55
    assert (
        m[("chargewatch_connector_temperature_celsius", (*k1[:2], ("location", "Body"), k1[2]))]
        == 41.0
    )
    assert m[("chargewatch_connector_session_active", k1)] == 1.0
    assert m[("chargewatch_sessions_open", ())] == 1.0
    assert (
        m[("chargewatch_ocpp_messages_total", (("action", "MeterValues"), ("result", "ok")))] == 1.0
    )
    assert (
        m[
            (
                "chargewatch_ocpp_messages_total",
                (("action", "Heartbeat"), ("result", "FormationViolation")),
            )
        ]
        == 1.0
    )
    assert m[("chargewatch_ocpp_call_errors_total", (("code", "FormationViolation"),))] == 1.0
    assert m[("chargewatch_ocpp_handling_seconds_count", (("action", "MeterValues"),))] == 1.0
    assert m[("chargewatch_journal_events_total", ())] >= 8
    # no label anywhere carries a transaction id
    assert not any(dict(labels).get("transaction_id") for _, labels in m)


async def test_promtool_check_metrics_passes(app: App) -> None:
    promtool = require_binary("promtool")
    async with raw_charger(app.ocpp_port, "CP-P") as ws:
        await call(ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        await call(
            ws,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
        )
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{app.http_port}/metrics")).text
    assert "chargewatch_connector_status" in text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""  # no lint warnings


async def test_site_info_for_maps_and_names(start_app) -> None:
    app: App = await start_app("""
sites:
  - {id: north, name: Depot North, latitude: 52.52, longitude: 13.405, timezone: Europe/Berlin}
  - {id: bare}
""")
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{app.http_port}/metrics")).text
    m = samples(text)
    north = (
        ("latitude", "52.52"),
        ("longitude", "13.405"),
        ("name", "Depot North"),
        ("site", "north"),
        ("timezone", "Europe/Berlin"),
    )
    assert m[("chargewatch_site_info", north)] == 1.0
    bare = (("latitude", ""), ("longitude", ""), ("name", "bare"), ("site", "bare"))
    assert m[("chargewatch_site_info", (*bare, ("timezone", "UTC")))] == 1.0
