"""One measurement of bench/influx.py: the journal's backlog drained into a server, timed, checked.

Two ways of draining it:

* ChargeWatch's InfluxShipper as the collector runs it (the writer `make_writer(cfg)` returns,
  cursor kept in the journal), on this process's event loop. The clock runs from
  `shipper.start()` until its backlog is 0, i.e. until the server accepted the last batch. The
  writer is wrapped in a stopwatch (TimedWriter) so the drain splits into HTTP writes and the
  rest.
* influxdb-client's batching WriteApi (`WriteOptions(batch_size=B, flush_interval=1000)`, the
  rest at its defaults), fed by a producer thread that follows the same journal and writes each
  event's points as it reads them, as an application using that API would. The clock runs
  until the success callback has counted every point.

Either way the server's stored count must equal the backlog, or the run fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from influx_data import SAMPLES_PER_EVENT, client_points, journal_rows, reset_cursor
from influx_servers import DATABASE, ORG, HttpServer, InfluxDB1, VictoriaMetrics
from influxdb_client import InfluxDBClient, WriteOptions, WritePrecision
from procfs import cpu_seconds, own_cpu_seconds, progress, rss_kib
from prometheus_client import CollectorRegistry

from chargewatch.config import InfluxConfig
from chargewatch.journal import Journal
from collector.sinks.influx_schema import points as shipper_lines
from collector.sinks.influx_writer import Writer, make_writer
from collector.sinks.shipper import InfluxShipper

DRAIN_TIMEOUT_S = 600.0  # one drain, start to last accepted batch
STALL_S = 60.0  # no progress for this long fails the run (hung server, dead shipper task)
POLL_S = 0.01  # how often the event loop looks at the backlog: the clock's resolution
PROGRESS_EVERY_S = 10.0
VISIBLE_TIMEOUT_S = 15.0  # VictoriaMetrics makes new series searchable within about a second
CLOSE_WAIT_MS = 30_000  # WriteApi.close() flush bound (default 300 s), only matters on abort


@dataclass
class Figures:
    target: str
    server: str
    points: int
    seconds: float
    points_per_s: float
    client_cpu_s: float  # this process, all threads
    server_cpu_s: float
    rss_growth_mib: float  # this process's peak RSS during the drain minus RSS before it
    requests: int
    write_s: float = math.nan  # shipper: time inside writer.write (HTTP round trips)
    body_mib: float = math.nan  # shipper: line protocol sent
    write_errors: int = 0
    producer_s: float = math.nan  # client: until the producer's last write() returned
    stored: dict[str, float] = field(default_factory=dict)


class TimedWriter:
    """The writer the shipper would make itself, with a stopwatch around each request. One
    perf_counter pair per batch of thousands of points costs nothing measurable."""

    def __init__(self, inner: Writer) -> None:
        self.inner, self.seconds, self.requests, self.bytes = inner, 0.0, 0, 0

    def write(self, body: bytes) -> None:
        started = time.perf_counter()
        try:
            self.inner.write(body)
        finally:
            self.seconds += time.perf_counter() - started
            self.requests += 1
            self.bytes += len(body)

    def close(self) -> None:
        self.inner.close()


class Usage:
    """CPU of this process (all threads) and of the server, and this process's peak RSS above
    its level at the start, over one drain. A thread samples RSS every 20 ms."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.client_cpu_s = self.server_cpu_s = self.rss_growth_mib = math.nan
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> Usage:
        self._cpu, self._server_cpu = own_cpu_seconds(), cpu_seconds(self.server_pid)
        self._rss = self._peak = rss_kib(os.getpid())
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            self._peak = max(self._peak, rss_kib(os.getpid()))

    def __exit__(self, *exc: object) -> None:
        self.client_cpu_s = own_cpu_seconds() - self._cpu
        with contextlib.suppress(OSError):  # the server may be what failed
            self.server_cpu_s = cpu_seconds(self.server_pid) - self._server_cpu
        self._done.set()
        self._thread.join()
        self.rss_growth_mib = (self._peak - self._rss) / 1024


