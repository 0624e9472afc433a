"""The data of bench/influx.py: a journal holding a backlog of MeterValues, and the two ways of
turning its rows into points — ChargeWatch's encoder and influxdb-client's Point objects.

The backlog looks like a fleet that was cut off from InfluxDB for a while: 50 chargers with two
connectors each, every MeterValues carrying the 10 sampled values a three-phase AC charger sends
(bench/load.py's set, after the adapter's unit normalisation), values that move from reading to
reading, one connector per charger in a session. Timestamps are distinct and lie in the hour
before the build, because VictoriaMetrics drops samples older than its retention.
"""

from __future__ import annotations

import cProfile
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from influxdb_client import Point, WritePrecision

from chargewatch import store
from chargewatch.events import MeterValuesReported, Sample
from chargewatch.journal import Journal
from collector.sinks.influx_schema import points as shipper_lines
from collector.sinks.line_protocol import micros
from collector.sinks.shipper import CONSUMER

CHARGERS = 50
CONNECTORS = 2
SITES = 5
SAMPLES_PER_EVENT = 10
COMMIT_EVENTS = 5000  # events per journal commit while building (one transaction each)
SPAN_S = 3000.0  # the backlog covers the 50 minutes before the build
READ_EVENTS = 500  # journal rows per read on the client's side (the shipper's, at batch 5000)

Encoder = Callable[[str, dict[str, Any], dict[str, str]], list[Any]]


CHARGER_IDS = tuple(f"CP-{i:04d}" for i in range(1, CHARGERS + 1))


def site_map() -> dict[str, str]:
    return {cid: f"site-{i % SITES + 1}" for i, cid in enumerate(CHARGER_IDS)}


