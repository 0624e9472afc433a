"""Unit normalisation at the edge: every value leaves the adapter in a canonical unit.

Canonical units: W, Wh, var, varh, VA, A, V, degC, %, Hz. OCPP 1.6 says an absent unit
means Wh; chargers that omit it on power, current or voltage samples mean the natural unit
of the measurand, so the default depends on the measurand.
"""

from __future__ import annotations

# unit as sent -> (canonical unit, factor)
_LINEAR: dict[str, tuple[str, float]] = {
    "Wh": ("Wh", 1.0),
    "kWh": ("Wh", 1000.0),
    "varh": ("varh", 1.0),
    "kvarh": ("varh", 1000.0),
    "W": ("W", 1.0),
    "kW": ("W", 1000.0),
    "VA": ("VA", 1.0),
    "kVA": ("VA", 1000.0),
    "var": ("var", 1.0),
    "kvar": ("var", 1000.0),
    "A": ("A", 1.0),
    "V": ("V", 1.0),
    "Percent": ("%", 1.0),
    "Hertz": ("Hz", 1.0),
    "Celsius": ("degC", 1.0),
    "Celcius": ("degC", 1.0),  # misspelling that the OCPP 1.6 schema itself allows
}

_DEFAULT_UNIT_BY_PREFIX: tuple[tuple[str, str], ...] = (
    ("Energy.Reactive", "varh"),
    ("Energy", "Wh"),
    ("Power.Reactive", "var"),
    ("Power.Factor", ""),
    ("Power", "W"),
    ("Current", "A"),
    ("Voltage", "V"),
    ("Temperature", "Celsius"),
    ("SoC", "Percent"),
    ("Frequency", "Hertz"),
    ("RPM", "rpm"),
)


def default_unit(measurand: str) -> str:
    for prefix, unit in _DEFAULT_UNIT_BY_PREFIX:
        if measurand.startswith(prefix):
            return unit
    return "Wh"


def normalise(
    value: float, unit: str | None, measurand: str, multiplier: int = 0
) -> tuple[float, str]:
    """Convert a reading to its canonical unit; `multiplier` is OCPP 2.0.1's power of ten."""
    if unit is None or unit == "":
        unit = default_unit(measurand)
    if multiplier:
        value *= 10.0**multiplier
    linear = _LINEAR.get(unit)
    if linear is not None:
        canonical, factor = linear
        return (value * factor if factor != 1.0 else value), canonical
    if unit == "Fahrenheit":
        return (value - 32.0) * 5.0 / 9.0, "degC"
    if unit == "K":
        return value - 273.15, "degC"
    return value, unit  # unknown or dimensionless units pass through unchanged
