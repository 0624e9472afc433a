"""`chargewatch import ocpp-log`: logs of another central system become ChargeWatch history.

Real files written here, the real SQLite store, the CLI in-process and as a subprocess. The
expected rows are computed by hand from the logs below.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from import_logs import (
    CLI,
    T0,
    call,
    iso,
    result,
    rows,
    run,
    seed_live,
    session_log,
    snapshot,
    write_csv,
)

from chargewatch.datadir import DataDirLock


def test_csv_becomes_history_and_leaves_live_state_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    seed_live(data)
    before = snapshot(data)
    log = write_csv(tmp_path / "old.csv", session_log())
    code, out, err = run(capsys, str(log), "--data-dir", str(data))
    assert (code, err) == (0, "")
    assert "lines read   18" in out
    assert "imported     16 (8 charger calls, 8 answers)" in out
    assert "skipped      2 (1 central-system calls, 1 answers to them" in out
    assert "sessions     1 started, 1 stopped" in out
    assert "time range   2024-03-01T10:00:00Z .. 2024-03-01T10:21:00Z" in out

    after = snapshot(data)
    for table in ("journal", "chargers", "connectors", "meta", "messages"):
        assert after[table] == before[table], table  # the live state and journal untouched
    sessions = rows(
        data,
        "SELECT session_id, transaction_id, charger_id, connector_id, id_tag, auth_status, "
        "meter_start_wh, meter_stop_wh, energy_wh, started_at, stopped_at, stop_reason, "
        "peak_power_w, first_power_at FROM sessions ORDER BY session_id",
    )
    assert sessions == [
        ("1", "1", "CP-1", 1, "LIVE", None, 0.0, None, None, 1767225600.0, None, None, None,
         None),
        ("CP-1:4711", "4711", "CP-1", 1, "TAG1", "Accepted", 1000.0, 6000.0, 5000.0, T0 + 80,
         T0 + 1260, "EmergencyStop", 7200.0, T0 + 140),
    ]  # fmt: skip
    assert rows(
        data,
        "SELECT ts, event, remote, reason FROM connection_history WHERE remote = 'import' "
        "ORDER BY ts",
    ) == [
        (T0, "up", "import", None),
        (T0 + 200 + 60, "down", "import", "import: no message for 1000 s"),  # last + heartbeat
        (T0 + 1200, "up", "import", None),
    ]
    assert len(after["connection_history"]) == 4  # and the live row is still there
    assert rows(
        data,
        "SELECT connector_id, ts, status, error_code, vendor_error_code, fault_category "
        "FROM status_history WHERE ts < 1767225600 ORDER BY ts",
    ) == [
        (1, T0 + 60, "Preparing", "NoError", None, None),
        (1, T0 + 1200, "Faulted", "OtherError", "CX008", "safety"),
    ]
    journal = rows(data, "SELECT line_key, action, events, source FROM import_journal")
    assert len(journal) == 8
    authorize = next(r for r in journal if r[1] == "Authorize")
    assert authorize[0] == f"CP-1|{round((T0 + 70) * 1000)}|a1|Authorize"
    assert authorize[3] == f"{log}:6"
    assert json.loads(authorize[2]) == [
        ["authorized", {"charger_id": "CP-1", "ts": T0 + 70, "id_tag": "TAG1", "status": "Invalid"}]
    ]


def test_jsonl_aliases_epoch_ms_and_message_type_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ms = int(T0 * 1000)
    lines = [
        {"ts": ms, "chargeBoxId": "CP-2", "type": "CALL",
         "payload": call("1", "BootNotification", {"chargePointVendor": "V",
                                                   "chargePointModel": "M"})},
        # no interval answered: the 300 s default; the frame as a JSON string
        {"ts": str(ms + 5), "chargeBoxId": "CP-2", "type": "CALLRESULT",
         "payload": json.dumps([3, "1", {"status": "Accepted", "currentTime": iso(T0),
                                         "interval": 0}])},
        {"ts": T0 + 10, "chargeBoxId": "CP-2", "type": 2,
         "payload": call("2", "StartTransaction", {"connectorId": 2, "idTag": "T",
                                                   "meterStart": 250, "timestamp": iso(T0)})},
        {"ts": T0 + 10, "chargeBoxId": "CP-2", "type": 3,
         "payload": result("2", {"transactionId": 99, "idTagInfo": {"status": "Blocked"}})},
        {"ts": T0 + 100, "chargeBoxId": "CP-2", "type": "CALL",
         "payload": call("3", "Heartbeat", {})},
        # 901 s > 3 x 300 s: down at 100 + 300, up at 1001
        {"ts": T0 + 1001, "chargeBoxId": "CP-2", "type": "CALL",
         "payload": call("4", "StopTransaction", {
             "transactionId": 99, "meterStop": 1250, "timestamp": iso(T0 + 1001),
             "transactionData": [{"timestamp": iso(T0 + 1001), "sampledValue": [
                 {"value": "1250", "context": "Transaction.End"}]}]})},
        # only the message type given: a CSMS action is the central system's, skipped
        {"ts": T0 + 1100, "chargeBoxId": "CP-2", "type": "CALL",
         "payload": call("5", "RemoteStopTransaction", {"transactionId": 99})},
        {"ts": T0 + 1100, "chargeBoxId": "CP-2", "type": "CALLRESULT",
         "payload": result("5", {"status": "Rejected"})},
    ]  # fmt: skip
    log = tmp_path / "cp2.ndjson"
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    code, out, err = run(capsys, str(log), "--data-dir", str(tmp_path / "d"))
    assert (code, err) == (0, "")
    assert "imported     6 (4 charger calls, 2 answers)" in out
    assert "skipped      2" in out
    data = tmp_path / "d"
    assert rows(
        data,
        "SELECT session_id, connector_id, auth_status, meter_start_wh, meter_stop_wh, "
        "energy_wh, started_at, stopped_at, stop_reason FROM sessions",
    ) == [("CP-2:99", 2, "Blocked", 250.0, 1250.0, 1000.0, T0, T0 + 1001, "Local")]
    assert rows(data, "SELECT ts, event FROM connection_history ORDER BY ts") == [
        (T0, "up"),
        (T0 + 400, "down"),
        (T0 + 1001, "up"),
    ]
    assert rows(data, "SELECT COUNT(*) FROM chargers") == [(0,)]


def test_bad_lines_are_reported_by_line_and_the_rest_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = "CP-3"
    good = call("g1", "StatusNotification", {"connectorId": 1, "status": "Available",
                                             "errorCode": "NoError"})  # fmt: skip
    log = write_csv(
        tmp_path / "bad.csv",
        [
            (iso(T0), cid, "in", good),  # 2
            (iso(T0), cid, "out", result("g1", {})),  # 3
            ("yesterday", cid, "in", good),  # 4
            (iso(T0), "X" * 49, "in", good),  # 5
            (iso(T0), cid, "in", '[2,"x","Heartbeat"'),  # 6
            (iso(T0), cid, "in", '[7,"x",{}]'),  # 7
            (iso(T0 + 1), cid, "in", call("b1", "StatusNotification", {
                "connectorId": "one", "status": "Available", "errorCode": "NoError"})),  # 8
            (iso(T0 + 1), cid, "out", result("b1", {})),  # 9
            (iso(T0 + 2), cid, "in", call("b2", "StatusNotification", {
                "connectorId": 1, "status": "Broken", "errorCode": "NoError"})),  # 10
            (iso(T0 + 3), cid, "in", call("b3", "StartTransaction", {
                "connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": iso(T0)})),  # 11
            (iso(T0 + 4), cid, "sideways", good),  # 12
            (iso(T0 + 5), cid, "rx", call("g2", "StatusNotification", {
                "connectorId": 2, "status": "Faulted", "errorCode": "GroundFailure"})),  # 13
        ],
    )  # fmt: skip
    with open(log, "a") as fh:
        fh.write("2024-03-01T10:00:09Z,CP-3\n")  # 14
    code, out, err = run(capsys, str(log), "--data-dir", str(tmp_path / "d"))
    assert code == 1
    expected = [
        f"{log}:4: timestamp 'yesterday' is not ISO 8601 or epoch seconds/ms",
        f"{log}:5: charger id '{'X' * 49}' must be 1 to 48 printable characters",
        f"{log}:6: frame is not valid JSON: Expecting ',' delimiter: line 1 column 19 "
        "(char 18) (FormationViolation)",
        f"{log}:7: MessageTypeId 7 is not 2, 3 or 4 (FormationViolation)",
        f"{log}:8: StatusNotification: connectorId must be integer (TypeConstraintViolation)",
        f"{log}:10: StatusNotification: status must be one of ['Available', 'Preparing', "
        "'Charging', 'SuspendedEVSE', 'SuspendedEV', 'Finishing', 'Reserved', 'Unavailable', "
        "'Faulted'] (PropertyConstraintViolation)",
        f"{log}:11: StartTransaction: no valid CallResult logged, so the transactionId the "
        "other central system assigned is unknown",
        f"{log}:12: direction 'sideways' is not in/out, received/sent, rx/tx, "
        "cs->csms/csms->cs, CALL/CALLRESULT/CALLERROR or 2/3/4",
        f"{log}:14: 2 fields, the header has 4",
    ]
    assert sorted(err.splitlines(), key=lambda s: int(s.split(":")[1])) == expected
    assert "bad          9" in out
    assert "skipped      1 (1 answers of bad calls)" in out
    assert rows(
        tmp_path / "d", "SELECT connector_id, status, fault_category FROM status_history"
    ) == [(1, "Available", None), (2, "Faulted", "safety")]


def test_same_file_twice_adds_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = tmp_path / "d"
    log = write_csv(tmp_path / "old.csv", session_log())
    assert run(capsys, str(log), "--data-dir", str(data))[0] == 0
    first = snapshot(data)
    code, out, _ = run(capsys, str(log), str(log), "--data-dir", str(data))
    assert code == 0
    assert snapshot(data) == first
    assert "duplicates   32" in out  # 2 x (8 calls + 8 answers); the 2 x 2 CSMS lines skipped
    assert "imported     0 " in out
    assert "nothing new: every good line was imported before" in out


def split(tmp_path: Path) -> tuple[Path, Path]:
    log = session_log()
    return write_csv(tmp_path / "a.csv", log[:12]), write_csv(tmp_path / "b.csv", log[12:])


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_files_imported_one_by_one_make_the_same_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], order: str
) -> None:
    """A session started in one file and stopped in the next closes with its energy, and the
    connection history is rebuilt, whatever order the runs come in."""
    together = tmp_path / "together"
    run(capsys, str(write_csv(tmp_path / "all.csv", session_log())), "--data-dir", str(together))
    a, b = split(tmp_path)
    one_by_one = tmp_path / "one_by_one"
    for f in (a, b) if order == "forward" else (b, a):
        assert run(capsys, str(f), "--data-dir", str(one_by_one))[0] == 0
    for sql in (
        "SELECT * FROM sessions ORDER BY session_id",
        "SELECT charger_id, ts, event, remote, protocol, code, reason FROM connection_history "
        "ORDER BY ts",
        "SELECT charger_id, connector_id, ts, status, fault_category FROM status_history "
        "ORDER BY ts",
    ):
        assert rows(one_by_one, sql) == rows(together, sql), sql
    assert rows(one_by_one, "SELECT energy_wh FROM sessions") == [(5000.0,)]
    assert len(rows(one_by_one, "SELECT * FROM connection_history")) == 3


def test_cli_exit_codes(tmp_path: Path) -> None:
    data = tmp_path / "d"

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "import", "ocpp-log", *argv, "--data-dir", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = write_csv(tmp_path / "good.csv", session_log())
    done = cli(str(good))
    assert done.returncode == 0, done.stderr
    assert "imported     16" in done.stdout
    heartbeats = [
        row
        for i in range(1200)
        for row in (
            (T0 + 10 * i, "CP-8", "in", call(f"h{i}", "Heartbeat", {})),
            (T0 + 10 * i, "CP-8", "out", result(f"h{i}", {"currentTime": iso(T0)})),
        )
    ]
    long = write_csv(tmp_path / "long.csv", heartbeats)  # epoch-second timestamps
    done = cli(str(long), "--progress", "0.000001")
    assert done.returncode == 0, done.stderr
    assert "reading long.csv: 2000 lines," in done.stderr  # progress lines with their rate
    assert "importing charger calls: 1000 lines," in done.stderr
    assert "lines/s" in done.stderr
    assert "lines/s" not in cli(str(long), "--progress", "0").stderr

    bad = write_csv(tmp_path / "bad.csv", [(iso(T0), "CP-9", "in", "[2,")])
    done = cli(str(bad))
    assert done.returncode == 1
    assert f"{bad}:2: frame is not valid JSON" in done.stderr

    done = cli(str(tmp_path / "missing.csv"))
    assert done.returncode == 2
    assert "missing.csv: cannot read: No such file or directory" in done.stderr

    odd = write_csv(tmp_path / "odd.csv", [], header=("when", "box", "frame"))
    done = cli(str(good), str(odd))  # one unusable file: nothing at all is imported
    assert done.returncode == 2
    assert (
        f"{odd}: missing column(s) timestamp, charger_id; columns found: 'when', 'box', "
        "'frame'; expected: timestamp (timestamp|time|ts); charger_id " in done.stderr
    )
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    assert "pass --format csv|jsonl" in cli(str(notes)).stderr

    lock = DataDirLock(data)
    lock.acquire()
    try:
        done = cli(str(good))
    finally:
        lock.release()
    assert done.returncode == 2
    assert "is in use by another chargewatch process" in done.stderr
