"""The charger side of one OCPP-J 1.6 WebSocket, built on the `ocpp` library.

Separated from the executor so the connection mechanics (open, race a call against the
reader, close abruptly or cleanly) stay small and readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, ConfigurationStatus, RemoteStartStopStatus, ResetStatus
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

WIRE_LOG = logging.getLogger("collector.simulator.wire")  # every frame, at INFO (ocpp's habit)
RESPONSE_TIMEOUT = 30  # seconds to wait for a CallResult


class ConnectionLost(Exception):
    """The WebSocket went away while a call was outstanding."""


class ChargerHooks(Protocol):
    """What the connection needs from its charger to answer central-system calls."""

    id: str

    def configuration(self) -> dict[str, str]: ...

    def request_reset(self) -> None: ...


class SimChargePoint(ChargePoint):
    """`ocpp.v16.ChargePoint` for the charger; answers the few CSMS-initiated calls honestly."""

    def __init__(self, charger: ChargerHooks, connection: ClientConnection) -> None:
        super().__init__(charger.id, connection, response_timeout=RESPONSE_TIMEOUT, logger=WIRE_LOG)
        self._charger = charger

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any):
        known = self._charger.configuration()
        keys = key or list(known)
        found = [{"key": k, "readonly": True, "value": known[k]} for k in keys if k in known]
        unknown = [k for k in keys if k not in known]
        return call_result.GetConfiguration(configuration_key=found, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, **_: Any):
        # The scenario is planned up front; changing it remotely would break determinism.
        return call_result.ChangeConfiguration(status=ConfigurationStatus.rejected)

    @on(Action.remote_start_transaction)
    def on_remote_start(self, **_: Any):
        return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.rejected)

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, **_: Any):
        return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.rejected)

    @on(Action.reset)
    def on_reset(self, **_: Any):
        return call_result.Reset(status=ResetStatus.accepted)

    @after(Action.reset)
    def after_reset(self, **_: Any) -> None:
        self._charger.request_reset()  # runs after the response went out


def _consume(task: asyncio.Task[Any]) -> None:
    """Retrieve a finished reader's exception so asyncio does not log it as unhandled."""
    if not task.cancelled():
        task.exception()


@dataclass(slots=True)
class Link:
    """One open connection: the socket, its ChargePoint and the task reading responses."""

    ws: ClientConnection
    cp: Any  # an ocpp ChargePoint of the link's version (SimChargePoint for 1.6)
    reader: asyncio.Task[None]

    @classmethod
    async def open(
        cls,
        url: str,
        charger: ChargerHooks,
        subprotocol: str = "ocpp1.6",
        cp_class: Callable[[Any, ClientConnection], Any] | None = None,
        **security: Any,  # collector/simulator/security.py: Basic auth header, TLS
    ) -> Link:
        ws = await connect(
            url,
            subprotocols=[Subprotocol(subprotocol)],
            compression=None,
            open_timeout=10,
            close_timeout=2,
            **security,
        )
        cp = (cp_class or SimChargePoint)(charger, ws)
        reader = asyncio.create_task(cp.start(), name=f"{charger.id}-recv")
        reader.add_done_callback(_consume)
        return cls(ws, cp, reader)

    async def call(self, payload: Any) -> Any:
        """`cp.call` raced against the reader, so a dead socket fails fast, not after 30 s.

        CallErrors raise the matching `OCPPError` (suppress=False) so they can be counted.
        """
        task = asyncio.ensure_future(self.cp.call(payload, suppress=False))
        try:
            done, _ = await asyncio.wait({task, self.reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
        if task not in done:
            raise ConnectionLost
        try:
            return task.result()
        except (ConnectionClosed, OSError) as exc:
            raise ConnectionLost from exc

    async def close(self, abrupt: bool) -> None:
        """Abruptly (TCP abort, as a crash or a cut cable would) or with a close handshake."""
        if abrupt:
            self.ws.transport.abort()
        else:
            with contextlib.suppress(Exception):
                await self.ws.close()
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)
