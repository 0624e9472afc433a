"""Property-based fuzzing of the OCPP-J endpoint, both versions, against ONE real App.

Hypothesis sends random JSON, frame-shaped arrays with wrong parts, truncated / garbled text,
huge numbers, lone surrogate escapes, deep nesting and, rarely, binary and oversized frames
over a raw WebSocket (subprotocol ocpp1.6 or ocpp2.0.1), and payloads generated from the
`ocpp` package's request schemas with fields dropped, added or given wrong values. For every
frame it checks, against an oracle written from the spec (not from collector/framing.py):

* a frame with a recoverable message id gets exactly one answer with that id: a CallError
  whose code the version's spec allows for that kind of problem (never InternalError), or a
  CallResult (valid input only; it conforms to the action's Response schema);
* a frame without a recoverable id, and any CallResult / CallError, gets no answer;
* the connection stays open, except the documented closes (> 64 KiB: 1009, binary: 1003);
* a well-behaved charger on another connection gets every answer and its data is stored;
* no handler or task fails (no ERROR log record) and the process keeps serving.

"No answer" is established without timing: after each fuzz frame a Heartbeat probe with an
id no strategy can produce is sent on the same connection; the server answers frames of one
connection strictly in order, so whatever arrives before the probe's answer is the fuzz
frame's answer. The App runs in its own thread with its own event loop (started once for the
module) and the test drives it with websockets' synchronous client.

Bounds: `max_examples` per property (below), derandomize=True and no example database, so
CI runs the same examples every time; deadline=None; no timing asserts.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from app_thread import AppThread
from fuzz_frames import frames, mutated_payload
from fuzz_oracle import HANDLED, MAX_FRAME, V16, V201, check_answer, frame_text
from helpers import NOW, db_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

MAX_EXAMPLES = 150
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---- the App, the fuzzing charger and its well-behaved neighbour -----------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    data_dir = tmp_path_factory.mktemp("fuzz-ocpp") / "data"
    with AppThread(data_dir, "storage:\n  journal_sync: normal\n") as app:
        yield app
        assert app.serving()
    assert not app.loop_errors, app.loop_errors
    assert not app.errors.records, app.errors.messages()


_ids = itertools.count()


class Link:
    """One raw WebSocket charger; reconnects after the documented closes."""

    def __init__(self, server: AppThread, charger_id: str, version: str) -> None:
        self.url = f"ws://127.0.0.1:{server.app.ocpp_port}/ocpp/{charger_id}"
        self.version = version
        self.ws = self._connect()

    def _connect(self) -> ClientConnection:
        ws = connect(
            self.url, subprotocols=[self.version], compression=None, max_size=None, legacy=True
        )
        assert ws.subprotocol == self.version
        return ws

    def close(self) -> None:
        self.ws.close()

    def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        mid = f"\u2603good-{next(_ids)}"
        self.ws.send(json.dumps([2, mid, action, payload]))
        answer = json.loads(self.ws.recv(timeout=30))
        assert answer[:2] == [3, mid], answer
        return answer

    def exchange(self, frame: str | bytes, meanwhile: Any = None) -> Any:
        """Send a frame, then a probe; the answer to the frame (None: there was none)."""
        self.ws.send(frame)
        if isinstance(frame, bytes) or len(frame.encode()) > MAX_FRAME:
            want = 1003 if isinstance(frame, bytes) else 1009
            with pytest.raises(ConnectionClosed):
                self.ws.recv(timeout=30)
            assert self.ws.protocol.close_code == want, self.ws.protocol.close_code
            self.ws = self._connect()
            return None
        if meanwhile is not None:
            meanwhile()
        probe = f"\u2603probe-{next(_ids)}"  # no strategy below produces a snowman
        self.ws.send(json.dumps([2, probe, "Heartbeat", {}]))
        answers = []
        while True:
            answer = json.loads(self.ws.recv(timeout=30))  # a hang fails, it is not timed
            if answer[1] == probe:
                assert answer[0] == 3, answer
                break
            answers.append(answer)
        assert len(answers) <= 1, answers  # one answer per frame at most
        return answers[0] if answers else None


class GoodCharger:
    """A charger that behaves, on its own connection: every call answered and stored."""

    def __init__(self, server: AppThread, version: str, name: str) -> None:
        self.server, self.version = server, version
        self.charger_id = f"GOOD-{name}-{version}"
        self.link = Link(server, self.charger_id, version)
        self.sent = 0
        if version == V16:
            self.link.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        else:
            self.link.call(
                "BootNotification",
                {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M"}},
            )

    def meter(self) -> None:
        self.sent += 1
        if self.version == V16:
            payload: dict[str, Any] = {
                "connectorId": 1,
                "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": str(self.sent)}]}],
            }
        else:
            payload = {
                "evseId": 1,
                "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": self.sent}]}],
            }
        assert self.link.call("MeterValues", payload)[2] == {}

    def stored(self) -> int:
        rows = db_rows(
            self.server.data_dir,
            "SELECT COUNT(*) FROM journal WHERE charger_id=? AND kind='meter'",
            (self.charger_id,),
        )
        return rows[0][0]


# ---- the properties ----------------------------------------------------------------------
def _call_id(text: str) -> Any:
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str):
        return frame[1]
    return None


def _fuzz(server: AppThread, version: str, strategy: st.SearchStrategy[Any], name: str) -> None:
    good = GoodCharger(server, version, name)
    fuzz = Link(server, f"FUZZ-{name}-{version}", version)
    answered: dict[str, Any] = {}  # message id -> the CallResult it got

    @FUZZ_SETTINGS
    @given(frame=strategy)
    def prop(frame: str | bytes) -> None:
        answer = fuzz.exchange(frame, good.meter)  # the neighbour, between frame and probe
        if isinstance(frame, bytes) or len(frame.encode()) > MAX_FRAME:
            return  # closed as documented (checked by exchange) and reconnected
        mid = _call_id(frame)
        if mid in answered and answer == answered[mid]:
            return  # a retried id: answered again from the log (docs/ocpp.md, retries)
        check_answer(version, frame, answer)
        if answer is not None and answer[0] == 3:
            answered[answer[1]] = answer
        assert not server.errors.records, server.errors.messages()

    try:
        prop()
    finally:
        fuzz.close()
        good.link.close()
    assert good.stored() == good.sent  # answered only after commit: all of it is there
    assert server.serving()


@pytest.mark.parametrize("version", [V16, V201])
def test_random_frames_never_break_the_server(server: AppThread, version: str) -> None:
    _fuzz(server, version, frames(version), "frames")


@st.composite
def schema_calls(draw: st.DrawFn, version: str) -> str:
    action = draw(st.sampled_from(sorted(HANDLED[version])))
    mid = f"s{next(_ids)}"  # unique: a retried id would be answered from the cache
    return frame_text([2, mid, action, draw(mutated_payload(version, action))])


@pytest.mark.parametrize("version", [V16, V201])
def test_schema_based_payloads_get_the_code_the_spec_names(server: AppThread, version: str) -> None:
    _fuzz(server, version, schema_calls(version), "schema")


# ---- what the first runs found, pinned ---------------------------------------------------
@pytest.mark.parametrize(
    ("version", "frame", "answer"),
    [
        (  # a 64-bit overflow once failed the whole group commit (InternalError for all in it)
            V16,
            [2, "big", "StatusNotification", {"connectorId": 2**63, "errorCode": "NoError",
                                              "status": "Available"}],
            [4, "big", "PropertyConstraintViolation"],
        ),
        (
            V201,
            [2, "big", "StatusNotification", {"timestamp": NOW, "connectorStatus": "Available",
                                              "evseId": 2**70, "connectorId": 1}],
            [4, "big", "PropertyConstraintViolation"],
        ),
        (  # stored, it once made GET /api/v1/chargers answer 500
            V16,
            [2, "y10k", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
             "status": "Available", "timestamp": "9999-12-31T23:59:59-23:59"}],
            [4, "y10k", "PropertyConstraintViolation"],
        ),
        (V16, [2, {"a": 1}, "Heartbeat", {}], None),  # once answered with id "{'a': 1}"
        (V201, [2, "", "Heartbeat", {}], None),
    ],
)  # fmt: skip
def test_found_by_fuzzing(server: AppThread, version: str, frame: list, answer: Any) -> None:
    link = Link(server, f"PINNED-{version}", version)
    try:
        got = link.exchange(json.dumps(frame))
    finally:
        link.close()
    assert (got[:3] if got else None) == answer, got


def test_the_id_of_a_broken_frame_is_unescaped(server: AppThread) -> None:
    link = Link(server, "PINNED-ESCAPE", V16)
    try:  # not JSON (truncated): the id as the charger meant it
        got = link.exchange('[2,"a\\"b\\u00e9","Heartbeat",{')
        # an id with a lone surrogate: no string holds it (it once failed a group commit)
        lone = link.exchange('[2,"a\\ud800","Heartbeat",{')
        lone_json = link.exchange('[2,"a\\ud800","Heartbeat",{}]')
    finally:
        link.close()
    assert got[:3] == [4, 'a"b\u00e9', "FormationViolation"], got
    assert lone is None and lone_json is None
