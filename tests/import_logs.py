"""Building OCPP message logs for the history-import tests: frames, CSV files, the store."""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from chargewatch import events as ev
from chargewatch import store
from chargewatch.cli import main
from chargewatch.state import LiveState

CLI = [sys.executable, "-m", "chargewatch.cli"]
T0 = 1709287200.0  # 2024-03-01T10:00:00Z
CX = "https://chargex.inl.gov"


def iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def call(uid: str, action: str, payload: dict[str, Any]) -> list[Any]:
    return [2, uid, action, payload]


def result(uid: str, payload: dict[str, Any]) -> list[Any]:
    return [3, uid, payload]


def write_csv(path: Path, rows: list[tuple[Any, ...]], header: tuple[str, ...] | None = None):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header or ("timestamp", "charger_id", "direction", "message"))
        for row in rows:
            w.writerow([json.dumps(c) if isinstance(c, list) else c for c in row])
    return path


def session_log(cid: str = "CP-1") -> list[tuple[Any, ...]]:
    """A charger's morning, as the other central system logged it (CSV line N+2 = row N)."""
    return [
        (iso(T0), cid, "in", call("b1", "BootNotification", {"chargePointVendor": "V",
                                                              "chargePointModel": "M"})),
        (iso(T0 + 0.2), cid, "out", result("b1", {"status": "Accepted",
                                                  "currentTime": iso(T0), "interval": 60})),
        (iso(T0 + 60), cid, "in", call("s1", "StatusNotification", {
            "connectorId": 1, "status": "Preparing", "errorCode": "NoError"})),
        (iso(T0 + 60), cid, "out", result("s1", {})),
        (iso(T0 + 70), cid, "in", call("a1", "Authorize", {"idTag": "TAG1"})),
        (iso(T0 + 70), cid, "out", result("a1", {"idTagInfo": {"status": "Invalid"}})),
        (iso(T0 + 80), cid, "in", call("t1", "StartTransaction", {
            "connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": iso(T0 + 80)})),
        (iso(T0 + 80), cid, "out", result("t1", {"transactionId": 4711,
                                                 "idTagInfo": {"status": "Accepted"}})),
        (iso(T0 + 140), cid, "in", call("m1", "MeterValues", {
            "connectorId": 1, "transactionId": 4711, "meterValue": [{
                "timestamp": iso(T0 + 140), "sampledValue": [
                    {"value": "2.5", "unit": "kWh"},
                    {"value": "7.2", "unit": "kW", "measurand": "Power.Active.Import"}]}]})),
        (iso(T0 + 140), cid, "out", result("m1", {})),
        (iso(T0 + 200), cid, "in", call("h1", "Heartbeat", {})),
        (iso(T0 + 200), cid, "out", result("h1", {"currentTime": iso(T0 + 200)})),
        # 1000 s of silence: more than 3 x 60 s
        (iso(T0 + 1200), cid, "in", call("s2", "StatusNotification", {
            "connectorId": 1, "status": "Faulted", "errorCode": "OtherError",
            "vendorId": CX, "vendorErrorCode": "CX008"})),
        (iso(T0 + 1200), cid, "out", result("s2", {})),
        (iso(T0 + 1260), cid, "in", call("x1", "StopTransaction", {
            "transactionId": 4711, "meterStop": 6000, "timestamp": iso(T0 + 1260),
            "reason": "EmergencyStop"})),
        (iso(T0 + 1260), cid, "out", result("x1", {"idTagInfo": {"status": "Accepted"}})),
        # the central system's own call and the charger's answer: not history
        (iso(T0 + 1300), cid, "out", call("r1", "RemoteStartTransaction", {"idTag": "TAG2"})),
        (iso(T0 + 1300), cid, "in", result("r1", {"status": "Accepted"})),
    ]  # fmt: skip


def seed_live(data_dir: Path) -> None:
    """What the live collector had already written: a connected charger with a session."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = store.open_db(data_dir / "chargewatch.db")
    state, up, ins = LiveState(), {}, []
    now = 1767225600.0  # 2026
    events = [
        ev.Connected("CP-1", now, "10.0.0.7:5123", "ocpp1.6"),
        ev.StatusReported("CP-1", now, connector_id=1, status="Charging", error_code="NoError"),
        ev.SessionStarted("CP-1", now, session_id="1", transaction_id="1", connector_id=1,
                          id_tag="LIVE", meter_start_wh=0.0, started_at=now),
    ]  # fmt: skip
    for e in events:
        state.apply(e, up, ins)
    store.write(db, [store.encode_event(e) for e in events], up.values(), ins, [])
    db.close()


def rows(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(data_dir / "chargewatch.db")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def snapshot(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    tables = ("journal", "chargers", "connectors", "meta", "status_history",
              "connection_history", "sessions", "import_journal", "messages")  # fmt: skip
    out = {t: rows(data_dir, f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}
    # imported_at is the wall clock of the run that imported the line
    out["import_journal"] = [r[:-1] for r in out["import_journal"]]
    return out


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["import", "ocpp-log", "--progress", "0", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
