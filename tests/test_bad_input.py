"""Bad input is a feature: every malformed frame or payload gets the CallError OCPP 1.6J names,
or is logged and counted when no message id can be recovered; nothing crashes the server or
touches another charger."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from helpers import NOW, call, db_rows, eventually, journal_kinds, raw_charger, send_raw
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chargewatch.app import App

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def scrape(app: App) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{app.http_port}/metrics")).text


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('[2,"id-1","Heartbeat",{}', "FormationViolation"),  # truncated JSON, id recoverable
        ('[2,"id-1","Heartbeat"]', "FormationViolation"),  # a Call needs 4 elements
        ('[2,"id-1","Heartbeat",[]]', "FormationViolation"),  # payload not an object
        ('[2,"id-1",42,{}]', "FormationViolation"),  # action not a string
        ('[7,"id-1","Heartbeat",{}]', "FormationViolation"),  # unknown message type
        ('["2","id-1","Heartbeat",{}]', "FormationViolation"),  # type id not an integer
    ],
)
async def test_broken_frames_with_recoverable_id_get_call_error(app: App, frame, code) -> None:
    async with raw_charger(app.ocpp_port, "CP-BAD") as ws:
        answer = await send_raw(ws, frame)
        assert answer[0] == 4 and answer[1] == "id-1" and answer[2] == code, answer
        assert answer[3]  # a description says what is wrong
        assert (await call(ws, "Heartbeat", {}))[0] == 3  # the connection keeps working


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("hello", "invalid_json"),
        ('{"not": "an array"}', "not_array"),
        ("[" * 60000, "invalid_json"),  # nesting deep enough to exhaust the parser's recursion
        ("[]", "bad_structure"),
        ("[2]", "bad_structure"),
        ('[3,"never-sent",{}]', None),  # a CallResult for no call of ours
        ('[4,"never-sent","GenericError","x",{}]', None),
    ],
)
async def test_unanswerable_frames_are_logged_and_counted(app: App, frame, reason) -> None:
    async with raw_charger(app.ocpp_port, "CP-SILENT") as ws:
        assert await send_raw(ws, frame, timeout=0.3) is None
        assert (await call(ws, "Heartbeat", {}))[0] == 3
    text = await scrape(app)
    if reason:
        assert metric(text, f'chargewatch_ocpp_bad_frames_total{{reason="{reason}"}}') == 1
    else:
        assert metric(text, "chargewatch_ocpp_unexpected_responses_total") == 1
    if reason:  # the frame is kept in the raw message log (first 4 KiB) for forensics
        logged = db_rows(app.config.data_dir, "SELECT request, ok FROM messages WHERE ok=0")
        assert (frame[:4096], 0) in logged


async def test_a_lone_surrogate_escape_is_refused_and_harms_nobody(app: App) -> None:
    """JSON lets a string hold "\\ud800" alone; Unicode (and so the store) does not. It
    once failed the whole group commit and dropped another charger; now it is a
    FormationViolation, and a proper pair (an emoji) is stored as the text it means."""
    bad = (
        '[2,"s-1","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
        '"status":"Available","info":"\\ud800"}]'
    )
    emoji = (
        '[2,"s-2","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
        '"status":"Available","info":"\\ud83d\\udd0c"}]'
    )
    async with (
        raw_charger(app.ocpp_port, "CP-SUR") as ws,
        raw_charger(app.ocpp_port, "CP-OK") as ok,
    ):
        answer = await send_raw(ws, bad)
        assert answer[:3] == [4, "s-1", "FormationViolation"], answer
        assert "without its pair" in answer[3]
        assert (await call(ok, "Heartbeat", {}))[0] == 3  # the neighbour is unharmed
        assert (await send_raw(ws, emoji))[:2] == [3, "s-2"]
    # answered only once journaled: the row is there
    assert db_rows(app.config.data_dir, "SELECT info FROM status_history") == [("\U0001f50c",)]


async def test_unknown_fields_are_named(app: App) -> None:
    async with raw_charger(app.ocpp_port, "CP-UF") as ws:
        answer = await call(ws, "BootNotification", {**BOOT, "colour": "red", "age": 3})
    assert answer[2:4] == ["FormationViolation", "field(s) not in the schema: age, colour"]


async def test_message_id_longer_than_36_characters(app: App) -> None:
    long_id = "x" * 37
    async with raw_charger(app.ocpp_port, "CP-ID") as ws:
        answer = await send_raw(ws, json.dumps([2, long_id, "Heartbeat", {}]))
    assert answer[:3] == [4, long_id, "FormationViolation"]


@pytest.mark.parametrize(
    ("action", "payload", "code", "field"),
    [
        ("BootNotification", {"chargePointVendor": "V"}, "ProtocolError", "chargePointModel"),
        (
            "BootNotification",
            {**BOOT, "chargePointVendor": 5},
            "TypeConstraintViolation",
            "chargePointVendor",
        ),
        (
            "BootNotification",
            {**BOOT, "chargePointVendor": "V" * 21},
            "TypeConstraintViolation",
            "chargePointVendor",
        ),
        ("BootNotification", {**BOOT, "colour": "red"}, "FormationViolation", None),
        (
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"},
            "PropertyConstraintViolation",
            "status",
        ),
        (
            "StatusNotification",
            {"connectorId": 1, "errorCode": "Oops", "status": "Faulted"},
            "PropertyConstraintViolation",
            "errorCode",
        ),
        (
            "StatusNotification",
            {"connectorId": -1, "errorCode": "NoError", "status": "Available"},
            "PropertyConstraintViolation",
            "connectorId",
        ),
        (
            "StatusNotification",
            {"connectorId": 0, "errorCode": "NoError", "status": "Charging"},
            "PropertyConstraintViolation",
            "status",
        ),
        (
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Available",
                "timestamp": "yesterday",
            },
            "PropertyConstraintViolation",
            "timestamp",
        ),
        (
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Available",
                "timestamp": "2026-13-45T10:00:00Z",
            },
            "PropertyConstraintViolation",
            "timestamp",
        ),
        (
            "MeterValues",
            {"connectorId": 1, "meterValue": []},
            "OccurenceConstraintViolation",
            "meterValue",
        ),
        (
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "abc"}]}],
            },
            "PropertyConstraintViolation",
            "meterValue[0].sampledValue[0].value",
        ),
        (
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "NaN"}]}],
            },
            "PropertyConstraintViolation",
            "meterValue[0].sampledValue[0].value",
        ),
        (
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [
                    {"timestamp": NOW, "sampledValue": [{"value": "1", "unit": "furlong"}]}
                ],
            },
            "PropertyConstraintViolation",
            "meterValue[0].sampledValue[0].unit",
        ),
        (
            "StartTransaction",
            {"connectorId": 0, "idTag": "T", "meterStart": 0, "timestamp": NOW},
            "PropertyConstraintViolation",
            "connectorId",
        ),
        (
            "StartTransaction",
            {"connectorId": 1, "idTag": "T", "meterStart": 1.5, "timestamp": NOW},
            "TypeConstraintViolation",
            "meterStart",
        ),
        ("Authorize", {"idTag": "T" * 21}, "TypeConstraintViolation", "idTag"),
        ("FooBar", {}, "NotImplemented", None),
        ("RemoteStartTransaction", {"idTag": "T"}, "NotSupported", None),
    ],
)
async def test_payload_violations_get_the_code_the_spec_names(
    app: App, action, payload, code, field
) -> None:
    async with raw_charger(app.ocpp_port, "CP-SCHEMA") as ws:
        answer = await call(ws, action, payload)
    assert answer[0] == 4 and answer[2] == code, answer
    assert answer[3]
    if field:
        assert answer[4] == {"field": field}
    # nothing of a refused call is journaled
    assert (
        db_rows(
            app.config.data_dir,
            "SELECT kind FROM journal WHERE kind NOT IN ('connected','disconnected','alert')",
        )
        == []
    )


async def test_oversized_frame_closes_the_connection_with_1009(app: App) -> None:
    big = json.dumps([2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * 70000}])
    async with raw_charger(app.ocpp_port, "CP-BIG", max_size=None) as ws:
        await ws.send(big)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1009
    # the connection was opened and closed in the journal; nothing of the frame was stored
    await eventually(
        lambda: journal_kinds(app.config.data_dir, "CP-BIG") == ["connected", "disconnected"]
    )


async def test_binary_frame_closes_with_1003(app: App) -> None:
    async with raw_charger(app.ocpp_port, "CP-BIN") as ws:
        await ws.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1003


async def test_a_bad_charger_never_harms_another(app: App) -> None:
    """One charger floods garbage and oversized frames while another charges normally."""

    async def vandal() -> None:
        for i in range(30):
            try:
                async with raw_charger(app.ocpp_port, "CP-VANDAL", max_size=None) as ws:
                    await ws.send("garbage" if i % 3 else "[2," + "9" * 100000)
                    await ws.send('[2,"x","Heartbeat",{"a":')
                    await ws.send(json.dumps([2, "y", "StatusNotification", {"connectorId": 1}]))
            except ConnectionClosed:
                pass

    async def good() -> list[list]:
        answers = []
        async with raw_charger(app.ocpp_port, "CP-GOOD") as ws:
            answers.append(await call(ws, "BootNotification", BOOT))
            start = await call(
                ws,
                "StartTransaction",
                {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": NOW},
            )
            answers.append(start)
            for i in range(30):
                answers.append(
                    await call(
                        ws,
                        "MeterValues",
                        {
                            "connectorId": 1,
                            "transactionId": start[2]["transactionId"],
                            "meterValue": [
                                {"timestamp": NOW, "sampledValue": [{"value": str(100 * (i + 1))}]}
                            ],
                        },
                    )
                )
        return answers

    _, answers = await asyncio.gather(vandal(), good())
    assert all(a[0] == 3 for a in answers)
    good_meters = db_rows(
        app.config.data_dir,
        "SELECT COUNT(*) FROM journal WHERE charger_id='CP-GOOD' AND kind='meter'",
    )
    assert good_meters == [(30,)]
    assert db_rows(
        app.config.data_dir,
        "SELECT COUNT(*) FROM journal WHERE charger_id='CP-VANDAL' "
        "AND kind NOT IN ('connected','disconnected')",
    ) == [(0,)]
    async with raw_charger(app.ocpp_port, "CP-AFTER") as ws:  # the server still serves
        assert (await call(ws, "Heartbeat", {}))[0] == 3


@pytest.mark.parametrize(
    ("path", "protocols", "status", "words"),
    [
        ("/ocpp/CP-1", [], 400, "no supported OCPP subprotocol"),
        ("/ocpp/CP-1", ["ocpp1.2", "mqtt"], 400, "ocpp1.2, mqtt"),
        ("/elsewhere/CP-1", ["ocpp1.6"], 404, "/ocpp/<chargePointId>"),
        ("/ocpp/", ["ocpp1.6"], 400, "charge point id"),
        ("/ocpp/" + "A" * 49, ["ocpp1.6"], 400, "1 to 48"),
        ("/ocpp/CP%0A1", ["ocpp1.6"], 400, "printable"),
    ],
)
async def test_handshake_refusals_are_clear_http_errors(
    app: App, path, protocols, status, words
) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{app.ocpp_port}{path}", subprotocols=protocols or None):
            pass
    response = info.value.response
    assert response.status_code == status
    assert words in response.body.decode()


async def test_charger_id_is_the_percent_decoded_last_segment(app: App) -> None:
    async with raw_charger(app.ocpp_port, "DE%2AACME%20001") as ws:
        assert ws.subprotocol == "ocpp1.6"
        await call(ws, "Heartbeat", {})
    assert "DE*ACME 001" in app.state.chargers
