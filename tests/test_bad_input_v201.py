"""Bad input from an OCPP 2.0.1 station gets the CallError OCPP-J 2.0.1 names (section 4.3),
with the field in errorDetails; nothing of a refused call is journaled; a flooding 2.0.1
station never harms a 1.6 charger on the same server."""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers import NOW, call, db_rows, raw_charger, send_raw
from websockets.exceptions import ConnectionClosed

from chargewatch.app import App

V201 = ("ocpp2.0.1",)
BOOT = {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M"}}
STATUS = {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
TX = {
    "eventType": "Started",
    "timestamp": NOW,
    "triggerReason": "Authorized",
    "seqNo": 0,
    "transactionInfo": {"transactionId": "t-1"},
    "evse": {"id": 1},
}


def meter(**sampled) -> dict:
    return {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [sampled]}]}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('[2,"id-1","Heartbeat",{}', "RpcFrameworkError"),  # truncated JSON, id recoverable
        ('[2,"id-1","Heartbeat"]', "RpcFrameworkError"),  # a Call needs 4 elements
        ('[2,"id-1","Heartbeat",[]]', "RpcFrameworkError"),
        ('[2,"id-1",42,{}]', "RpcFrameworkError"),
        ('[7,"id-1","Heartbeat",{}]', "MessageTypeNotSupported"),
        ('["2","id-1","Heartbeat",{}]', "RpcFrameworkError"),
    ],
)
async def test_broken_frames_get_the_2_0_1_codes(app: App, frame, code) -> None:
    async with raw_charger(app.ocpp_port, "ST-BAD", V201) as ws:
        answer = await send_raw(ws, frame)
        assert answer[:3] == [4, "id-1", code], answer
        assert answer[3]
        assert (await call(ws, "Heartbeat", {}))[0] == 3  # the connection keeps working


@pytest.mark.parametrize(
    ("action", "payload", "code", "field"),
    [
        (
            "BootNotification",
            {"chargingStation": BOOT["chargingStation"]},
            "OccurrenceConstraintViolation",
            "reason",
        ),
        (
            "BootNotification",
            {**BOOT, "chargingStation": {"vendorName": "V"}},
            "OccurrenceConstraintViolation",
            "chargingStation.model",
        ),
        (
            "BootNotification",
            {**BOOT, "chargingStation": {"vendorName": 5, "model": "M"}},
            "TypeConstraintViolation",
            "chargingStation.vendorName",
        ),
        (
            "BootNotification",
            {**BOOT, "chargingStation": {"vendorName": "V" * 51, "model": "M"}},
            "TypeConstraintViolation",
            "chargingStation.vendorName",
        ),
        ("BootNotification", {**BOOT, "colour": "red"}, "ProtocolError", None),
        ("BootNotification", {**BOOT, "reason": "Bored"}, "PropertyConstraintViolation", "reason"),
        (
            "StatusNotification",
            {**STATUS, "connectorStatus": "Charging"},  # a 1.6 status, not a 2.0.1 one
            "PropertyConstraintViolation",
            "connectorStatus",
        ),
        ("StatusNotification", {**STATUS, "evseId": -1}, "PropertyConstraintViolation", "evseId"),
        (
            "StatusNotification",
            {**STATUS, "evseId": 0, "connectorStatus": "Occupied"},
            "PropertyConstraintViolation",
            "connectorStatus",
        ),
        (
            "StatusNotification",
            {**STATUS, "timestamp": "2026-13-45T10:00:00Z"},
            "PropertyConstraintViolation",
            "timestamp",
        ),
        (
            "MeterValues",
            {"evseId": 1, "meterValue": []},
            "OccurrenceConstraintViolation",
            "meterValue",
        ),
        (
            "MeterValues",
            meter(value="12"),  # 2.0.1 values are numbers, not 1.6's decimal strings
            "TypeConstraintViolation",
            "meterValue[0].sampledValue[0].value",
        ),
        (
            "MeterValues",
            meter(value=1, unitOfMeasure={"unit": "Wh", "multiplier": 400}),
            "PropertyConstraintViolation",
            "meterValue[0].sampledValue[0].unitOfMeasure.multiplier",
        ),
        (
            "MeterValues",
            meter(value=1, measurand="Temperature"),  # no longer a measurand in 2.0.1
            "PropertyConstraintViolation",
            "meterValue[0].sampledValue[0].measurand",
        ),
        ("TransactionEvent", {**TX, "seqNo": -1}, "PropertyConstraintViolation", "seqNo"),
        ("TransactionEvent", {**TX, "evse": {"id": 0}}, "PropertyConstraintViolation", "evse.id"),
        (
            "TransactionEvent",
            {**TX, "transactionInfo": {"transactionId": "x" * 37}},
            "TypeConstraintViolation",
            "transactionInfo.transactionId",
        ),
        (
            "TransactionEvent",
            {**TX, "transactionInfo": {"transactionId": "t", "chargingState": "Flying"}},
            "PropertyConstraintViolation",
            "transactionInfo.chargingState",
        ),
        (
            "Authorize",
            {"idToken": {"idToken": "T"}},
            "OccurrenceConstraintViolation",
            "idToken.type",
        ),
        ("FooBar", {}, "NotImplemented", None),
        (
            "RequestStartTransaction",
            {"idToken": {"idToken": "T", "type": "Central"}, "remoteStartId": 1},
            "NotSupported",
            None,
        ),
    ],
)
async def test_payload_violations_get_the_code_2_0_1_names(
    app: App, action, payload, code, field
) -> None:
    async with raw_charger(app.ocpp_port, "ST-SCHEMA", V201) as ws:
        answer = await call(ws, action, payload)
    assert answer[0] == 4 and answer[2] == code, answer
    assert answer[3]
    if field:
        assert answer[4] == {"field": field}
    assert (
        db_rows(
            app.config.data_dir,
            "SELECT kind FROM journal WHERE kind NOT IN ('connected','disconnected','alert')",
        )
        == []
    )


