"""Imported history in the monthly report: an OCPP log from another central system,
loaded with `chargewatch import ocpp-log`, gives the same outage, session and energy
figures the report would have had if ChargeWatch had received the messages itself."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chargewatch.cli import main
from chargewatch.config import parse_config
from reports.monthly import build_report

T0 = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def write_log(path: Path) -> None:
    """CP-H boots at 08:00 with a 60 s heartbeat interval, heartbeats every minute until
    09:00, is silent until its next one at 09:30, then its port 1 is Faulted 10:00-10:45;
    one session 10:50-12:10 (charger time = UTC) of 12,000 Wh with a 7.2 kW peak."""
    rows: list[tuple[datetime, str, list]] = []
    n = 0

    def call(t: datetime, action: str, payload: dict, answer: dict) -> None:
        nonlocal n
        n += 1
        rows.append((t, "in", [2, f"m{n}", action, payload]))
        rows.append((t + timedelta(milliseconds=200), "out", [3, f"m{n}", answer]))

    call(T0, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"},
         {"status": "Accepted", "currentTime": iso(T0), "interval": 60})  # fmt: skip
    for c in (0, 1):
        call(T0, "StatusNotification", {"connectorId": c, "errorCode": "NoError",
             "status": "Available"}, {})  # fmt: skip
    t = T0
    while t < T0 + timedelta(hours=4, minutes=30):
        t += timedelta(minutes=1)
        if T0 + timedelta(hours=1) < t < T0 + timedelta(hours=1, minutes=30):
            continue  # silent 09:00-09:30
        call(t, "Heartbeat", {}, {"currentTime": iso(t)})
    fault, back = T0 + timedelta(hours=2), T0 + timedelta(hours=2, minutes=45)
    call(fault, "StatusNotification", {"connectorId": 1, "errorCode": "GroundFailure",
         "status": "Faulted"}, {})  # fmt: skip
    call(back, "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
         "status": "Available"}, {})  # fmt: skip
    start, stop = T0 + timedelta(hours=2, minutes=50), T0 + timedelta(hours=4, minutes=10)
    call(
        start,
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": iso(start)},
        {"transactionId": 4711, "idTagInfo": {"status": "Accepted"}},
    )
    mid = start + timedelta(minutes=30)
    call(
        mid,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": 4711,
            "meterValue": [
                {
                    "timestamp": iso(mid),
                    "sampledValue": [
                        {
                            "value": "7000",
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "Wh",
                        },
                        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                    ],
                }
            ],
        },
        {},
    )
    call(stop, "StopTransaction", {"transactionId": 4711, "meterStop": 13000,
         "timestamp": iso(stop), "reason": "EVDisconnected"}, {})  # fmt: skip
    rows.sort(key=lambda r: r[0])
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["timestamp", "chargeBoxId", "direction", "message"])
        for when, direction, frame in rows:
            out.writerow([iso(when), "CP-H", direction, json.dumps(frame)])


def test_an_imported_month_reports_like_a_live_one(tmp_path: Path, capsys) -> None:
    log = tmp_path / "steve-export.csv"
    write_log(log)
    data_dir = tmp_path / "var"
    assert main(["import", "ocpp-log", str(log), "--data-dir", str(data_dir)]) == 0
    config = parse_config(f"data_dir: {data_dir}\n")
    report = build_report(config, "2024-03", now=datetime(2024, 4, 1, tzinfo=UTC).timestamp())
    port = report.ports[report.ports["port_id"] == "CP-H-1"].iloc[0]
    # offline: last heartbeat 09:00 + 60 s interval → 09:01, back at 09:30 = 29 min;
    # faulted 10:00-10:45 = 45 min; in service from 4 March 08:00 to 1 April 00:00
    in_service = (datetime(2024, 4, 1, tzinfo=UTC) - T0).total_seconds() / 60
    assert port["minutes"] == pytest.approx(in_service)
    assert port["outage_minutes"] == pytest.approx(29 + 45)
    assert report.outages["cause"].tolist() == ["offline", "faulted: GroundFailure (safety)"]
    s = report.sessions.iloc[0]
    assert s["session_id"] == "CP-H:4711"
    assert s["energy_wh"] == 12_000 and s["peak_power_w"] == 7_200
    assert report.kpis_network.iloc[0]["energy_kwh"] == pytest.approx(12.0)
