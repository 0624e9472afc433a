"""OCPP 2.0.1 MeterValueType[] into canonical samples.

2.0.1 values are JSON numbers with unitOfMeasure {unit, multiplier}: the multiplier (a power
of ten) is applied and the unit normalised, so a sample leaves here exactly as a 1.6 one does.
"""

from __future__ import annotations

import math
from typing import Any

from chargewatch import events as ev
from collector import validation as v
from collector.adapter import parse_time
from collector.units import normalise

ENERGY = "Energy.Active.Import.Register"
DEFAULT_MEASURAND = ENERGY  # OCPP 2.0.1 SampledValueType defaults, as in 1.6
DEFAULT_CONTEXT = "Sample.Periodic"
DEFAULT_LOCATION = "Outlet"
BEGIN, END = "Transaction.Begin", "Transaction.End"
MAX_MULTIPLIER = 18  # beyond any meter (and 10.0**309 overflows a float)


def samples(meter_values: list[dict[str, Any]], field: str) -> tuple[ev.Sample, ...]:
    """Normalise MeterValue[] (schema-checked); raises PayloadError for a non-finite value."""
    out: list[ev.Sample] = []
    for i, mv in enumerate(meter_values):
        ts = parse_time(mv["timestamp"], f"{field}[{i}].timestamp")
        for j, sv in enumerate(mv["sampledValue"]):
            number = sv["value"]
            if not math.isfinite(number):  # Python's json reads NaN and Infinity
                where = f"{field}[{i}].sampledValue[{j}].value"
                raise v.PayloadError(v.VALUE, f"{where}: {number!r} is not a number", where)
            measurand = sv.get("measurand", DEFAULT_MEASURAND)
            uom = sv.get("unitOfMeasure") or {}
            multiplier = uom.get("multiplier", 0)
            if abs(multiplier) > MAX_MULTIPLIER:
                where = f"{field}[{i}].sampledValue[{j}].unitOfMeasure.multiplier"
                raise v.PayloadError(
                    v.VALUE, f"{where}: 10^{multiplier} is no meter's scale", where
                )
            # an absent unit means the measurand's natural unit (Wh only for energy), as in 1.6
            value, unit = normalise(float(number), uom.get("unit"), measurand, multiplier)
            out.append(
                ev.Sample(
                    ts,
                    measurand,
                    value,
                    unit,
                    sv.get("phase"),
                    sv.get("context", DEFAULT_CONTEXT),
                    sv.get("location", DEFAULT_LOCATION),
                    None,
                )
            )
    return tuple(out)


def register(found: tuple[ev.Sample, ...], context: str | None = None) -> float | None:
    """The last total energy register reading (of `context`, if given), in Wh."""
    value = None
    for s in found:
        if (
            s.measurand == ENERGY
            and s.phase is None
            and s.location in (None, DEFAULT_LOCATION)
            and s.value is not None
            and (context is None or s.context == context)
        ):
            value = s.value
    return value
