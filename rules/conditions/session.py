"""Conditions on a connector's session: too long, idle after charging, no power, no energy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chargewatch import events as ev
from chargewatch.alerts import Key
from rules.conditions.base import INACTIVE, Condition, Context, Params, Verdict, resolve
from rules.facts import ENERGY, IDLE_STATUSES, POWER, REGISTER_TOLERANCE_WH
from rules.schema import SessionSpec


class SessionCondition(Condition):
    details = ("session_id", "id_tag", "energy_wh", "duration_s", "idle_s", "samples")

    def __init__(self, rule: int, scope: str, ctx: Context, spec: SessionSpec) -> None:
        super().__init__(rule, scope, ctx)
        self.spec = spec
        if spec.longer_than is not None:
            self.check, self.kinds = self._longer, frozenset({"session_started", "session_stopped"})
        elif spec.idle_for is not None:
            self.check, self.kinds = self._idle, frozenset({"status"})
        elif spec.zero_power_samples is not None:
            self.check, self.kinds = self._zero_power, frozenset({"meter", "status"})
        else:
            self.check = self._low_energy
            self.kinds = frozenset({"meter", "session_started", "session_stopped"})
        # zero power: consecutive flat samples while Charging, and the register they saw
        self.flat: dict[Key, list[Any]] = {}

    def observe_event(self, e: ev.Event, now: float) -> Iterable[Key]:
        if e.kind == "session_stopped":
            charger = self.ctx.facts.chargers.get(e.charger_id)
            # facts already closed it; the stop names its connector (0 if the start was lost)
            connector = getattr(e, "connector_id", 0)
            if connector == 0 and charger is not None:
                return [(e.charger_id, c) for c in charger.connectors]
            return ((e.charger_id, connector),)
        key: Key = (e.charger_id, e.connector_id)  # type: ignore[attr-defined]
        if self.spec.zero_power_samples is not None:
            self._track_flat(key, e)
        return (key,)

    def _connector(self, key: Key):
        charger = self.ctx.facts.chargers.get(key[0])
        return None if charger is None else charger.connectors.get(key[1])

    def evaluate(self, key: Key, now: float, params: Params) -> Verdict:
        c = self._connector(key)
        return INACTIVE if c is None else self.check(key, c, now, params)

    # ---- the checks --------------------------------------------------------------------
    def _session_details(self, c: Any, now: float) -> dict[str, Any]:
        energy = None
        if c.register_wh is not None and c.meter_start_wh is not None:
            energy = max(0.0, c.register_wh - c.meter_start_wh)
        started = c.session_started
        return {
            "session_id": c.session_id or "",
            "id_tag": c.id_tag or "",
            "energy_wh": "" if energy is None else round(energy),
            "duration_s": "" if started is None else round(now - started),
        }

    def _longer(self, key: Key, c: Any, now: float, params: Params) -> Verdict:
        if c.session_started is None:
            return INACTIVE
        limit = c.session_started + resolve(self.spec.longer_than, params)
        if now < limit:
            return Verdict(False, recheck=limit)
        return Verdict(True, now - c.session_started, self._session_details(c, now))

    def _idle(self, key: Key, c: Any, now: float, params: Params) -> Verdict:
        if c.idle_since is None or c.status not in IDLE_STATUSES:
            return INACTIVE
        limit = c.idle_since + resolve(self.spec.idle_for, params)
        if now < limit:
            return Verdict(False, recheck=limit)
        details = {**self._session_details(c, now), "idle_s": round(now - c.idle_since)}
        return Verdict(True, now - c.idle_since, details)

    def _low_energy(self, key: Key, c: Any, now: float, params: Params) -> Verdict:
        if c.session_started is None or c.meter_start_wh is None or c.register_wh is None:
            return INACTIVE
        due = c.session_started + resolve(self.spec.after, params)
        if now < due:
            return Verdict(False, recheck=due)
        energy = c.register_wh - c.meter_start_wh
        if energy >= resolve(self.spec.energy_below_wh, params):
            return INACTIVE
        return Verdict(True, energy, self._session_details(c, now))

    def _zero_power(self, key: Key, c: Any, now: float, params: Params) -> Verdict:
        flat = self.flat.get(key)
        if flat is None or c.status != "Charging":
            return INACTIVE
        if flat[0] < resolve(self.spec.zero_power_samples, params):
            return INACTIVE
        details = {**self._session_details(c, now), "samples": flat[0]}
        return Verdict(True, flat[0], details)

    def _track_flat(self, key: Key, e: ev.Event) -> None:
        """Count MeterValues in a row with power ~0 and the register not moving."""
        c = self._connector(key)
        if c is None or c.status != "Charging":
            self.flat.pop(key, None)
            return
        if e.kind != "meter":
            return
        power = register = None
        for s in e.samples:  # type: ignore[attr-defined]
            if s.value is None or s.phase is not None:
                continue
            if s.measurand == POWER:
                power = s.value
            elif s.measurand == ENERGY and s.location in (None, "Outlet"):
                register = s.value
        if power is None and register is None:
            return  # nothing to judge by (e.g. only SoC)
        below = resolve(self.spec.power_below_w, self.ctx.params(self.rule, key))
        count, last_register = self.flat.get(key, (0, None))
        moved = (
            register is not None
            and last_register is not None
            and abs(register - last_register) > REGISTER_TOLERANCE_WH
        )
        if power is not None:
            zero = power <= below and not moved
        else:  # judged by the register alone: flat against a previous reading
            zero = last_register is not None and not moved
        self.flat[key] = [
            count + 1 if zero else 0,
            register if register is not None else last_register,
        ]

    def forget(self, key: Key) -> None:
        if key in self.flat and not self.flat[key][0]:
            del self.flat[key]

    def dump(self) -> Any:
        return [[list(k), v] for k, v in self.flat.items()]

    def load(self, data: Any) -> None:
        for key, value in data or []:
            self.flat[tuple(key)] = value
