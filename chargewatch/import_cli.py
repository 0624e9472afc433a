"""`chargewatch import ocpp-log FILE...`: history from another central system's OCPP-J 1.6 logs.

Reads CSV or JSON Lines logs, checks every line, replays the charger calls through the live
adapter into a separate state and writes only history (status_history, connection_history,
sessions, import_journal): the current state and the journal its consumers follow are never
touched, so no rule fires and no one is notified about the past. Takes the data-dir lock, like
`chargewatch run`. Exit 0: every line imported (or already imported), 1: some lines were bad
(the rest is imported), 2: nothing imported (unusable file, config error, data dir in use).
See docs/import.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from chargewatch import store
from chargewatch.config import Config, ConfigError
from chargewatch.datadir import DataDirBusy, DataDirLock
from collector.history.ocpp_log import BadLine, LineChecker, LogFile, LogLine, UnusableInput
from collector.history.replay import Replayer, Tally, charger_actions
from collector.history.staging import Counts, Staging

COMMAND = "import"
STAGE_BATCH = 10_000
ERRORS_SHOWN = 200


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0 seconds")
    return value


def _interval(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0 (0: no progress lines)")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser("import", help="import history from other systems")
    kinds = imp.add_subparsers(dest="import_kind", required=True, metavar="KIND")
    log = kinds.add_parser(
        "ocpp-log",
        help="OCPP-J 1.6 message logs (CSV or JSON Lines) of another central system",
        description="Import timestamped OCPP-J 1.6 logs into the history tables (docs/import.md).",
    )
    log.add_argument("files", nargs="+", type=Path, metavar="FILE", help="CSV or JSON Lines logs")
    log.add_argument(
        "--format",
        choices=("csv", "jsonl"),
        help="format of every FILE (default: from the extension .csv / .jsonl / .ndjson)",
    )
    log.add_argument(
        "--offline-after",
        type=_seconds,
        metavar="SECONDS",
        help="a charger silent longer than this was down (default: 3 heartbeat intervals, "
        "the interval from its logged BootNotification answer, else 300 s)",
    )
    log.add_argument("--config", type=Path, help="chargewatch.yaml (default: built-in defaults)")
    log.add_argument("--data-dir", type=Path, help="the data dir to import into (default ./var)")
    log.add_argument(
        "--progress",
        type=_interval,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines on stderr (default 5; 0: none)",
    )
    log.add_argument(
        "--all-errors",
        action="store_true",
        help=f"print every bad line (default: the first {ERRORS_SHOWN} and a count)",
    )
    log.set_defaults(host=None, ocpp_port=None, http_port=None)  # for config_from_args


class Output:
    """Bad lines and progress on stderr, throttled."""

    def __init__(self, sources: list[str], interval: float, all_errors: bool, err: TextIO):
        self.sources, self._interval, self._all, self._err = sources, interval, all_errors, err
        self.shown = self.hidden = 0
        self._started = self._last = time.monotonic()

    def bad(self, src: int, line: int, reason: str) -> None:
        if self._all or self.shown < ERRORS_SHOWN:
            self.shown += 1
            print(f"{self.sources[src]}:{line}: {reason}", file=self._err, flush=True)
        else:
            self.hidden += 1

    def progress(self, phase: str, done: int) -> None:
        now = time.monotonic()
        if not self._interval or now - self._last < self._interval:
            return
        elapsed = now - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        print(
            f"[{elapsed:6.1f} s] {phase}: {done} lines, {rate:,.0f} lines/s",
            file=self._err,
            flush=True,
        )
        self._last = now


@dataclass
class Summary:
    """What an import did. Every line read is exactly one of imported, duplicate, skipped, bad."""

    db_path: Path
    read: int
    bad: int
    counts: Counts
    tally: Tally
    errors_hidden: int = 0

    @property
    def duplicates(self) -> int:
        return self.counts.duplicate_calls + self.counts.duplicate_answers

    @property
    def skipped_parts(self) -> dict[str, int]:
        t = self.tally
        return {
            "central-system calls": self.counts.csms_calls,
            "answers to them or to no logged call": self.counts.unpaired_answers,
            "calls answered with a CallError, and those answers": t.skipped_call_errors,
            "answers of bad calls": t.skipped_answers,
        }

    @property
    def skipped(self) -> int:
        return sum(self.skipped_parts.values())

    def lines(self) -> list[str]:
        t = self.tally
        calls = t.imported_lines - t.answers
        skipped = ", ".join(f"{n} {what}" for what, n in self.skipped_parts.items() if n)
        out = [
            f"import into {self.db_path}",
            f"  lines read   {self.read}",
            f"  imported     {t.imported_lines} ({calls} charger calls, {t.answers} answers)",
            f"  duplicates   {self.duplicates} (imported before, or repeated in the input)",
            f"  skipped      {self.skipped}" + (f" ({skipped})" if skipped else ""),
            f"  bad          {self.bad}"
            + (f" ({self.errors_hidden} not shown)" if self.errors_hidden else ""),
        ]
        if t.actions:
            out.append(
                "  actions      " + ", ".join(f"{a} {n}" for a, n in sorted(t.actions.items()))
            )
        out.append(f"  chargers     {len(t.chargers)}")
        out.append(f"  sessions     {t.sessions_started} started, {t.sessions_stopped} stopped")
        if t.first_ts is not None and t.last_ts is not None:
            out.append(f"  time range   {_iso(t.first_ts)} .. {_iso(t.last_ts)}")
        if t.imported_lines == 0 and self.duplicates:
            out.append("nothing new: every good line was imported before")
        return out


def main(args: argparse.Namespace) -> int:
    from chargewatch.cli import config_from_args

    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"chargewatch: config error: {exc}", file=sys.stderr)
        return 2
    out = Output([str(p) for p in args.files], args.progress, args.all_errors, sys.stderr)
    try:
        summary = import_logs(args.files, config, out, args.format, args.offline_after)
    except (UnusableInput, DataDirBusy) as exc:
        print(f"chargewatch import: {exc}; nothing was imported", file=sys.stderr)
        return 2
    print("\n".join(summary.lines()), flush=True)
    return 1 if summary.bad else 0


def import_logs(
    paths: list[Path],
    config: Config,
    out: Output,
    fmt: str | None = None,
    offline_after: float | None = None,
) -> Summary:
    """Check every file, then import them all under the data-dir lock.

    Raises UnusableInput (a file cannot be used: nothing imported) or DataDirBusy."""
    checker = LineChecker(charger_actions(), config.ocpp.max_frame_bytes)
    files = []
    for i, path in enumerate(paths):
        try:
            files.append(LogFile(path, i, fmt, checker))
        except UnusableInput as exc:
            raise UnusableInput(f"{path}: {exc}") from None
    lock = DataDirLock(config.data_dir)
    lock.acquire()
    db_path = config.data_dir / "chargewatch.db"
    db = store.open_db(db_path, config.storage.journal_sync)
    staging = Staging(db_path)
    try:
        read = bad_read = 0
        for f in files:
            batch: list[LogLine] = []
            for item in f.lines():
                read += 1
                if read % 1000 == 0:
                    out.progress(f"reading {f.path.name}", read)
                if type(item) is BadLine:
                    bad_read += 1
                    out.bad(*item)
                    continue
                batch.append(item)  # type: ignore[arg-type]
                if len(batch) >= STAGE_BATCH:
                    staging.add(batch)
                    batch = []
            staging.add(batch)
        counts = staging.prepare()
        replayer = Replayer(
            db,
            staging,
            out.sources,
            out.bad,
            offline_after,
            lambda n: out.progress("importing charger calls", n),
        )
        tally = replayer.run()
    finally:
        staging.close()
        db.close()
        lock.release()
    return Summary(db_path, read, bad_read + tally.bad, counts, tally, out.hidden)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
