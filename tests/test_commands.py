"""Remote commands through the HTTP API to real chargers: the `ocpp` library's 1.6 and 2.0.1
ChargePoints answer over real WebSockets (and validate our requests against their schemas);
raw sockets play the chargers that never answer, hang up or answer out of schema."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from helpers import app_charger, eventually, raw_charger
from helpers_v201 import journal
from ocpp.routing import on
from ocpp.v16 import ChargePoint as CP16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as CP201
from ocpp.v201 import call_result as r201

from chargewatch.app import App


class Charger16(CP16):
    """Answers every 1.6 command honestly and remembers what it was asked."""

    received: list[tuple[str, dict[str, Any]]]

    def _got(self, action: str, kwargs: dict[str, Any]) -> None:
        self.received.append((action, kwargs))

    @on("Reset")
    def reset(self, **kw: Any) -> Any:
        self._got("Reset", kw)
        return r16.Reset(status="Accepted")

    @on("UnlockConnector")
    def unlock(self, **kw: Any) -> Any:
        self._got("UnlockConnector", kw)
        return r16.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    def availability(self, **kw: Any) -> Any:
        self._got("ChangeAvailability", kw)
        return r16.ChangeAvailability(status="Scheduled")

    @on("TriggerMessage")
    def trigger(self, **kw: Any) -> Any:
        self._got("TriggerMessage", kw)
        return r16.TriggerMessage(status="Accepted")

    @on("GetConfiguration")
    def get_configuration(self, **kw: Any) -> Any:
        self._got("GetConfiguration", kw)
        known = [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        return r16.GetConfiguration(configuration_key=known, unknown_key=["Nope"])

    @on("ChangeConfiguration")
    def change_configuration(self, **kw: Any) -> Any:
        self._got("ChangeConfiguration", kw)
        return r16.ChangeConfiguration(status="RebootRequired")

    @on("RemoteStartTransaction")
    def remote_start(self, **kw: Any) -> Any:
        self._got("RemoteStartTransaction", kw)
        return r16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def remote_stop(self, **kw: Any) -> Any:
        self._got("RemoteStopTransaction", kw)
        return r16.RemoteStopTransaction(status="Rejected")


class Station201(CP201):
    """Answers every 2.0.1 command honestly and remembers what it was asked."""

    received: list[tuple[str, dict[str, Any]]]

    def _got(self, action: str, kwargs: dict[str, Any]) -> None:
        self.received.append((action, kwargs))

    @on("Reset")
    def reset(self, **kw: Any) -> Any:
        self._got("Reset", kw)
        return r201.Reset(status="Scheduled")

    @on("UnlockConnector")
    def unlock(self, **kw: Any) -> Any:
        self._got("UnlockConnector", kw)
        return r201.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    def availability(self, **kw: Any) -> Any:
        self._got("ChangeAvailability", kw)
        return r201.ChangeAvailability(status="Accepted")

    @on("TriggerMessage")
    def trigger(self, **kw: Any) -> Any:
        self._got("TriggerMessage", kw)
        return r201.TriggerMessage(status="Accepted")

    @on("GetVariables")
    def get_variables(self, get_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        self._got("GetVariables", {"get_variable_data": get_variable_data})
        results = [
            {
                "attribute_status": "Accepted",
                "attribute_type": item.get("attribute_type", "Actual"),
                "attribute_value": "300",
                "component": item["component"],
                "variable": item["variable"],
            }
            for item in get_variable_data
        ]
        return r201.GetVariables(get_variable_result=results)

    @on("SetVariables")
    def set_variables(self, set_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        self._got("SetVariables", {"set_variable_data": set_variable_data})
        results = [
            {"attribute_status": "Accepted", "component": i["component"], "variable": i["variable"]}
            for i in set_variable_data
        ]
        return r201.SetVariables(set_variable_result=results)

    @on("RequestStartTransaction")
    def request_start(self, **kw: Any) -> Any:
        self._got("RequestStartTransaction", kw)
        return r201.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    def request_stop(self, **kw: Any) -> Any:
        self._got("RequestStopTransaction", kw)
        return r201.RequestStopTransaction(status="Accepted")


def charger(app: App, cid: str, cls: type, subprotocol: str) -> Any:
    """A library ChargePoint connected to the App and registered with its OCPP server."""
    return app_charger(app, cid, cls, subprotocol, received=[])


async def post(http: httpx.AsyncClient, cid: str, name: str, body: dict, **q: Any) -> Any:
    return await http.post(f"/api/v1/chargers/{cid}/commands/{name}", json=body, params=q)


# command, body, expected 1.6 action and payload (snake_case, as the library hands it over)
CASES_16 = [
    ("reset", {"type": "hard"}, "Reset", {"type": "Hard"}, "Accepted"),
    ("unlock-connector", {"connector_id": 2}, "UnlockConnector", {"connector_id": 2}, "Unlocked"),
    (
        "change-availability",
        {"availability": "inoperative", "connector_id": 0},
        "ChangeAvailability",
        {"connector_id": 0, "type": "Inoperative"},
        "Scheduled",
    ),
    (
        "trigger-message",
        {"message": "diagnostics-status"},
        "TriggerMessage",
        {"requested_message": "DiagnosticsStatusNotification"},
        "Accepted",
    ),
    (
        "trigger-message",
        {"message": "MeterValues", "connector_id": 1},
        "TriggerMessage",
        {"requested_message": "MeterValues", "connector_id": 1},
        "Accepted",
    ),
    (
        "get-configuration",
        {"keys": ["HeartbeatInterval", "Nope"]},
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "Nope"]},
        None,
    ),
    (
        "change-configuration",
        {"key": "HeartbeatInterval", "value": "60"},
        "ChangeConfiguration",
        {"key": "HeartbeatInterval", "value": "60"},
        "RebootRequired",
    ),
    (
        "remote-start",
        {"id_tag": "TAG1", "connector_id": 1},
        "RemoteStartTransaction",
        {"id_tag": "TAG1", "connector_id": 1},
        "Accepted",
    ),
    (
        "remote-stop",
        {"transaction_id": "42"},
        "RemoteStopTransaction",
        {"transaction_id": 42},
        "Rejected",
    ),
]


@pytest.mark.parametrize(("name", "body", "action", "sent", "status"), CASES_16)
async def test_each_command_to_a_16_charger(app, http, name, body, action, sent, status) -> None:
    async with charger(app, "CP-16", Charger16, "ocpp1.6") as cp:
        response = await post(http, "CP-16", name, {**body, "by": "alice"})
        assert response.status_code == 200, response.text
        out = response.json()
        assert cp.received == [(action, sent)]
    assert out["charger"] == "CP-16" and out["protocol"] == "ocpp1.6"
    assert (out["command"], out["action"], out["status"]) == (name, action, status)
    assert out["elapsed_ms"] >= 0
    if name == "get-configuration":
        assert out["result"]["unknownKey"] == ["Nope"]
        assert out["result"]["configurationKey"][0]["value"] == "300"
    [event] = journal(app, "CP-16", "command")
    assert (event["command"], event["action"], event["outcome"]) == (name, action, "answered")
    assert event["by"] == "alice" and event["status"] == status
    assert event["result"] == out["result"]


CASES_201 = [
    ("reset", {"type": "soft"}, "Reset", {"type": "OnIdle"}, "Scheduled"),
    ("reset", {"type": "hard"}, "Reset", {"type": "Immediate"}, "Scheduled"),
    (
        "unlock-connector",
        {"connector_id": 2},
        "UnlockConnector",
        {"evse_id": 2, "connector_id": 1},
        "Unlocked",
    ),
    (
        "change-availability",
        {"availability": "operative"},
        "ChangeAvailability",
        {"operational_status": "Operative"},
        "Accepted",
    ),
    (
        "change-availability",
        {"availability": "inoperative", "connector_id": 1},
        "ChangeAvailability",
        {"operational_status": "Inoperative", "evse": {"id": 1}},
        "Accepted",
    ),
    (
        "trigger-message",
        {"message": "diagnostics-status"},
        "TriggerMessage",
        {"requested_message": "LogStatusNotification"},
        "Accepted",
    ),
    (
        "trigger-message",
        {"message": "status", "connector_id": 1},
        "TriggerMessage",
        {"requested_message": "StatusNotification", "evse": {"id": 1}},
        "Accepted",
    ),
    (
        "remote-start",
        {"id_tag": "TAG1", "connector_id": 1, "remote_start_id": 7},
        "RequestStartTransaction",
        {"id_token": {"id_token": "TAG1", "type": "Central"}, "remote_start_id": 7, "evse_id": 1},
        "Accepted",
    ),
    (
        "remote-stop",
        {"transaction_id": "tx-9"},
        "RequestStopTransaction",
        {"transaction_id": "tx-9"},
        "Accepted",
    ),
]


@pytest.mark.parametrize(("name", "body", "action", "sent", "status"), CASES_201)
async def test_each_command_to_a_201_station(app, http, name, body, action, sent, status) -> None:
    async with charger(app, "CS-2", Station201, "ocpp2.0.1") as cs:
        response = await post(http, "CS-2", name, body)
        assert response.status_code == 200, response.text
        out = response.json()
        assert cs.received == [(action, sent)]
    assert (out["protocol"], out["action"], out["status"]) == ("ocpp2.0.1", action, status)
    [event] = journal(app, "CS-2", "command")
    assert (event["action"], event["outcome"], event["status"]) == (action, "answered", status)


async def test_variables_on_201(app, http) -> None:
    async with charger(app, "CS-V", Station201, "ocpp2.0.1") as cs:
        body = {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}]}
        got = await post(http, "CS-V", "get-variables", body)
        assert got.status_code == 200, got.text
        [result] = got.json()["result"]["getVariableResult"]
        assert result["attributeValue"] == "300" and result["attributeStatus"] == "Accepted"
        body = {
            "variables": [
                {"component": "EVSE", "variable": "Power", "evse_id": 1, "value": "11000"}
            ]
        }
        done = await post(http, "CS-V", "set-variables", body)
        assert done.status_code == 200, done.text
        sent = cs.received[-1][1]["set_variable_data"][0]
        assert sent["component"] == {"name": "EVSE", "evse": {"id": 1}}
        assert sent["attribute_value"] == "11000"


async def test_a_command_the_version_lacks_is_422_with_the_alternative(app, http) -> None:
    async with charger(app, "CS-3", Station201, "ocpp2.0.1") as cs:
        response = await post(http, "CS-3", "get-configuration", {"keys": []})
        assert response.status_code == 422
        assert "use get-variables" in response.json()["detail"]
        response = await post(http, "CS-3", "trigger-message", {"message": "Bogus"})
        assert response.status_code == 422
        assert cs.received == []
    async with charger(app, "CP-3", Charger16, "ocpp1.6") as cp:
        body = {"variables": [{"component": "A", "variable": "B", "value": "1"}]}
        response = await post(http, "CP-3", "set-variables", body)
        assert response.status_code == 422
        assert "use change-configuration" in response.json()["detail"]
        response = await post(http, "CP-3", "trigger-message", {"message": "LogStatusNotification"})
        assert "use DiagnosticsStatusNotification" in response.json()["detail"]
        response = await post(http, "CP-3", "remote-stop", {"transaction_id": "abc"})
        assert response.status_code == 422 and "integer" in response.json()["detail"]
        assert cp.received == []
    assert journal(app, "CS-3", "command") == [] and journal(app, "CP-3", "command") == []


async def test_unknown_and_disconnected_chargers(app, http) -> None:
    response = await post(http, "NOBODY", "reset", {})
    assert response.status_code == 404 and "NOBODY" in response.json()["detail"]
    async with charger(app, "CP-GONE", Charger16, "ocpp1.6"):
        pass
    await eventually(lambda: not app.state.chargers["CP-GONE"].connected)
    response = await post(http, "CP-GONE", "reset", {})
    assert response.status_code == 409 and "not connected" in response.json()["detail"]
    assert (await post(http, "CP-GONE", "reset", {"type": "warm"})).status_code == 422


async def test_timeout_when_the_charger_never_answers(app, http) -> None:
    async with raw_charger(app.ocpp_port, "CP-MUTE") as ws:
        await eventually(lambda: "CP-MUTE" in app.ocpp.connections)
        response = await post(http, "CP-MUTE", "reset", {}, timeout=0.3)
        assert response.status_code == 504
        assert response.json()["detail"] == "CP-MUTE did not answer Reset: no answer within 0.3 s"
        frame = json.loads(await ws.recv())
        assert frame[0] == 2 and frame[2] == "Reset" and frame[3] == {"type": "Soft"}
        assert len(app.ocpp.connections["CP-MUTE"].pending) == 0
        # a late answer is counted as unexpected, not mistaken for another call's
        await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        response = await post(http, "CP-MUTE", "heartbeat", {})
        assert response.status_code == 404  # no such command
    [event] = journal(app, "CP-MUTE", "command")
    assert event["outcome"] == "timeout" and event["result"] is None


async def test_disconnect_during_a_pending_call(app, http) -> None:
    async with raw_charger(app.ocpp_port, "CP-DROP") as ws:
        await eventually(lambda: "CP-DROP" in app.ocpp.connections)
        pending = asyncio.create_task(post(http, "CP-DROP", "reset", {}, timeout=10))
        await ws.recv()  # the Reset arrived; hang up instead of answering
        await ws.close()
    response = await asyncio.wait_for(pending, 5)
    assert response.status_code == 502
    assert response.json()["detail"] == "CP-DROP disconnected before answering"
    [event] = journal(app, "CP-DROP", "command")
    assert event["outcome"] == "disconnected"


async def test_call_error_and_out_of_schema_answers(app, http) -> None:
    async with raw_charger(app.ocpp_port, "CP-ODD") as ws:
        await eventually(lambda: "CP-ODD" in app.ocpp.connections)

        async def answer(frame_for: Any) -> httpx.Response:
            task = asyncio.create_task(post(http, "CP-ODD", "reset", {}, timeout=5))
            mid = json.loads(await ws.recv())[1]
            await ws.send(json.dumps(frame_for(mid)))
            return await task

        error = await answer(lambda mid: [4, mid, "NotSupported", "no resets here", {}])
        assert error.status_code == 502
        assert error.json()["detail"] == (
            "CP-ODD answered Reset with CallError NotSupported: no resets here"
        )
        odd = await answer(lambda mid: [3, mid, {"status": "Maybe"}])
        assert odd.status_code == 502
        detail = odd.json()["detail"]
        assert "breaks the OCPP 1.6 ResetResponse schema" in detail and "status" in detail
    events = journal(app, "CP-ODD", "command")
    assert [e["outcome"] for e in events] == ["call_error", "invalid_answer"]
    assert events[1]["result"] == {"status": "Maybe"}
    assert "NotSupported" in events[0]["error"]


async def test_commands_change_nothing_of_the_charger_state(app, http) -> None:
    async with charger(app, "CP-S", Charger16, "ocpp1.6"):
        seen = app.state.chargers["CP-S"].last_seen
        assert (await post(http, "CP-S", "reset", {})).status_code == 200
        assert app.state.chargers["CP-S"].last_seen == seen


async def test_the_journal_names_the_token_that_sent_a_command(start_app) -> None:
    admin = "admin-token-0123456789"
    app: App = await start_app(f'http: {{api_tokens: ["{admin}"]}}\n')
    base = f"http://127.0.0.1:{app.http_port}"
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {admin}"}) as a:
        made = await a.post("/api/v1/tokens", json={"name": "night-shift", "role": "operator"})
    token = made.json()["token"]
    async with (
        httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http,
        charger(app, "CP-BY", Charger16, "ocpp1.6"),
    ):
        assert (await post(http, "CP-BY", "reset", {"by": "ticket 42"})).status_code == 200
        assert (await post(http, "CP-BY", "reset", {})).status_code == 200
    assert [e["by"] for e in journal(app, "CP-BY", "command")] == [
        "night-shift (ticket 42)",
        "night-shift",
    ]
