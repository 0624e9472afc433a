"""Checks that InfluxDB holds exactly what the journal holds, computed from each side
independently (the journal's JSON, InfluxQL aggregates), not through the shipper's encoder."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from helpers import db_rows
from servers import InfluxDB1


def expected_meter(data_dir: Path) -> dict[str, tuple[int, float]]:
    """(count, sum) of numeric samples per measurand, read from the journal itself.

    A point is its series and timestamp; samples repeating both are one point in InfluxDB,
    so they are counted once here too.
    """
    unique: dict[tuple, tuple[str, float]] = {}
    for (data,) in db_rows(data_dir, "SELECT data FROM journal WHERE kind='meter'"):
        d = json.loads(data)
        for ts, measurand, value, _unit, phase, context, location, _raw in d["samples"]:
            if value is None:
                continue
            key = (
                d["charger_id"],
                d["connector_id"],
                measurand,
                phase,
                location,
                context,
                round(ts * 1e6),
            )
            unique[key] = (measurand, value)
    out: dict[str, list[float]] = defaultdict(list)
    for measurand, value in unique.values():
        out[measurand].append(value)
    return {m: (len(v), sum(v)) for m, v in out.items()}


def influx_meter(influx: InfluxDB1) -> dict[str, tuple[int, float]]:
    series = influx.query(
        'SELECT count("value"), sum("value") FROM meter_value GROUP BY "measurand"'
    )
    return {s["tags"]["measurand"]: (s["values"][0][1], s["values"][0][2]) for s in series}


def assert_meter_exactly_once(influx: InfluxDB1, data_dir: Path) -> None:
    want, got = expected_meter(data_dir), influx_meter(influx)
    assert set(got) == set(want)
    for measurand, (count, total) in want.items():
        assert got[measurand][0] == count, measurand
        assert got[measurand][1] == pytest.approx(total, rel=1e-9), measurand
