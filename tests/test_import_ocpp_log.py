"""`chargewatch import ocpp-log`: logs of another central system become ChargeWatch history.

Real files written here, the real SQLite store, the CLI in-process and as a subprocess. The
expected rows are computed by hand from the logs below.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chargewatch import events as ev
from chargewatch import store
from chargewatch.cli import main
from chargewatch.datadir import DataDirLock
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


_FIELD = st.one_of(
    st.text(max_size=30),
    st.sampled_from([iso(T0), "1709287200", "1709287200123", "", "CP-1", "in", "out", "CALL",
                     "3", "nan", "1e400", "-5", "2024-02-30T00:00:00Z"]),
)  # fmt: skip
_PAYLOAD = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=8,
)  # fmt: skip
_ACTIONS = st.sampled_from(["BootNotification", "StatusNotification", "MeterValues",
                            "StartTransaction", "StopTransaction", "Heartbeat", "Authorize",
                            "DataTransfer", "Reset", "Nope"])  # fmt: skip
_FRAME = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [  # lone surrogates SQLite cannot store; a proper pair it can
            '[2,"\\ud800","Heartbeat",{}]',
            '[2,"u9","StatusNotification",{"connectorId":1,"status":"Available",'
            '"errorCode":"NoError","info":"\\udead \\ud83d\\ude00"}]',
            '[2,"u8","DataTransfer",{"vendorId":"\\ud83d\\ude00"}]',
        ]
    ),
    st.builds(lambda a, p: json.dumps([2, "u1", a, p]), _ACTIONS, _PAYLOAD),
    st.builds(lambda p: json.dumps([3, "u1", p]), _PAYLOAD),
    st.builds(lambda p: json.dumps([4, "u1", "X", "", p]), _PAYLOAD),
    st.builds(json.dumps, _PAYLOAD),
)
_INT = st.one_of(st.integers(-2, 3), st.integers(), _PAYLOAD)
# payloads close enough to their schema that the adapter's own checks and the pairing run
_NEAR = st.one_of(
    st.builds(
        lambda c, s, e: [2, "u1", "StatusNotification",
                         {"connectorId": c, "status": s, "errorCode": e}],
        _INT, st.sampled_from(["Available", "Charging", "Faulted", "Bad"]),
        st.sampled_from(["NoError", "OtherError", "Nope"]),
    ),
    st.builds(
        lambda c, m: [2, "u2", "StartTransaction",
                      {"connectorId": c, "idTag": "T", "meterStart": m, "timestamp": iso(T0)}],
        _INT, _INT,
    ),
    st.builds(lambda t: [3, "u2", {"transactionId": t, "idTagInfo": {"status": "Accepted"}}],
              _INT),
    st.builds(
        lambda t, m: [2, "u3", "StopTransaction",
                      {"transactionId": t, "meterStop": m, "timestamp": iso(T0 + 9)}],
        _INT, _INT,
    ),
    st.builds(lambda i: [3, "u4", {"status": "Accepted", "currentTime": iso(T0),
                                   "interval": i}], _INT),
).map(json.dumps)  # fmt: skip
_ROW = st.one_of(
    st.tuples(_FIELD, _FIELD, _FIELD, _FRAME),
    st.tuples(
        st.sampled_from([iso(T0), iso(T0 + 5), str(T0 + 4000)]),
        st.sampled_from(["CP-1", "CP-2"]),
        st.sampled_from(["in", "out", "", "CALL", "CALLRESULT"]),
        st.one_of(_FRAME, _NEAR),
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows_=st.lists(_ROW, max_size=12),
    raw=st.lists(st.binary(max_size=40), max_size=3),
    jsonl=st.booleans(),
)
def test_garbage_never_crashes_and_every_line_is_accounted_for(
    rows_: list[tuple[str, str, str, str]], raw: list[bytes], jsonl: bool
) -> None:
    from chargewatch.config import Config
    from chargewatch.import_cli import Output, import_logs

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("g.jsonl" if jsonl else "g.csv")
        if jsonl:
            text = "\n".join(
                json.dumps({"timestamp": a, "charger_id": b, "direction": c, "message": d})
                for a, b, c, d in rows_
            )
            path.write_bytes(b'{"ts": 1, "charger": "", "raw": ""}\n' + text.encode() + b"\n")
        else:
            write_csv(path, rows_)
        with open(path, "ab") as fh:
            fh.write(b"\n".join(raw))
        config = Config().model_copy(update={"data_dir": Path(tmp) / "d"})
        out = Output([str(path)], 0, False, open(Path(tmp) / "err", "w"))  # noqa: SIM115
        summary = import_logs([path], config, out)
        out._err.close()
        s = summary
        event(f"imported lines: {min(s.tally.imported_lines, 3)}")  # statistics: not all bad
        event(f"sessions started: {min(s.tally.sessions_started, 1)}")
        assert s.read == s.tally.imported_lines + s.duplicates + s.skipped + s.bad
        data = Path(tmp) / "d"
        assert rows(data, "SELECT COUNT(*) FROM journal") == [(0,)]
        assert rows(data, "SELECT COUNT(*) FROM chargers") == [(0,)]
        assert rows(data, "SELECT COUNT(*) FROM import_journal") == [
            (s.tally.imported_lines - s.tally.answers,)
        ]
