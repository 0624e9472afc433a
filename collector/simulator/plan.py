"""Pure, synchronous planner for one simulated charger.

The plan is the whole scenario as a lazy stream of `Step`s in simulated time (units of
one meter interval): boot, heartbeats, each connector's session cycles merged in time
order, and the connection faults (drops, boot loops) the connectors ask for. Because it
never touches a socket or the clock, the same (seed, charger index, options) always give
the same steps; the async executor in `charger.py` only performs them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus

from collector.simulator.connector import ConnectorPlan
from collector.simulator.options import FleetOptions
from collector.simulator.profiles import MODELS
from collector.simulator.steps import (
    BOOT_LOOP,
    CALL,
    CONNECT,
    DISCONNECT,
    DROP,
    NOTE,
    QUEUED_WHILE_OFFLINE,
    REQUEST_BOOT_LOOP,
    REQUEST_DROP,
    Step,
)

REBOOT = "reboot"


class ChargerPlan:
    """Deterministic scenario of one charger.

    `heartbeat_interval` (seconds) is the one input that comes from the central system (the
    BootNotification response); the executor sets it after booting and, since `steps()` is
    lazy, later ticks use it. Heartbeats are planned on the tick grid so they interleave
    with the other calls identically on every run.
    """

    def __init__(
        self,
        opts: FleetOptions,
        index: int,
        seed: int | None = None,
        heartbeat_interval: float | None = None,
    ) -> None:
        opts.validate()
        seed = opts.seed if seed is None else seed
        if seed is None:
            raise ValueError("a seed is required; run_fleet draws one when opts.seed is None")
        self.index = index
        self.interval = opts.meter_interval
        self.heartbeat_interval = heartbeat_interval
        rng = random.Random(f"{seed}:{index}")
        self.model = rng.choices(MODELS, weights=[m.weight for m in MODELS])[0]
        serial = f"{self.model.serial_prefix}-{rng.randint(0, 99_999_999):08d}"
        self.boot_data: dict[str, Any] = {
            "charge_point_vendor": self.model.vendor,
            "charge_point_model": self.model.model,
            "charge_point_serial_number": serial,
            "charge_box_serial_number": serial,
            "firmware_version": self.model.firmware,
            "meter_type": self.model.meter_type,
            "meter_serial_number": f"{rng.randint(10_000_000, 99_999_999)}",
        }
        self.ambient = rng.uniform(8.0, 28.0)
        self.connectors = [
            ConnectorPlan(
                seed, index, cid, self.model, self.ambient, opts.meter_interval, opts.faults
            )
            for cid in range(1, opts.connectors + 1)
        ]
        self._offline_until: int | None = None  # tick at which a planned drop reconnects
        self._queue: list[Step] = []  # transaction messages held while offline
        self._reboots: set[int] = set()  # ticks at which a boot loop restarts the charger
        self._last_heartbeat = 0
        self._last_due = 0.0

    @property
    def heartbeat_ticks(self) -> int:
        """Heartbeat period on the tick grid (0 = none until the central system says so)."""
        hb = self.heartbeat_interval
        if not hb or hb <= 0:
            return 0
        return max(1, math.ceil(hb / self.interval - 1e-9))

    def steps(self) -> Iterator[Step]:
        """The endless, lazy plan; every step's `due` is >= the previous one's."""
        yield from self._ordered(
            [Step(0.0, CONNECT, data={"reason": "start"}), self._boot(0.0), *self._statuses(0.1)]
        )
        tick = 0
        while True:
            yield from self._ordered(self._tick(tick))
            tick += 1

    def _ordered(self, steps: Iterable[Step]) -> Iterator[Step]:
        # Steps queued behind a reboot sequence may be planned a fraction earlier; nudge them
        # so timestamps never go back in time.
        for step in steps:
            if step.due < self._last_due:
                if step.send is None:
                    step = replace(step, at=self._last_due)
                else:
                    step = replace(step, send=self._last_due)
            self._last_due = step.due
            yield step

    def _tick(self, tick: int) -> list[Step]:
        out: list[Step] = []
        if self._offline_until is not None and tick >= self._offline_until:
            out += self._reconnect(tick)
        if tick in self._reboots:
            self._reboots.discard(tick)
            out += self._reboot(tick)
        period = self.heartbeat_ticks
        if self._offline_until is None and period and tick - self._last_heartbeat >= period:
            out.append(Step(float(tick), CALL, "Heartbeat"))
            self._last_heartbeat = tick
        planned = [step for conn in self.connectors for step in conn.advance(tick)]
        planned.sort(key=lambda step: step.at)  # stable: equal times keep connector order
        for step in planned:
            out += self._route(tick, step)
        return out

    def _route(self, tick: int, step: Step) -> list[Step]:
        """Apply connection-level requests and what being offline does to a step."""
        online = self._offline_until is None
        if step.op == REQUEST_DROP:
            if not online or self._reboots:
                return []  # already off the air: the request is moot
            ticks = int(step.data["ticks"])
            self._offline_until = tick + ticks
            note = self._note(step, DROP, offline_ticks=ticks)
            return [note, Step(step.at, DISCONNECT, data={"reason": DROP})]
        if step.op == REQUEST_BOOT_LOOP:
            if not online or self._reboots:
                return []
            count = int(step.data["count"])
            self._reboots = set(range(tick + 1, tick + 1 + count))
            return [self._note(step, BOOT_LOOP, reboots=count)]
        if online or step.op == NOTE:
            return [step]
        if step.op == CALL and step.action in QUEUED_WHILE_OFFLINE:
            self._queue.append(step)
        return []

    def _reconnect(self, tick: int) -> list[Step]:
        now = float(tick)
        out = [Step(now, CONNECT, data={"reason": DROP})]
        out += [replace(step, send=now) for step in self._queue]
        out += self._statuses(now)
        self._queue.clear()
        self._offline_until = None
        return out

    def _reboot(self, tick: int) -> list[Step]:
        """Restart: new connection and BootNotification, open sessions end (reason Reboot)."""
        out = [
            Step(float(tick), DISCONNECT, data={"reason": REBOOT}),
            Step(tick + 0.2, CONNECT, data={"reason": REBOOT}),
            self._boot(tick + 0.2),
        ]
        for conn in self.connectors:
            out += conn.reboot(tick)
        out += self._statuses(tick + 0.3)
        self._last_heartbeat = tick
        return out

    def _boot(self, at: float) -> Step:
        return Step(at, CALL, "BootNotification", 0, self.boot_data)

    def _statuses(self, at: float) -> list[Step]:
        """StatusNotification for connector 0 (the charger) and every connector, as now."""
        whole = {
            "connector_id": 0,
            "error_code": ChargePointErrorCode.no_error,
            "status": ChargePointStatus.available,
        }
        out = [Step(at, CALL, "StatusNotification", 0, whole)]
        out += [
            Step(at, CALL, "StatusNotification", conn.id, dict(conn.status_data))
            for conn in self.connectors
        ]
        return out

    @staticmethod
    def _note(request: Step, kind: str, **details: Any) -> Step:
        data = {"kind": kind, "connector": request.connector, **details}
        return Step(request.at, NOTE, "fault", request.connector, data)


def plan_steps(
    opts: FleetOptions,
    index: int,
    ticks: float,
    seed: int | None = None,
    heartbeat_interval: float | None = None,
) -> list[Step]:
    """The plan of one charger up to simulated time `ticks` (for tests and inspection)."""
    out: list[Step] = []
    for step in ChargerPlan(opts, index, seed, heartbeat_interval).steps():
        if step.due >= ticks:
            return out
        out.append(step)
    return out  # pragma: no cover - steps() is endless