async def _wait_until(done: Callable[[], bool], count: Callable[[], int], total: int, what: str):
    """Poll until done(); fail on the overall bound or when count() stops moving."""
    started = last_move = last_report = time.monotonic()
    seen = count()
    while not done():
        now = time.monotonic()
        if now - started > DRAIN_TIMEOUT_S:
            raise TimeoutError(f"{what}: not drained within {DRAIN_TIMEOUT_S:.0f} s")
        if (current := count()) != seen:
            seen, last_move = current, now
        elif now - last_move > STALL_S:
            raise RuntimeError(f"{what}: no progress for {STALL_S:.0f} s at {seen} points")
        if now - last_report >= PROGRESS_EVERY_S:
            last_report = now
            progress(f"  {what}: {seen} of {total} points after {now - started:.0f} s")
        await asyncio.sleep(POLL_S)


async def verify(server: HttpServer, points: int) -> dict[str, float]:
    """What the server holds: it must be exactly the backlog's points."""
    if isinstance(server, InfluxDB1):
        count = await asyncio.to_thread(server.meter_value_count)
        if count != points:
            raise RuntimeError(f"InfluxDB holds {count} meter_value points, expected {points}")
        return {"influxdb_count_value": count}
    assert isinstance(server, VictoriaMetrics)
    counters = await asyncio.to_thread(server.influx_counters)
    if counters.get("lines_read") != points:
        lines = counters.get("lines_read", 0)
        raise RuntimeError(f"VictoriaMetrics parsed {lines:.0f} influx lines, expected {points}")
    deadline = time.monotonic() + VISIBLE_TIMEOUT_S
    while (stored := await asyncio.to_thread(server.stored_samples)) != points:
        if time.monotonic() > deadline:
            raise RuntimeError(f"VictoriaMetrics returns {stored} samples, expected {points}")
        await asyncio.sleep(0.5)
    return {**counters, "meter_value_value_samples": stored}


