"""The session-cycle script of one connector, written as a generator of plan ticks.

A connector is a small state machine that is easiest to read as a story: idle, plug in,
authorise, charge, maybe fault, stop, unplug. The generator yields the steps of one tick
(one meter interval) per `next()`; every decision comes from the connector's own
`random.Random`, so its script depends only on (seed, charger index, connector id, options).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ocpp.v16.enums import ChargePointErrorCode as Err
from ocpp.v16.enums import ChargePointStatus as St
from ocpp.v16.enums import ReadingContext, Reason

from collector.simulator import meter
from collector.simulator.profiles import (
    DC,
    ID_TAGS,
    VEHICLES,
    ChargerModel,
    Vehicle,
    overheat_code,
    pick_fault_code,
)
from collector.simulator.steps import (
    BOOT_LOOP,
    CALL,
    DROP,
    ENERGY_BACKWARDS,
    FAULT_KINDS,
    FAULT_WEIGHTS,
    FAULTED,
    NOTE,
    OVERHEAT,
    REQUEST_BOOT_LOOP,
    REQUEST_DROP,
    ZERO_POWER,
    SessionRef,
    Step,
)

OVERHEAT_LIMIT_C = 80.0  # body temperature at which the simulated charger trips


class Rebooted(Exception):
    """Thrown into a connector script when its charger reboots: the open session is lost."""


@dataclass(slots=True)
class _Session:
    ref: SessionRef
    id_tag: str
    vehicle: Vehicle
    soc: float
    target: float


class ConnectorPlan:
    """Deterministic scenario of one connector; `advance(tick)` returns that tick's steps."""

    def __init__(
        self,
        seed: int,
        charger_index: int,
        connector_id: int,
        model: ChargerModel,
        ambient: float,
        meter_interval: float,
        faults: float,
    ) -> None:
        self.rng = random.Random(f"{seed}:{charger_index}:{connector_id}")
        self.id = connector_id
        self.model = model
        self.ambient = ambient
        self.interval = meter_interval
        self.faults = faults
        # A meter that has been in service for a while: the register starts somewhere real.
        self.register_wh = float(self.rng.randint(50_000, 5_000_000))
        self.last_reported = int(self.register_wh)
        self.temperature = ambient
        self.status_data: dict[str, Any] = self._status_data(St.available)
        self.now = 0
        self.sessions = 0
        self._session: _Session | None = None
        self._out: list[Step] = []
        self._script = self._run()

    # -- driven by ChargerPlan ------------------------------------------------------------
    def advance(self, tick: int) -> list[Step]:
        self.now = tick
        return next(self._script)

    def reboot(self, tick: int) -> list[Step]:
        """The charger restarted: end any open session (StopTransaction reason Reboot)."""
        self.now = tick
        return self._script.throw(Rebooted())

    # -- emission helpers ---------------------------------------------------------------
    def _take(self) -> list[Step]:
        out, self._out = self._out, []
        return out

    def _emit(self, frac: float, op: str, action: str = "", data: Any = None, session=None):
        self._out.append(Step(self.now + frac, op, action, self.id, data or {}, session))

    def _call(self, frac: float, action: str, data: dict, session: SessionRef | None = None):
        self._emit(frac, CALL, action, data, session)

    def _note(self, frac: float, kind: str, session: SessionRef | None = None, **details: Any):
        self._emit(frac, NOTE, "fault", {"kind": kind, "connector": self.id, **details}, session)

    def _status_data(self, status: str, error_code: str = Err.no_error, **extra: Any) -> dict:
        return {"connector_id": self.id, "error_code": error_code, "status": status, **extra}

    def _status(self, frac: float, status: str, session: SessionRef | None = None, **extra: Any):
        self.status_data = self._status_data(status, **extra)
        self._call(frac, "StatusNotification", self.status_data, session)

    def _idle(self, ticks: int) -> Iterator[list[Step]]:
        for _ in range(ticks):
            yield self._take()

    # -- the script ---------------------------------------------------------------------
    def _run(self) -> Iterator[list[Step]]:
        while True:
            try:
                yield from self._cycle()
            except Rebooted:
                self._stop(0.3, Reason.reboot)
                self.status_data = self._status_data(St.available)
                yield self._take()

    def _roll_fault(self) -> str | None:
        if self.faults > 0 and self.rng.random() < self.faults:
            return self.rng.choices(FAULT_KINDS, FAULT_WEIGHTS)[0]
        return None

    def _cycle(self) -> Iterator[list[Step]]:
        rng = self.rng
        fault = self._roll_fault()
        idle = rng.randint(1, 6)
        if fault == BOOT_LOOP:
            self._emit(0.5, REQUEST_BOOT_LOOP, data={"count": rng.randint(3, 5)})
        if fault == FAULTED and rng.random() < 0.5:
            # Half the plain faults hit an idle bay: out of service without a session.
            yield from self._idle(idle)
            code = pick_fault_code(self.rng, self.model)
            self._note(0.5, FAULTED, **code)
            yield from self._fault_out(0.5, code)
            return
        yield from self._idle(idle)
        yield from self._charge(fault)

    def _charge(self, fault: str | None) -> Iterator[list[Step]]:
        rng, model = self.rng, self.model
        self.sessions += 1
        ref = (self.id, self.sessions)
        vehicle = rng.choice(VEHICLES)
        soc = rng.uniform(8.0, 85.0)
        target = max(rng.choice((80.0, 90.0, 100.0)), min(100.0, soc + 10.0))
        tag = rng.choice(ID_TAGS)
        samples = rng.randint(6, 24)
        inject_at = rng.randint(1, samples - 2) if fault not in (None, BOOT_LOOP) else -1
        zero_len = rng.randint(4, 8) if fault == ZERO_POWER else 0
        cooled = self.ambient + (self.temperature - self.ambient) * 0.3
        self.temperature = cooled

        self._status(0.0, St.preparing)
        self._call(0.2, "Authorize", {"id_tag": tag}, ref)
        start = {"connector_id": self.id, "id_tag": tag, "meter_start": int(self.register_wh)}
        self._call(0.4, "StartTransaction", start, ref)
        self._status(0.5, St.charging, ref)
        self._session = session = _Session(ref, tag, vehicle, soc, target)
        yield self._take()

        pending = inject_at >= 0  # a planned fault must happen before the session may end
        suspended = 0  # SuspendedEV samples left before the driver stops
        i = 0
        while True:
            zero = fault == ZERO_POWER and inject_at <= i < inject_at + zero_len
            if zero and i == inject_at:
                self._note(0.0, ZERO_POWER, ref, samples=zero_len)
            if zero or suspended:
                power = 0.0
            else:
                ramp = 0.5 if i == 0 and model.current == DC else 1.0
                power = meter.charge_power_w(model, vehicle, session.soc) * ramp
                power *= rng.uniform(0.97, 1.0)
            energy = power * self.interval / 3600.0  # simulated time, not the wall clock
            self.register_wh += energy
            session.soc = min(100.0, session.soc + energy / 10.0 / vehicle.capacity_kwh)
            if fault == OVERHEAT and i >= inject_at:
                if i == inject_at:
                    self._note(0.0, OVERHEAT, limit_c=OVERHEAT_LIMIT_C)
                self.temperature += rng.uniform(6.0, 10.0)
            else:
                load = power / (model.max_kw * 1000.0)
                self.temperature = meter.next_temperature(self.temperature, self.ambient, load, rng)
            reported = int(self.register_wh)
            if fault == ENERGY_BACKWARDS and i == inject_at:
                reported = self._go_backwards(ref, reported)
            voltages = meter.grid_voltages(rng)
            reading = meter.Reading(
                energy_wh=reported,
                power_w=power,
                currents=meter.phase_currents(model, vehicle, power, voltages),
                voltages=voltages,
                soc=session.soc,
                temperature=self.temperature,
            )
            values = meter.sampled_values(model, reading)
            data = {"connector_id": self.id, "meter_value": [{"sampled_value": values}]}
            self._call(0.0, "MeterValues", data, ref)
            self.last_reported = reported

            if fault == OVERHEAT and self.temperature > OVERHEAT_LIMIT_C:
                yield from self._fault_out(0.5, overheat_code(self.rng, self.temperature))
                return
            if fault == FAULTED and i == inject_at:
                code = pick_fault_code(self.rng, self.model)
                self._note(0.5, FAULTED, **code)
                yield from self._fault_out(0.5, code)
                return
            if fault == DROP and i == inject_at:
                self._emit(0.7, REQUEST_DROP, data={"ticks": rng.randint(2, 5)})
                pending = False
            if fault in (ZERO_POWER, ENERGY_BACKWARDS) and i >= inject_at + zero_len:
                pending = False
            i += 1
            done = False
            if suspended:
                suspended -= 1
                done = suspended == 0
            elif not pending and (session.soc >= session.target or i >= samples):
                if session.soc >= session.target or rng.random() < 0.2:
                    suspended = rng.randint(1, 3)  # EV stopped drawing, driver not back yet
                    self._status(0.5, St.suspended_ev, ref)
                else:
                    done = True
            yield self._take()
            if done:
                break

        self._stop(0.0, rng.choice((Reason.local, Reason.ev_disconnected)))
        self._status(0.1, St.finishing, ref)
        yield self._take()
        yield from self._idle(rng.randint(0, 2))
        self._status(0.5, St.available)
        yield self._take()

    def _go_backwards(self, ref: SessionRef, reported: int) -> int:
        """Make this one sample lower than the previous: a meter reset or a bad reading."""
        previous = self.last_reported
        if previous < 1:
            return reported  # nothing to go back from; the fault is not injected
        if self.rng.random() < 0.5:
            self.register_wh = 0.0  # meter replaced/reset: the register restarts at zero
            value, variant = 0, "reset"
        else:
            value = previous - self.rng.randint(1, min(previous, 50_000))
            variant = "glitch"  # one bad reading, the register itself is fine
        self._note(0.0, ENERGY_BACKWARDS, ref, variant=variant, previous=previous, value=value)
        return value

    def _stop(self, frac: float, reason: str) -> None:
        """StopTransaction for the open session, if any, with a final Transaction.End sample."""
        session = self._session
        if session is None:
            return
        meter_stop = int(self.register_wh)
        end = meter.energy_sample(self.model, meter_stop, ReadingContext.transaction_end)
        data = {
            "meter_stop": meter_stop,
            "reason": reason,
            "id_tag": session.id_tag,
            "transaction_data": [{"sampled_value": [end]}],
        }
        self._call(frac, "StopTransaction", data, session.ref)
        self.last_reported = meter_stop
        self._session = None

    def _fault_out(self, frac: float, code: dict[str, Any]) -> Iterator[list[Step]]:
        """Faulted (ending any session), out of service a few intervals, then Available."""
        self._status(frac, St.faulted, **code)
        self._stop(frac + 0.1, Reason.other)
        yield self._take()
        yield from self._idle(self.rng.randint(1, 5))
        self._status(0.5, St.available)
        yield self._take()
