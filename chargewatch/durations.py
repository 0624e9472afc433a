"""Durations as operators write them (`90s`, `5m`, `1h30m`, `30d`), in seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: str | int | float) -> float:
    """Seconds; a bare number is seconds. ValueError names what is wrong."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or text like 5m, 1h30m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    text = value.strip()
    if not text or _PART.sub("", text):
        raise ValueError(f"{value!r} is not a duration (write e.g. 90s, 5m, 1h30m, 7d)")
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 5400 -> '1h30m', 0.5 -> '500ms'."""
    if seconds == 0:
        return "0s"
    out, rest = "", seconds
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if rest >= size:
            n = int(rest // size)
            out += f"{n}{unit}"
            rest -= n * size
    if rest > 1e-9:
        out += f"{round(rest * 1000)}ms"
    return out
