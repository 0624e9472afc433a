"""The InfluxDB shipper: follows the journal from its own cursor and writes it as points.

The cursor advances only after the server accepted a batch, so the backlog is simply the
journal beyond the cursor: on disk, any length, memory bounded by one batch. Writes are
idempotent (a point is its measurement, tags and timestamp), so a batch written twice —
after a crash between write and cursor save — is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from chargewatch import store
from chargewatch.config import InfluxConfig
from chargewatch.journal import Journal
from collector.sinks.influx_schema import points
from collector.sinks.influx_writer import RETRY, WriteError, Writer, make_writer

log = logging.getLogger(__name__)

CONSUMER = "influxdb"
BACKOFF_START_S = 0.5
LOG_EVERY_S = 30.0  # while the server stays down, repeat the warning at most this often


class InfluxMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.backlog = Gauge(
            "chargewatch_influxdb_backlog_events",
            "Journal events not yet written to InfluxDB.",
            registry=registry,
        )
        self.points = Counter(
            "chargewatch_influxdb_points_written", "Points InfluxDB accepted.", registry=registry
        )
        self.quarantined = Counter(
            "chargewatch_influxdb_points_quarantined",
            "Points InfluxDB refused; kept in the quarantine file with the reason.",
            registry=registry,
        )
        self.errors = Counter(
            "chargewatch_influxdb_write_errors",
            "Failed write requests, by reason (connection, http_<status>, internal).",
            ["reason"],
            registry=registry,
        )
        self.last_write = Gauge(
            "chargewatch_influxdb_last_write_timestamp_seconds",
            "When InfluxDB last accepted a write (Unix time).",
            registry=registry,
        )
        self.unencodable = Counter(
            "chargewatch_influxdb_unencodable_events",
            "Journal events that could not be turned into points; logged and skipped.",
            registry=registry,
        )
        self.write_seconds = Histogram(
            "chargewatch_influxdb_write_seconds",
            "Duration of one write request.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )


class InfluxShipper:
    def __init__(
        self,
        cfg: InfluxConfig,
        journal: Journal,
        site_of: Mapping[str, str],
        quarantine_path: Path,
        registry: CollectorRegistry,
        writer: Writer | None = None,
    ) -> None:
        self.cfg = cfg
        self.journal = journal
        self.site_of = site_of
        self.quarantine_path = quarantine_path
        self.metrics = InfluxMetrics(registry)
        self.metrics.backlog.set_function(lambda: self.backlog)
        self._writer = writer or make_writer(cfg)
        self._db = store.open_reader(journal.path)
        self.cursor = store.read_cursor(self._db, CONSUMER)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._read_limit = cfg.batch_size  # events per read, adapted to points per event
        self._failing_since: float | None = None
        self._last_warning = 0.0
        self._skipped_through = 0  # the last unencodable event already counted and logged

    @property
    def backlog(self) -> int:
        return max(0, self.journal.last_seq - self.cursor)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="influxdb-shipper")
        log.info(
            "shipping the journal to InfluxDB %s (api %s) from event %d",
            self.cfg.url,
            self.cfg.api,
            self.cursor,
        )

    async def stop(self) -> None:
        """Write what can be written within `shutdown_timeout`, then stop."""
        self._stop.set()
        try:
            if self._task is not None:
                await asyncio.wait_for(self._task, self.cfg.shutdown_timeout)
        except TimeoutError:
            log.warning(
                "InfluxDB shipper stopped with %d events still to write; they "
                "are kept in the journal and written after the next start",
                self.backlog,
            )
        finally:
            self._writer.close()
            self._db.close()

    # ---- the loop ----------------------------------------------------------------------
    async def _run(self) -> None:
        """Ship until stopped; an unexpected error (a bug, a locked journal) is logged,
        counted and retried with backoff rather than silently ending the shipping."""
        new_data = self.journal.listen()
        delay = BACKOFF_START_S
        while True:
            try:
                if await self._step(new_data):
                    return
                delay = BACKOFF_START_S
            except Exception:
                log.exception("InfluxDB shipper failed; retrying in up to %.1f s", delay)
                self.metrics.errors.labels("internal").inc()
                if self._stop.is_set():
                    return
                await _first(self._stop.wait(), asyncio.sleep(random.uniform(0, delay)))
                delay = min(self.cfg.retry_max_delay, delay * 2)

    async def _step(self, new_data: asyncio.Event) -> bool:
        """Ship one batch, or wait for new events; True when it is time to stop."""
        rows = await asyncio.to_thread(
            store.read_journal_raw, self._db, self.cursor, self._read_limit
        )
        if not rows:
            if self._stop.is_set():
                return True
            new_data.clear()
            await _first(new_data.wait(), self._stop.wait())
            # let a trickle of events gather into one batch
            await _first(self._stop.wait(), asyncio.sleep(self.cfg.flush_interval))
            return False
        lines, last = self._encode(rows)
        if lines and not await self._deliver(lines):
            return True  # stopping while the server is unreachable: the journal keeps it
        await asyncio.to_thread(store.save_cursor, self._db, CONSUMER, last, time.time())
        self.cursor = last
        return False

    def _encode(self, rows: list[tuple[int, str, str]]) -> tuple[list[str], int]:
        """Points of whole events, up to about one batch; returns them and the last seq.

        An event that cannot be encoded is a bug, not a reason to stop shipping the
        events after it: it is logged with its sequence number and skipped.
        """
        lines: list[str] = []
        last = self.cursor
        used = 0
        for seq, kind, data in rows:
            try:
                lines.extend(points(kind, json.loads(data), self.site_of))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                self._skip(seq, kind, data, exc)
            last, used = seq, used + 1
            if len(lines) >= self.cfg.batch_size:
                break
        per_event = max(1.0, len(lines) / used)
        self._read_limit = max(16, round(self.cfg.batch_size / per_event))
        return lines, last

    def _skip(self, seq: int, kind: str, data: str, exc: Exception) -> None:
        if seq <= self._skipped_through:
            return  # reported when its batch was first tried
        self._skipped_through = seq
        self.metrics.unencodable.inc()
        log.error(
            "journal event %d (%s) cannot become points, skipped: %r; data: %.500s",
            seq,
            kind,
            exc,
            data,
        )

    async def _deliver(self, lines: list[str]) -> bool:
        """Write until accepted (True), retrying with backoff; False if told to stop first."""
        delay = BACKOFF_START_S
        while True:
            try:
                await asyncio.to_thread(self._write_splitting, lines)
            except WriteError as exc:
                self.metrics.errors.labels(exc.reason).inc()
                self._warn(exc)
                if self._stop.is_set():
                    return False
                # full jitter: many collectors restarting together do not retry in step
                await _first(self._stop.wait(), asyncio.sleep(random.uniform(0, delay)))
                delay = min(self.cfg.retry_max_delay, delay * 2)
                continue
            if self._failing_since is not None:
                log.warning(
                    "InfluxDB accepts writes again after %.0f s; %d events to catch up",
                    time.time() - self._failing_since,
                    self.backlog,
                )
                self._failing_since = None
            return True

    def _warn(self, exc: WriteError) -> None:
        now = time.time()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._last_warning >= LOG_EVERY_S:
            self._last_warning = now
            log.warning(
                "InfluxDB write failed (%s); %d events wait in the journal",
                exc.message,
                self.backlog,
            )

    # ---- worker thread -----------------------------------------------------------------
    def _write_splitting(self, lines: list[str]) -> None:
        """Write lines; a refused batch is halved until the refused lines are isolated."""
        started = time.perf_counter()
        try:
            self._writer.write("\n".join(lines).encode())
        except WriteError as exc:
            if exc.action == RETRY:
                raise
            if len(lines) == 1:
                self._quarantine(lines[0], exc.message)
                return
            half = len(lines) // 2
            self._write_splitting(lines[:half])
            self._write_splitting(lines[half:])
            return
        self.metrics.write_seconds.observe(time.perf_counter() - started)
        self.metrics.points.inc(len(lines))
        self.metrics.last_write.set(time.time())

    def _quarantine(self, point: str, reason: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self.quarantine_path.open("a", encoding="utf-8") as out:
            out.write(f"# {stamp} {reason}\n{point}\n")
        self.metrics.quarantined.inc()
        log.error("InfluxDB refused a point, quarantined in %s: %s", self.quarantine_path, reason)


async def _first(*aws: Awaitable[object]) -> None:
    """Wait until the first of several awaitables finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
