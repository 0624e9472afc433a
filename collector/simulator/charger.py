"""Async executor: performs one charger's plan over a real OCPP-J 1.6 WebSocket.

All decisions live in the plan; this module only sleeps until each step is due, sends it
through an `ocpp.v16.ChargePoint`, and copes with what the network does (failed connects,
dropped links) without changing the planned sequence: a lost call is retried after the
reconnect, so the central system still sees the plan in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus
from websockets.exceptions import WebSocketException

from collector.simulator.client import ConnectionLost, Link
from collector.simulator.options import FleetOptions, FleetStats
from collector.simulator.plan import ChargerPlan
from collector.simulator.security import connect_kwargs
from collector.simulator.steps import (
    CALL,
    CONNECT,
    DISCONNECT,
    NOTE,
    SessionRef,
    Step,
    build_call,
    iso_timestamp,
)

LOG = logging.getLogger("collector.simulator")

EventHook = Callable[[str, str, dict[str, Any]], None]

BACKOFF_INITIAL = 0.5  # seconds before the first reconnect attempt
BACKOFF_MAX = 30.0
CALL_ERRORS = (OCPPError, UnknownCallErrorCodeError)


def _id_tag_status(result: Any) -> str | None:
    info = getattr(result, "id_tag_info", None)
    if isinstance(info, Mapping):
        return info.get("status")
    return getattr(info, "status", None)


class SimulatedCharger:
    """One charger: its plan, its connection, and the bookkeeping the plan cannot know."""

    def __init__(
        self,
        opts: FleetOptions,
        index: int,
        seed: int,
        stats: FleetStats,
        on_event: EventHook | None = None,
    ) -> None:
        self.id = opts.charger_id(index)
        self.url = f"{opts.url.rstrip('/')}/{self.id}"
        self.security = connect_kwargs(opts, self.id)  # how it signs in (security profiles)
        self.plan = ChargerPlan(opts, index, seed)
        self.interval = opts.meter_interval
        self.ticks = opts.ticks
        self.stats = stats
        self._on_event = on_event
        self._jitter = random.Random(f"{seed}:{index}:backoff")  # timing only, never content
        self.link: Link | None = None
        self.booted = False
        self._ever_connected = False
        self._txn: dict[SessionRef, int] = {}  # planner session -> central system's id
        self._aborted: set[SessionRef] = set()  # sessions refused by the central system
        self._last_status: dict[int, Mapping[str, Any]] = {}
        self._reset_requested = False
        self._wake = asyncio.Event()

    def configuration(self) -> dict[str, str]:
        return {
            "HeartbeatInterval": str(int(self.plan.heartbeat_interval or 0)),
            "MeterValueSampleInterval": str(round(self.interval)),
            "NumberOfConnectors": str(len(self.plan.connectors)),
        }

    def request_reset(self) -> None:
        self._reset_requested = True
        self._wake.set()

    def _event(self, kind: str, /, **details: Any) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(self.id, kind, details)
        except Exception:
            LOG.exception("on_event hook failed for %s %s", self.id, kind)

    async def run(self) -> None:
        """Perform the plan until cancelled; always leaves the socket closed."""
        loop = asyncio.get_running_loop()
        start, wall_start = loop.time(), time.time()
        try:
            for step in self._steps():
                if self.ticks is not None and step.due >= self.ticks:
                    break
                await self._sleep_until(start + step.due * self.interval)
                if self._reset_requested:
                    await self._reset_now()
                try:
                    await self._execute(step, iso_timestamp(wall_start + step.at * self.interval))
                except Exception:
                    self.stats.errors += 1
                    LOG.exception("%s: step %s %s failed", self.id, step.op, step.action)
        finally:
            await self._disconnect(abrupt=False)

    async def _sleep_until(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while (remaining := deadline - loop.time()) > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)
            if self._reset_requested:
                await self._reset_now()
            if self.link is not None and self.link.reader.done():
                # The central system (or the network) closed the socket while we were idle.
                await self._disconnect(abrupt=True)
                self._event("disconnected", reason="lost")
                await self._recover()

    async def _execute(self, step: Step, timestamp: str) -> None:
        if step.session is not None and step.session in self._aborted:
            return
        if step.op == CALL:
            await self._send(step, timestamp)
        elif step.op == CONNECT:
            await self._disconnect(abrupt=True)
            await self._connect()
            self._event("connected", reason=step.data.get("reason"))
        elif step.op == DISCONNECT:
            await self._disconnect(abrupt=True)
            self._event("disconnected", reason=step.data.get("reason"))
        elif step.op == NOTE:
            self.stats.faults[step.data["kind"]] += 1
            self._event(step.action, **step.data)

    # -- what a protocol version changes (charger_v201.py overrides these) --------------
    def _steps(self) -> Iterator[Step]:
        return self.plan.steps()

    async def _open_link(self) -> Link:
        return await Link.open(self.url, self, **self.security)

    def _payload(self, step: Step, timestamp: str) -> Any:
        txn = self._txn.get(step.session) if step.session is not None else None
        return build_call(step, timestamp, txn)

    def _boot_steps(self, reason: str) -> list[Step]:
        """The calls of a boot the plan did not foresee (a Reset the central system asked for)."""
        return [Step(0.0, CALL, "BootNotification", 0, self.plan.boot_data)]

    def _starts_session(self, step: Step) -> bool:
        """A call whose failure means the session never began."""
        return step.action in ("Authorize", "StartTransaction")

    # -- connection ---------------------------------------------------------------------
    async def _connect(self) -> None:
        """Open the WebSocket, retrying with jittered exponential backoff until it works."""
        delay = BACKOFF_INITIAL
        while True:
            try:
                self.link = await self._open_link()
                self.link.reader.add_done_callback(lambda _: self._wake.set())
                break
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.stats.connect_failures += 1
                self._event("connect_failed", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay * (0.5 + self._jitter.random()))
                delay = min(delay * 2, BACKOFF_MAX)
        self.stats.connected += 1
        if self._ever_connected:
            self.stats.reconnects += 1
        self._ever_connected = True

    async def _disconnect(self, abrupt: bool) -> None:
        """Close the link: abruptly (TCP abort, as a crash or cut cable would) or cleanly."""
        link, self.link = self.link, None
        if link is None:
            return
        self.stats.connected -= 1
        await link.close(abrupt)

    async def _recover(self) -> None:
        """Unplanned loss: reconnect with backoff and tell the central system where we are."""
        await asyncio.sleep(BACKOFF_INITIAL * (0.5 + self._jitter.random()))
        while True:
            await self._connect()
            self._event("connected", reason="recovered")
            try:
                await self._resend_statuses()
                return
            except ConnectionLost:
                await self._disconnect(abrupt=True)

    async def _reset_now(self) -> None:
        """Central system asked for a Reset: reconnect and boot again (sessions carry on)."""
        self._reset_requested = False
        await self._disconnect(abrupt=False)
        self._event("disconnected", reason="reset")
        self.booted = False
        ts = iso_timestamp(time.time())
        for step in self._boot_steps("RemoteReset"):
            await self._send(step, ts)
        await self._resend_statuses()

    async def _resend_statuses(self) -> None:
        if not self.booted:
            return  # the planned BootNotification comes next anyway
        ts = iso_timestamp(time.time())
        for connector, data in sorted(self._last_status.items()):
            step = Step(0.0, CALL, "StatusNotification", connector, data)
            await self._call_counted(step.action, self._payload(step, ts))

    # -- calls --------------------------------------------------------------------------
    async def _call_counted(self, action: str, payload: Any) -> Any | None:
        """Send one call; None when the central system answered with a CallError or not at all."""
        try:
            if self.link is None:
                raise ConnectionLost
            result = await self.link.call(payload)
        except CALL_ERRORS as exc:
            self.stats.calls[action] += 1
            self.stats.call_errors[action] += 1
            code = getattr(exc, "code", type(exc).__name__)
            self._event("call_error", action=action, code=code, description=str(exc))
            return None
        except TimeoutError:
            self.stats.calls[action] += 1
            self.stats.timeouts += 1
            self._event("timeout", action=action)
            return None
        self.stats.calls[action] += 1
        return result

    async def _send(self, step: Step, timestamp: str) -> None:
        if step.action == "StatusNotification":
            self._last_status[step.connector] = step.data
        while True:
            if self.link is None:
                await self._recover()
            payload = self._payload(step, timestamp)
            try:
                result = await self._call_counted(step.action, payload)
            except ConnectionLost:
                await self._disconnect(abrupt=True)
                self._event("disconnected", reason="lost")
                continue  # retry the same call once reconnected
            if result is None:
                if self._starts_session(step) and step.session:
                    self._abort(step)
                return
            if step.action == "BootNotification" and result.status != RegistrationStatus.accepted:
                # Pending/Rejected: only BootNotification may be sent until accepted.
                self._event("boot", status=result.status, interval=result.interval)
                await asyncio.sleep(min(max(float(result.interval), 1.0), 60.0))
                continue
            self._on_result(step, result)
            return

    def _abort(self, step: Step) -> None:
        assert step.session is not None
        self._aborted.add(step.session)
        self._event("session_aborted", connector=step.connector, action=step.action)

    def _on_result(self, step: Step, result: Any) -> None:
        action = step.action
        if action == "BootNotification":
            self.booted = True
            if result.interval > 0:
                self.plan.heartbeat_interval = float(result.interval)
            self._event("boot", status=result.status, interval=result.interval)
        elif action == "Authorize" and step.session is not None:
            if _id_tag_status(result) != AuthorizationStatus.accepted:
                self._abort(step)
        elif action == "StartTransaction" and step.session is not None:
            self._txn[step.session] = result.transaction_id
            self.stats.sessions_started += 1
            self._event(
                "session_started",
                connector=step.connector,
                transaction_id=result.transaction_id,
                id_tag=step.data.get("id_tag"),
            )
        elif action == "StopTransaction" and step.session is not None:
            transaction_id = self._txn.pop(step.session, None)
            self.stats.sessions_completed += 1
            self._event(
                "session_completed",
                connector=step.connector,
                transaction_id=transaction_id,
                meter_stop=step.data.get("meter_stop"),
                reason=step.data.get("reason"),
            )
