"""The figures of bench/notify.py: latency series and their table, what the pipeline phase
stamps per fault, and the per-stage breakdown read back from the notifier's store.

Stage rows, per fault that arrived: fault sent -> CallResult (the collector's journal
commit); -> ConnectorFaulted journaled (the rule runner's commit, stamped by the benchmark);
-> outbox row `created` (the notifier); -> delivery starts (the notification log's `at`
minus `duration`); the send itself (`duration`); and the worker's own time between the end
of one send and the start of the next when the next was already waiting.
"""

from __future__ import annotations

import itertools
import math
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from load import percentile
from notify_smtp import Key


@dataclass
class Series:
    """Latencies of one path, in seconds, and how many were expected."""

    label: str
    expected: int
    values: list[float] = field(default_factory=list)

    def q(self, quantile: float) -> float:
        return percentile(sorted(self.values), quantile)

    @property
    def max(self) -> float:
        return max(self.values) if self.values else math.nan


def render_table(rows: list[Series], ratio_of: tuple[Series, Series] | None) -> list[str]:
    head = f"{'':44} {'count':>9} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9}"
    lines = [head]
    for s in rows:
        count = (
            f"{len(s.values)}" if len(s.values) == s.expected else f"{len(s.values)}/{s.expected}"
        )
        cells = [s.q(0.5), s.q(0.9), s.q(0.99), s.max]
        text = " ".join(f"{c * 1000:9.1f}" if s.values else f"{'-':>9}" for c in cells)
        lines.append(f"{s.label:44} {count:>9} {text}")
    if ratio_of is not None:
        a, b = ratio_of
        cells = [a.q(0.5) / b.q(0.5), a.q(0.9) / b.q(0.9), a.q(0.99) / b.q(0.99), a.max / b.max]
        lines.append(
            f"{'ratio pipeline / baseline':44} {'':>9} " + " ".join(f"{c:8.1f}x" for c in cells)
        )
    return lines


def deltas(sent: dict[Key, float], got: dict[Key, float]) -> list[float]:
    return [got[k] - t0 for k, t0 in sent.items() if k in got]


@dataclass
class PipelineRun:
    """What the pipeline phase measured: per fault, perf_counter and wall-clock stamps."""

    sent: dict[Key, float] = field(default_factory=dict)  # perf_counter just before send
    sent_wall: dict[Key, float] = field(default_factory=dict)  # time.time() at the same moment
    answered: dict[Key, float] = field(default_factory=dict)  # CallResult received (perf)
    alert_committed: dict[Key, float] = field(default_factory=dict)  # wall: firing journaled
    arrived: dict[Key, float] = field(default_factory=dict)  # SMTP has it (perf)
    cpu_s: float = 0.0  # this process (App + chargers + SMTP server) during the faults
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def delivery_stamps(db: Path) -> dict[Key, tuple[float, float, float]]:
    """Per fault, from the store: outbox row written, delivery started, delivery finished
    (wall clock; start = the log's `at` minus the attempt's duration)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT o.group_key, o.created, l.at, l.duration FROM outbox o "
            "JOIN notification_log l ON l.outbox_id = o.id "
            "WHERE o.receiver='noc' AND o.reason='new' AND l.result='sent' ORDER BY l.id"
        ).fetchall()
    finally:
        conn.close()
    out: dict[Key, tuple[float, float, float]] = {}
    for group_key, created, at, duration in rows:
        charger = re.search(r'charger="([^"]+)"', group_key)
        connector = re.search(r'connector="(\d+)"', group_key)
        if charger and connector:
            key = (charger.group(1), int(connector.group(1)))
            out.setdefault(key, (created, at - (duration or 0.0), at))
    return out


def stage_rows(run: PipelineRun, db: Path, n: int) -> list[Series]:
    """Where the pipeline's time goes, stage by stage, for the faults that arrived."""
    stamps = delivery_stamps(db)
    keys = [k for k in run.sent if k in run.arrived]
    s_answer = Series("  fault sent -> CallResult (journal commit)", n)
    s_alert = Series("  fault sent -> ConnectorFaulted journaled", n)
    s_decide = Series("  alert journaled -> outbox row (notifier)", n)
    s_queue = Series("  outbox row -> delivery starts (worker)", n)
    s_send = Series("  delivery: apprise send (start -> end)", n)
    for k in keys:
        t0w = run.sent_wall[k]
        if k in run.answered:
            s_answer.values.append(run.answered[k] - run.sent[k])
        alert = run.alert_committed.get(k)
        if alert is not None:
            s_alert.values.append(alert - t0w)
        if k in stamps:
            created, start, end = stamps[k]
            if alert is not None:
                s_decide.values.append(created - alert)
            s_queue.values.append(start - created)
            s_send.values.append(end - start)
    # the worker's own time between two e-mails to the target (the next one already waiting)
    s_gap = Series("  worker overhead between two sends", 0)
    ordered = sorted(stamps[k] for k in keys if k in stamps)
    ordered.sort(key=lambda stamp: stamp[1])
    for (_, _, end), (created, start, _) in itertools.pairwise(ordered):
        if created <= end:
            s_gap.values.append(start - end)
    s_gap.expected = len(s_gap.values)
    return [s_answer, s_alert, s_decide, s_queue, s_send, s_gap]
