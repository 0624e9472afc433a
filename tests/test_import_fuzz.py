"""The history importer on random input: it never crashes, and every line is accounted for
(imported, duplicate, skipped or bad) — with nothing reaching the live tables."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from import_logs import T0, iso, rows, write_csv

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
