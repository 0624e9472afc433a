"""A measurand compared with a threshold: the last value, or an aggregate over a window.

Samples are placed at the charger's sample time, clamped to the receive time (a clock
running ahead cannot date a sample into the future). Samples that arrive out of order are
inserted in order; a sample already older than the window (or, for `last`, older than the
newest one) changes nothing.
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
            t = min(s.ts, e.ts)
            if t < oldest:
                continue  # too old to matter now
            if spec.aggregate == "last":
                if series and t < series[-1][0]:
                    continue
                series[:] = [(t, s.value)]
            else:
                insort(series, (t, s.value))
            self.unit[key] = s.unit
            changed = True
        return (key,) if changed else ()

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

    def dump(self) -> Any:
        return [[list(k), s, self.unit.get(k, "")] for k, s in self.series.items() if s]

    def load(self, data: Any) -> None:
        for key, series, unit in data or []:
            k = tuple(key)
            self.series[k] = [tuple(p) for p in series]  # type: ignore[misc]
            self.unit[k] = unit


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
