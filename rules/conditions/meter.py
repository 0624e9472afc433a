"""A measurand compared with a threshold: the last value, or an aggregate over a window.

`last` is the charger's current reading: it counts from when it was received (a charger
clock hours behind must not make every reading look stale and silence the rule), and a
sample the charger dated earlier than the newest one, arriving late, changes nothing.

Windowed aggregates need the spacing of the samples (rate, delta), so their samples are
placed at the charger's sample time, clamped to the receive time (a clock running ahead
cannot date a sample into the future). Samples that arrive out of order are inserted in
order; a sample already older than the window changes nothing.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable
from typing import Any

from chargewatch import events as ev
from chargewatch.alerts import Key
from rules.conditions.base import INACTIVE, OPS, Condition, Context, Params, Verdict, resolve
from rules.schema import MeasurandSpec


class MeasurandCondition(Condition):
    kinds = frozenset({"meter"})
    details = ("measurand", "unit", "samples", "reading")

    def __init__(self, rule: int, scope: str, ctx: Context, spec: MeasurandSpec) -> None:
        super().__init__(rule, scope, ctx)
        self.spec = spec
        self.compare = OPS[spec.op]
        self.series: dict[Key, list[tuple[float, float]]] = {}
        self.unit: dict[Key, str] = {}
        # `last`: the charger time of the newest sample, and when it was received
        self.newest: dict[Key, tuple[float, float]] = {}

    def _horizon(self, params: Params) -> float:
        window = resolve(self.spec.window, params)
        return window if window is not None else resolve(self.spec.stale_after, params)

    def observe_event(self, e: ev.MeterValuesReported, now: float) -> Iterable[Key]:  # type: ignore[override]
        spec = self.spec
        key: Key = (e.charger_id, e.connector_id)
        changed = False
        series = None
        oldest = None
        for s in e.samples:
            if s.measurand != spec.name or s.value is None:
                continue
            if (spec.phase is not None and s.phase != spec.phase) or (
                spec.location is not None and s.location != spec.location
            ):
                continue
            if series is None:
                series = self.series.setdefault(key, [])
                oldest = now - self._horizon(self.ctx.params(self.rule, key))
            if spec.aggregate == "last":
                if self._older(key, s.ts):
                    continue  # the charger dated it before the reading we have
                self.newest[key] = (s.ts, now)
                series[:] = [(now, s.value)]
            else:
                t = min(s.ts, e.ts)
                if t < oldest:
                    continue  # too old to matter now
                insort(series, (t, s.value))
            self.unit[key] = s.unit
            changed = True
        return (key,) if changed else ()

    def _older(self, key: Key, charger_ts: float) -> bool:
        """Dated before the newest reading, by the same charger clock (a boot resets it)."""
        newest = self.newest.get(key)
        if newest is None or charger_ts >= newest[0]:
            return False
        booted = self.ctx.facts.charger(key[0]).booted_at
        return booted is None or booted <= newest[1]

    def evaluate(self, key: Key, now: float, params: Params) -> Verdict:
        series = self.series.get(key)
        if not series:
            return INACTIVE
        spec = self.spec
        horizon = self._horizon(params)
        start = now - horizon
        drop = 0
        while drop < len(series) and series[drop][0] <= start:
            drop += 1
        if drop:
            del series[:drop]
        if not series:
            return INACTIVE
        value = _aggregate(spec.aggregate, series)
        recheck = series[0][0] + horizon
        if value is None:
            return Verdict(False, recheck=recheck)
        if self.compare(value, resolve(spec.threshold, params)):
            unit = self.unit.get(key, "")
            details = {
                "measurand": spec.name,
                "unit": unit,
                "samples": len(series),
                "reading": f"{value:.6g} {unit}".strip(),  # the compared value, with its unit
            }
            return Verdict(True, value, details, recheck)
        return Verdict(False, recheck=recheck)

    def forget(self, key: Key) -> None:
        if not self.series.get(key):
            self.series.pop(key, None)
            self.unit.pop(key, None)
            # `newest` stays (a float per connector): a reading dated before it, arriving
            # after this one went stale, is still not the charger's current reading

    def dump(self) -> Any:
        keys = dict.fromkeys([*(k for k, s in self.series.items() if s), *self.newest])
        return [
            [list(k), self.series.get(k, []), self.unit.get(k, ""), self.newest.get(k)]
            for k in keys
        ]

    def load(self, data: Any) -> None:
        for key, series, unit, *newest in data or []:
            k = tuple(key)
            if series:
                self.series[k] = [tuple(p) for p in series]  # type: ignore[misc]
                self.unit[k] = unit
            if newest and newest[0] is not None:
                self.newest[k] = tuple(newest[0])  # type: ignore[assignment]


def _aggregate(how: str, series: list[tuple[float, float]]) -> float | None:
    if how == "last":
        return series[-1][1]
    values = [v for _, v in series]
    if how == "avg":
        return sum(values) / len(values)
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    if len(series) < 2:
        return None  # rate and delta need two samples
    delta = series[-1][1] - series[0][1]
    if how == "delta":
        return delta
    elapsed = series[-1][0] - series[0][0]
    return delta / elapsed if elapsed > 0 else None  # per second, as Prometheus' rate()