def samples(ts: float, slot: int, k: int) -> tuple[Sample, ...]:
    """Reading k of connector `slot`: a register that grows, and values that wobble around a
    typical 16 A three-phase charge (constant values would flatter the servers' compression)."""
    wobble = ((k * 7 + slot * 13) % 21 - 10) / 10  # -1.0 .. 1.0
    p = "Sample.Periodic"
    energy = round(10_000.0 * (slot + 1) + 3.07 * k, 2)
    power = round(11_040.0 + 45.0 * wobble, 1)
    amps = [round(16.0 + 0.1 * wobble + 0.03 * n, 2) for n in range(3)]
    volts = [round(230.0 + 1.5 * wobble - 0.4 * n, 1) for n in range(3)]
    soc = float(20 + (k // 20 + slot) % 61)
    return (
        Sample(ts, "Energy.Active.Import.Register", energy, "Wh", None, p, "Outlet"),
        Sample(ts, "Power.Active.Import", power, "W", None, p, "Outlet"),
        Sample(ts, "Current.Import", amps[0], "A", "L1", p),
        Sample(ts, "Current.Import", amps[1], "A", "L2", p),
        Sample(ts, "Current.Import", amps[2], "A", "L3", p),
        Sample(ts, "Voltage", volts[0], "V", "L1-N", p),
        Sample(ts, "Voltage", volts[1], "V", "L2-N", p),
        Sample(ts, "Voltage", volts[2], "V", "L3-N", p),
        Sample(ts, "SoC", soc, "%", None, p, "EV"),
        Sample(ts, "Temperature", round(31.0 + wobble, 1), "degC", None, p, "Body"),
    )


def meter_event(i: int, start: float, step: float) -> MeterValuesReported:
    """Event i of the backlog: connectors take turns, so each one reports every 100 steps."""
    slot, k = i % (CHARGERS * CONNECTORS), i // (CHARGERS * CONNECTORS)
    ts = start + i * step
    connector = slot % CONNECTORS + 1
    return MeterValuesReported(
        charger_id=CHARGER_IDS[slot // CONNECTORS],
        ts=ts,
        connector_id=connector,
        session_id=str(1000 + slot) if connector == 1 else None,
        samples=samples(round(ts - 0.25, 6), slot, k),  # the charger's clock, a bit behind
    )


async def build_journal(path: Path, events: int) -> None:
    """The backlog, committed in large groups (synchronous=normal: building is not measured)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    step = SPAN_S / events
    start = time.time() - SPAN_S - 60.0
    journal = Journal(path, site_map(), synchronous="normal")
    await journal.start()
    try:
        for first in range(0, events, COMMIT_EVENTS):
            last = min(events, first + COMMIT_EVENTS)
            await journal.commit([meter_event(i, start, step) for i in range(first, last)])
    finally:
        await journal.close()


def reset_cursor(path: Path) -> None:
    """Forget how far the shipper got, so the next run sees the whole backlog again."""
    db = store.open_reader(path)
    try:
        db.execute("DELETE FROM cursors WHERE consumer=?", (CONSUMER,))
    finally:
        db.close()


def journal_rows(path: Path, limit: int | None = None) -> Iterator[list[tuple[int, str, str]]]:
    """The journal's rows in reads of READ_EVENTS, the way a consumer follows it."""
    db = store.open_reader(path)
    try:
        after, seen = 0, 0
        while limit is None or seen < limit:
            want = READ_EVENTS if limit is None else min(READ_EVENTS, limit - seen)
            rows = store.read_journal_raw(db, after, want)
            if not rows:
                return
            yield rows
            after, seen = rows[-1][0], seen + len(rows)
    finally:
        db.close()


def client_points(kind: str, d: dict[str, Any], site_of: dict[str, str]) -> list[Point]:
    """The shipper's meter_value points as influxdb-client users build them: one Point per
    sampled value, tags and fields set by name (None ones are left out by Point itself), an
    integer timestamp in µs (the cheapest form Point.time accepts)."""
    if kind != "meter":
        raise ValueError(f"the benchmark journal holds only meter events, not {kind!r}")
    site, charger = site_of.get(d["charger_id"]), d["charger_id"]
    connector, session = str(d.get("connector_id", 0)), d.get("session_id")
    return [
        Point("meter_value")
        .tag("site", site)
        .tag("charger", charger)
        .tag("connector", connector)
        .tag("measurand", measurand)
        .tag("phase", phase)
        .tag("location", location)
        .tag("context", context)
        .field("value", value)
        .field("unit", unit or None)
        .field("session_id", session)
        .field("raw", raw)
        .time(micros(ts), WritePrecision.US)
        for ts, measurand, value, unit, phase, context, location, raw in d["samples"]
    ]


def _meaning(line: str) -> tuple[str, tuple[tuple[str, Any], ...], int]:
    """A line's series key, typed fields and timestamp, so that `11040` and `11040.0` (both
    floats in line protocol) compare equal. Enough for this data set: no spaces in values."""
    key, fields, ts = line.rsplit(" ", 2)
    typed: list[tuple[str, Any]] = []
    for pair in fields.split(","):
        name, value = pair.split("=", 1)
        if value.startswith('"'):
            typed.append((name, value[1:-1]))
        elif value.endswith("i"):
            typed.append((name, int(value[:-1])))
        else:
            typed.append((name, float(value)))
    return key, tuple(sorted(typed)), int(ts)


def check_same_points(path: Path, site_of: dict[str, str], events: int = 200) -> int:
    """Both encoders must produce the same points, or the comparison is void; returns how many
    points were compared."""
    compared = 0
    for rows in journal_rows(path, events):
        for _, kind, data in rows:
            d = json.loads(data)
            ours = [_meaning(line) for line in shipper_lines(kind, d, site_of)]
            theirs = [_meaning(p.to_line_protocol()) for p in client_points(kind, d, site_of)]
            if ours != theirs:
                raise RuntimeError(f"encoders disagree:\n  shipper: {ours}\n  client:  {theirs}")
            compared += len(ours)
    return compared


def encode_cost(
    path: Path, site_of: dict[str, str], variant: str, events: int, profile_to: Path | None
) -> float:
    """CPU µs per point to turn journal rows into line protocol, no server involved: json.loads
    plus either the shipper's encoder or Point objects and their to_line_protocol() (what the
    client's write() calls). Rows are read before the clock starts."""
    chunks = list(journal_rows(path, events))
    profiler = cProfile.Profile() if profile_to is not None else None
    produced = 0
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    for rows in chunks:
        for _, kind, data in rows:
            d = json.loads(data)
            if variant == "shipper":
                produced += len(shipper_lines(kind, d, site_of))
            else:
                produced += len([p.to_line_protocol() for p in client_points(kind, d, site_of)])
    if profiler is not None:
        profiler.disable()
        assert profile_to is not None
        profiler.dump_stats(profile_to)
    return (time.process_time() - started) / max(1, produced) * 1e6