async def test_nan_is_refused_though_python_reads_it(app: App) -> None:
    payload = {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": 0}]}]}
    frame = json.dumps([2, "n-1", "MeterValues", payload]).replace('"value": 0', '"value": NaN')
    async with raw_charger(app.ocpp_port, "ST-NAN", V201) as ws:
        answer = await send_raw(ws, frame)
    assert answer[:3] == [4, "n-1", "PropertyConstraintViolation"], answer
    assert answer[4] == {"field": "meterValue[0].sampledValue[0].value"}


async def test_a_flooding_2_0_1_station_never_harms_a_1_6_charger(app: App) -> None:
    async def vandal() -> None:
        for i in range(30):
            try:
                async with raw_charger(app.ocpp_port, "ST-VANDAL", V201, max_size=None) as ws:
                    await ws.send("garbage" if i % 3 else "[2," + "9" * 100000)
                    await ws.send(json.dumps([2, "x", "TransactionEvent", {**TX, "seqNo": "0"}]))
                    await ws.send(json.dumps([2, "y", "StatusNotification", {"evseId": 1}]))
                    for _ in range(20):
                        await ws.send(json.dumps([2, "z", "Heartbeat", {}]))
            except ConnectionClosed:
                pass

    async def good() -> list[list]:
        answers = []
        async with raw_charger(app.ocpp_port, "CP-GOOD16") as ws:
            boot = {"chargePointVendor": "V", "chargePointModel": "M"}
            answers.append(await call(ws, "BootNotification", boot))
            start = await call(
                ws,
                "StartTransaction",
                {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": NOW},
            )
            answers.append(start)
            for i in range(30):
                value = {"timestamp": NOW, "sampledValue": [{"value": str(100 * (i + 1))}]}
                payload = {
                    "connectorId": 1,
                    "transactionId": start[2]["transactionId"],
                    "meterValue": [value],
                }
                answers.append(await call(ws, "MeterValues", payload))
        return answers

    _, answers = await asyncio.gather(vandal(), good())
    assert all(a[0] == 3 for a in answers)
    assert db_rows(
        app.config.data_dir,
        "SELECT COUNT(*) FROM journal WHERE charger_id='CP-GOOD16' AND kind='meter'",
    ) == [(30,)]
    assert db_rows(
        app.config.data_dir,
        "SELECT COUNT(*) FROM journal WHERE charger_id='ST-VANDAL' "
        "AND kind NOT IN ('connected','disconnected','heartbeat')",
    ) == [(0,)]
    async with raw_charger(app.ocpp_port, "ST-AFTER", V201) as ws:  # the server still serves
        assert (await call(ws, "Heartbeat", {}))[0] == 3