def _counter(registry: CollectorRegistry, family: str) -> float:
    return sum(
        sample.value
        for metric in registry.collect()
        if metric.name == family
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def run_shipper(
    api: str,
    server: HttpServer,
    journal_path: Path,
    site_of: dict[str, str],
    events: int,
    batch_size: int,
    workdir: Path,
) -> Figures:
    target, points = f"shipper-{api}", events * SAMPLES_PER_EVENT
    cfg = (
        InfluxConfig(url=server.url, api="v1", database=DATABASE, batch_size=batch_size)
        if api == "v1"
        else InfluxConfig(url=server.url, api="v2", bucket=DATABASE, org=ORG, batch_size=batch_size)
    )
    reset_cursor(journal_path)
    registry, quarantine = CollectorRegistry(), workdir / "quarantine.lp"
    writer = TimedWriter(make_writer(cfg))
    journal = Journal(journal_path, site_of, synchronous="normal")
    await journal.start()
    try:
        shipper = InfluxShipper(cfg, journal, site_of, quarantine, registry, writer=writer)
        try:
            if shipper.backlog != events:
                raise RuntimeError(f"backlog is {shipper.backlog} events, expected {events}")
            with Usage(server.pid) as usage:
                started = time.perf_counter()
                await shipper.start()
                await _wait_until(
                    lambda: shipper.backlog == 0,
                    lambda: (events - shipper.backlog) * SAMPLES_PER_EVENT,
                    points,
                    target,
                )
                seconds = time.perf_counter() - started
        finally:
            await shipper.stop()
    finally:
        await journal.close()
    written = _counter(registry, "chargewatch_influxdb_points_written")
    refused = _counter(registry, "chargewatch_influxdb_points_quarantined")
    if refused or quarantine.exists() or written != points:
        raise RuntimeError(f"{target}: {written:.0f} points written, {refused:.0f} refused")
    return Figures(
        target,
        await asyncio.to_thread(server.version),
        points,
        seconds,
        points / seconds,
        usage.client_cpu_s,
        usage.server_cpu_s,
        usage.rss_growth_mib,
        writer.requests,
        write_s=writer.seconds,
        body_mib=writer.bytes / 2**20,
        write_errors=int(_counter(registry, "chargewatch_influxdb_write_errors")),
        stored=await verify(server, points),
    )


class _ClientRun:
    """Shared by the producer thread, influxdb-client's callbacks (on its write thread) and the
    event loop that watches: counts, times and the first error."""

    def __init__(self, points: int) -> None:
        self.points, self.written, self.batches, self.retries = points, 0, 0, 0
        self.error: str | None = None
        self.last_success = self.produced_at = math.nan
        self.finished = threading.Event()  # every point accepted, or a failure
        self.abort = threading.Event()
        self._lock = threading.Lock()

    def on_success(self, _key: Any, data: bytes) -> None:
        with self._lock:
            self.written += data.count(b"\n") + 1
            self.batches += 1
            self.last_success = time.perf_counter()
            if self.written >= self.points:
                self.finished.set()

    def on_error(self, _key: Any, _data: bytes, exc: Exception) -> None:
        self.error = f"write failed: {type(exc).__name__}: {exc}"
        self.finished.set()

    def on_retry(self, _key: Any, _data: bytes, _exc: Exception) -> None:
        self.retries += 1

    def produce(
        self, write_api: Any, journal_path: Path, site_of: dict[str, str], encode: Any
    ) -> None:
        """Follow the journal and write each event's points as they are read."""
        try:
            for rows in journal_rows(journal_path):
                if self.abort.is_set():
                    return
                for _, kind, data in rows:
                    record = encode(kind, json.loads(data), site_of)
                    write_api.write(DATABASE, ORG, record=record, write_precision=WritePrecision.US)
            self.produced_at = time.perf_counter()
        except Exception as exc:
            self.error = f"producer failed: {type(exc).__name__}: {exc}"
            self.finished.set()
        finally:
            write_api.close()  # flushes the last partial batch now rather than after 1 s


async def run_client(
    variant: str,
    server: VictoriaMetrics,
    journal_path: Path,
    site_of: dict[str, str],
    events: int,
    batch_size: int,
) -> Figures:
    """variant "client": Point objects; "client-lines": the shipper's own line-protocol strings."""
    points = events * SAMPLES_PER_EVENT
    run = _ClientRun(points)
    encode = client_points if variant == "client" else shipper_lines
    client = InfluxDBClient(url=server.url, token=None, org=ORG)
    write_api = client.write_api(
        write_options=WriteOptions(
            batch_size=batch_size, flush_interval=1000, max_close_wait=CLOSE_WAIT_MS
        ),
        success_callback=run.on_success,
        error_callback=run.on_error,
        retry_callback=run.on_retry,
    )
    producer = threading.Thread(
        target=run.produce, args=(write_api, journal_path, site_of, encode), daemon=True
    )
    try:
        with Usage(server.pid) as usage:
            started = time.perf_counter()
            producer.start()
            await _wait_until(run.finished.is_set, lambda: run.written, points, variant)
    finally:
        # Blocking on purpose: this is also the path after a cancellation. The producer stops
        # at its next read and close() flushes while the server is still up.
        run.abort.set()
        if producer.ident is not None:
            producer.join(CLOSE_WAIT_MS / 1000 + 10)
            if producer.is_alive():
                progress(f"warning: {variant}'s producer did not finish")
        client.close()
    if run.error is not None:
        raise RuntimeError(f"{variant}: {run.error}")
    seconds = run.last_success - started
    return Figures(
        variant,
        await asyncio.to_thread(server.version),
        points,
        seconds,
        points / seconds,
        usage.client_cpu_s,
        usage.server_cpu_s,
        usage.rss_growth_mib,
        run.batches,
        write_errors=run.retries,
        producer_s=run.produced_at - started,
        stored=await verify(server, points),
    )
