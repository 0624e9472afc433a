"""OCPP 2.0.1 chargers for tests: the `ocpp` library's v201 client over a real WebSocket.

The library validates every request it sends and every answer it gets against the 2.0.1
schemas, so a test passing through it proves our answers are what the spec allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from helpers import db_rows, ocpp_url
from ocpp.v201 import ChargePoint
from ocpp.v201 import call as c201
from websockets.asyncio.client import connect

from chargewatch.app import App

SUBPROTOCOL = "ocpp2.0.1"
STATION = {"vendorName": "Kempower", "model": "S-Series"}


class LibStation(ChargePoint):
    """A charging station driven by the `ocpp` library (it validates both directions)."""

    async def send(self, payload: Any) -> Any:
        """A call whose CallError raises (the library would otherwise return None)."""
        return await self.call(payload, suppress=False)


@contextlib.asynccontextmanager
async def lib_station(
    port: int, charger_id: str, subprotocols: tuple[str, ...] = (SUBPROTOCOL,)
) -> AsyncIterator[LibStation]:
    async with connect(
        ocpp_url(port, charger_id), subprotocols=list(subprotocols), compression=None
    ) as ws:
        cp = LibStation(charger_id, ws)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def tx_event(
    event_type: str,
    seq_no: int,
    transaction_id: str,
    timestamp: str,
    trigger: str = "MeterValuePeriodic",
    charging_state: str | None = None,
    meter: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> c201.TransactionEvent:
    info: dict[str, Any] = {"transactionId": transaction_id}
    if charging_state is not None:
        info["chargingState"] = charging_state
    if "stopped_reason" in extra:
        info["stoppedReason"] = extra.pop("stopped_reason")
    return c201.TransactionEvent(
        event_type=event_type,
        timestamp=timestamp,
        trigger_reason=trigger,
        seq_no=seq_no,
        transaction_info=info,
        meter_value=meter,
        **extra,
    )


def energy(timestamp: str, wh: float, context: str = "Sample.Periodic", **uom: Any) -> dict:
    """One meter value holding the energy register (`uom`: its unitOfMeasure)."""
    sampled: dict[str, Any] = {"value": wh, "context": context}
    if uom:
        sampled["unitOfMeasure"] = uom
    return {"timestamp": timestamp, "sampledValue": [sampled]}


T0 = "2026-11-22T10:00:00Z"


def at(minute: int, second: int = 0) -> str:
    return f"2026-11-22T10:{minute:02d}:{second:02d}Z"


def status_rows(app: App, charger_id: str) -> list[tuple]:
    return db_rows(
        app.config.data_dir,
        "SELECT connector_id, status, error_code, vendor_id, vendor_error_code, fault_category "
        "FROM status_history WHERE charger_id=? ORDER BY rowid",
        (charger_id,),
    )


def journal(app: App, charger_id: str, kind: str) -> list[dict]:
    rows = db_rows(
        app.config.data_dir,
        "SELECT data FROM journal WHERE charger_id=? AND kind=? ORDER BY seq",
        (charger_id, kind),
    )
    return [json.loads(d) for (d,) in rows]


def status(evse: int, connector_status: str, ts: str = T0) -> c201.StatusNotification:
    return c201.StatusNotification(
        timestamp=ts, connector_status=connector_status, evse_id=evse, connector_id=1
    )
