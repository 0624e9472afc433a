"""The chargers of bench/notify.py: raw-WebSocket OCPP 1.6 clients (`websockets`, subprotocol
ocpp1.6, no compression), one call at a time per connection, every CallResult checked.
Connecting is gated and bounded; closing is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

CONNECT_TIMEOUT_S = 30.0  # all chargers connected and booted
CALL_TIMEOUT_S = 10.0  # one OCPP call until its answer
CLOSE_TIMEOUT_S = 10.0  # all connections closed
CONNECT_GATE = 20  # chargers connecting at the same time


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Charger:
    """One raw-WebSocket OCPP 1.6 charger; one call at a time on its connection."""

    def __init__(self, ws: ClientConnection, charger_id: str) -> None:
        self.ws, self.id = ws, charger_id
        self.lock = asyncio.Lock()
        self._n = 0

    async def call(self, action: str, payload: dict[str, Any], before: Callable[[], None]) -> None:
        """Send a Call (running `before()` just before the send) and check its CallResult."""
        async with self.lock:
            self._n += 1
            mid = f"{self.id}-{self._n}"
            frame = json.dumps([2, mid, action, payload])
            before()
            await self.ws.send(frame)
            answer = json.loads(await asyncio.wait_for(self.ws.recv(), CALL_TIMEOUT_S))
        if answer[:2] != [3, mid]:
            raise RuntimeError(f"{self.id}: {action} answered {str(answer)[:200]}")


async def open_charger(port: int, charger_id: str, gate: asyncio.Semaphore) -> Charger:
    """Connect, BootNotification, then Available on both connectors (as a charger boots)."""
    async with gate:
        ws = await connect(
            f"ws://127.0.0.1:{port}/ocpp/{charger_id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            compression=None,
            open_timeout=CONNECT_TIMEOUT_S,
        )
    charger = Charger(ws, charger_id)
    boot = {"chargePointVendor": "Acme", "chargePointModel": "DC50"}
    await charger.call("BootNotification", boot, lambda: None)
    for connector in (1, 2):
        status = {"connectorId": connector, "errorCode": "NoError", "status": "Available"}
        await charger.call("StatusNotification", {**status, "timestamp": iso_now()}, lambda: None)
    return charger


def fault(connector: int, error_code: str) -> dict[str, Any]:
    """A StatusNotification Faulted payload, stamped now."""
    return {
        "connectorId": connector,
        "errorCode": error_code,
        "status": "Faulted",
        "timestamp": iso_now(),
    }


async def connect_all(port: int, ids: list[str]) -> dict[str, Charger]:
    gate = asyncio.Semaphore(CONNECT_GATE)
    async with asyncio.timeout(CONNECT_TIMEOUT_S):
        opened = await asyncio.gather(*(open_charger(port, cid, gate) for cid in ids))
    return {c.id: c for c in opened}


async def close_all(chargers: dict[str, Charger]) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await asyncio.gather(*(c.ws.close() for c in chargers.values()), return_exceptions=True)
