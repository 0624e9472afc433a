"""Scheduled monthly reports inside `chargewatch run`: an asyncio task beside the journal.

What is due comes from the pure functions of reports/schedule.py, given the clock and the
`report_runs` table. Each due (month, scope) is produced by a subprocess
(`python -m reports.job`, same config file and data dir), so the CPU-heavy generator
never stalls the event loop that answers chargers. Then a `ReportPublished` event is
journaled; its projection marks the run `done` in the same SQLite transaction, so a report
is published exactly once even across crashes, and the notifier picks the event up from
the journal like an alert (one durable outbox message per receiver target).

Failures (the job exits non-zero, times out, or its result cannot be journaled) are
logged and recorded (`error`, `attempts`), and retried after `retry_after` until
`max_attempts`; none of them stops `run`. A run left `running` by a crash is redone at
the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from chargewatch import events as ev
from chargewatch import store
from chargewatch.config import Config
from chargewatch.journal import Journal, JournalError, wait_any
from reports.job import RESULT_MARKER
from reports.schedule import (
    ERROR,
    FAILED,
    RUNNING,
    ReportScheduleConfig,
    Run,
    next_wakeup,
    out_dir_for,
    pending,
    utc,
)

log = logging.getLogger("chargewatch.reports")

MAX_SLEEP_S = 3600.0  # look again at least hourly (clock jumps, suspended hosts)
LOOP_ERROR_WAIT_S = 60.0
STDERR_TAIL = 20  # last lines of the job's stderr kept as the error
MAX_ERROR_CHARS = 2000
STOP_GRACE_S = 5.0

Command = Callable[[str, str | None, Path], list[str]]


class ReportJobError(RuntimeError):
    """The generator did not produce a report (exit status, timeout, unreadable result)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run did: `done`, `error` (retried later) or `failed` (given up)."""

    month: str
    site: str
    state: str
    files: tuple[str, ...] = ()
    error: str | None = None


class ReportScheduler:
    def __init__(
        self,
        schedule: ReportScheduleConfig,
        config: Config,
        journal: Journal,
        clock: Callable[[], float] = time.time,
        command: Command | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.schedule, self.config, self.journal, self.clock = schedule, config, journal, clock
        self.command = command or self.job_command
        self.site_ids = [s.id for s in config.sites]
        self._db = store.open_reader(journal.path)
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one run_due at a time: the loop and a manual trigger
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._runs = (
            Counter(
                "chargewatch_report_runs",
                "Scheduled report runs, by result (done, error, failed).",
                ["result"],
                registry=registry,
            )
            if registry is not None
            else None
        )

    def job_command(self, month: str, site: str | None, out_dir: Path) -> list[str]:
        """`python -m reports.job` with `run`'s config file and data dir (absolute: the
        child gets our environment, so ${ENV} references in the file resolve the same)."""
        cmd = [sys.executable, "-m", "reports.job", "--month", month, "--out", str(out_dir)]
        cmd += ["--data-dir", str(Path(self.config.data_dir).resolve())]
        if self.config.source is not None:
            cmd += ["--config", str(Path(self.config.source).resolve())]
        return cmd + (["--site", site] if site else [])

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="report-scheduler")
        log.info(
            "reports: monthly on day %d at %s %s to %s",
            self.schedule.day_of_month,
            self.schedule.time,
            self.schedule.timezone,
            ", ".join(self.schedule.receivers) or "no receivers (files only)",
        )

    async def stop(self) -> None:
        """Stop waiting; a report being generated is stopped and redone at the next start."""
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._db.close()

    def wake(self) -> None:
        """Look at what is due now (e.g. after the clock was moved, in tests)."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self.run_due()
                wake_at = await asyncio.to_thread(self._next_wakeup)
            except Exception:
                log.exception("reports: scheduler failed; trying again in a minute")
                wake_at = self.clock() + LOOP_ERROR_WAIT_S
            delay = min(MAX_SLEEP_S, max(1.0, wake_at - self.clock()))
            await wait_any([self._stop, self._wake], delay)

    # ---- the work --------------------------------------------------------------------------
    async def run_due(self) -> list[Outcome]:
        """Produce every report due now, oldest month first; what each run did."""
        async with self._lock:
            runs, since = await asyncio.to_thread(_load, self._db)
            now = utc(self.clock())
            todo = pending(now, self.schedule, self.site_ids, runs, since)
            out = []
            for month, site in todo:
                if self._stop.is_set():
                    break
                outcome = await self._produce(month, site)
                if outcome is not None:
                    out.append(outcome)
            return out

    def _next_wakeup(self) -> float:
        runs, since = _load(self._db)
        return next_wakeup(utc(self.clock()), self.schedule, self.site_ids, runs, since)

    async def _produce(self, month: str, site: str) -> Outcome | None:
        label = f"{month}{f' site {site}' if site else ''}"
        attempts = await asyncio.to_thread(_mark_running, self._db, month, site, self.clock())
        out_dir = out_dir_for(
            self.schedule, self.config.data_dir, self.config.base_dir, month, site
        )
        log.info("reports: producing %s into %s (attempt %d)", label, out_dir, attempts)
        try:
            result = await self._generate(month, site, out_dir, label)
            event = ev.ReportPublished(
                "",
                self.clock(),
                month=month,
                site=site or None,
                files=list(result["files"]),
                summary=str(result.get("summary") or ""),
                receivers=list(self.schedule.receivers),
            )
            await self.journal.commit([event])  # marks the run done, atomically
        except Exception as exc:  # whatever it is, it is recorded and retried, never fatal
            if self._stop.is_set():
                log.info("reports: %s interrupted by the stop; redone at the next start", label)
                return None
            if not isinstance(exc, ReportJobError | JournalError | OSError):
                log.exception("reports: %s failed unexpectedly", label)
            return await self._failed(month, site, label, attempts, _reason(exc))
        log.info("reports: %s published (%d files)", label, len(event.files))
        if self._runs is not None:
            self._runs.labels("done").inc()
        return Outcome(month, site, "done", tuple(event.files))

    async def _failed(
        self, month: str, site: str, label: str, attempts: int, error: str
    ) -> Outcome:
        error = error[-MAX_ERROR_CHARS:]
        state = FAILED if attempts >= self.schedule.max_attempts else ERROR
        await asyncio.to_thread(_mark_failed, self._db, month, site, state, error, self.clock())
        if state == FAILED:
            log.error(
                "reports: %s failed %d times, giving up (produce it by hand with "
                "`chargewatch report monthly --month %s`): %s",
                label,
                attempts,
                month,
                error,
            )
        else:
            log.error(
                "reports: %s failed (attempt %d of %d), retried in %.0f min: %s",
                label,
                attempts,
                self.schedule.max_attempts,
                self.schedule.retry_after / 60,
                error,
            )
        if self._runs is not None:
            self._runs.labels(state).inc()
        return Outcome(month, site, state, error=error)

    async def _generate(
        self, month: str, site: str, out_dir: Path, label: str
    ) -> dict[str, object]:
        """Run the job; its result (files, summary) or ReportJobError."""
        await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
        cmd = self.command(month, site or None, out_dir)
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._proc = proc
        tail: deque[str] = deque(maxlen=STDERR_TAIL)

        async def follow_stderr() -> None:
            assert proc.stderr is not None
            async for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                tail.append(line)
                log.info("reports: %s: %s", label, line)

        assert proc.stdout is not None
        try:
            stdout, _, _ = await asyncio.wait_for(
                asyncio.gather(proc.stdout.read(), follow_stderr(), proc.wait()),
                self.schedule.timeout,
            )
        except TimeoutError:
            raise ReportJobError(f"no report within {self.schedule.timeout:g} s") from None
        finally:
            self._proc = None
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
        if proc.returncode != 0:
            raise ReportJobError(f"exit status {proc.returncode}: " + "\n".join(tail))
        return await asyncio.to_thread(_result, stdout.decode(errors="replace"))


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ReportJobError) else f"{type(exc).__name__}: {exc}"


