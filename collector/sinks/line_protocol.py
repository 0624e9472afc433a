"""InfluxDB line protocol: `measurement,tag=v field=1.5,text="s" <timestamp>`.

Written by hand rather than with influxdb-client's Point class: the shipper encodes every
journal event straight from the journal's JSON, without building an object per point (about
1.2x cheaper per point, docs/benchmarks.md), with the same escaping as that serializer
(tests/test_influx_schema.py checks they agree).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

Field = float | int | str | None


# The escaping rules of influxdb-client's own serializer, as translation tables.
_KEY = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})


def _tag_value(value: str) -> str:
    escaped = value.translate(_KEY)
    # a trailing backslash would escape the separator after it (influxdb-client does the same)
    return escaped + " " if escaped.endswith("\\") else escaped


def _field_value(value: float | int | str) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None  # NaN and inf cannot be stored
    return f'"{value.translate(_STRING)}"'


def line(
    measurement: str,
    tags: Mapping[str, str | None],
    fields: Mapping[str, Field],
    ts_us: int,
) -> str | None:
    """One point; empty tags and None fields are left out, and a point without fields is None."""
    tag_part = "".join(
        f",{k.translate(_KEY)}={_tag_value(v)}" for k, v in sorted(tags.items()) if v
    )
    field_parts = []
    for key, value in fields.items():
        if value is None:
            continue
        encoded = _field_value(value)
        if encoded is not None:
            field_parts.append(f"{key.translate(_KEY)}={encoded}")
    if not field_parts:
        return None
    return f"{measurement.translate(_MEASUREMENT)}{tag_part} {','.join(field_parts)} {ts_us}"


def micros(ts: float) -> int:
    """Epoch seconds as the integer microseconds the shipper writes (precision "us")."""
    return round(ts * 1_000_000)