def _result(stdout: str) -> dict[str, object]:
    """The job's result line, with every file it names present."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_MARKER)]
    if not lines:
        raise ReportJobError("the report job printed no result")
    try:
        result = json.loads(lines[-1].removeprefix(RESULT_MARKER))
        files = [str(f) for f in result["files"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ReportJobError(f"the report job's result is unreadable: {exc!r}") from None
    missing = [f for f in files if not Path(f).is_file()]
    if not files or missing:
        raise ReportJobError(f"the report job named files that are not there: {missing}")
    return {**result, "files": files}


# ---- report_runs ---------------------------------------------------------------------------
def _load(conn: sqlite3.Connection) -> tuple[dict[tuple[str, str], Run], float | None]:
    """Every run, and the time of the first journal event (None: an empty journal)."""
    rows = conn.execute(
        "SELECT month, site, state, started, finished, attempts, error FROM report_runs"
    ).fetchall()
    first = conn.execute("SELECT ts FROM journal ORDER BY seq LIMIT 1").fetchone()
    return {(r[0], r[1]): Run(*r) for r in rows}, None if first is None else first[0]


def _mark_running(conn: sqlite3.Connection, month: str, site: str, now: float) -> int:
    """Record the start of an attempt; its number."""
    row = conn.execute(
        "INSERT INTO report_runs (month, site, state, started, attempts) VALUES (?,?,?,?,1) "
        "ON CONFLICT (month, site) DO UPDATE SET state=excluded.state, "
        "started=excluded.started, finished=NULL, error=NULL, attempts=attempts+1 "
        "RETURNING attempts",
        (month, site, RUNNING, now),
    ).fetchone()
    return int(row[0])


def _mark_failed(
    conn: sqlite3.Connection, month: str, site: str, state: str, error: str, now: float
) -> None:
    conn.execute(
        "UPDATE report_runs SET state=?, error=?, finished=? WHERE month=? AND site=?",
        (state, error, now, month, site),
    )
