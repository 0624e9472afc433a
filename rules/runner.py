"""Runs the rule engine inside `chargewatch run`: a journal consumer with its own cursor.

It feeds every journal event to the engine at the event's receive time, lets time pass
(`advance`) to the wall clock minus `evaluation_delay` when it has caught up, and journals
the transitions as `AlertChanged` events: the journal writer projects them into the
`alerts` and `alert_history` tables in the same transaction, and the InfluxDB shipper and
the notifier follow them from the journal like any other event.

Restart: the engine's state is snapshotted every `snapshot_interval` with the journal
position it includes. On start the snapshot is restored and the journal replayed from
there; transitions the history already holds (the replay of what happened before the
crash) are not journaled again, so resolved alerts do not re-fire and pending ones keep
their original start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from chargewatch import alert_store, store
from chargewatch import events as ev
from chargewatch.alerts import Alert, Transition
from chargewatch.config import RulesConfig
from chargewatch.journal import Journal, wait_any
from rules.engine import IGNORED, Engine

log = logging.getLogger(__name__)

CONSUMER = "rules"
READ_BATCH = 1000
PROGRESS_EVERY_S = 5.0  # while catching up on a long journal at start
IDLE_WAKE_S = 1.0  # when idle, time still passes: check timers at least this often
SKIP = IGNORED  # kinds the engine does nothing with: not even decoded


class RuleMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "chargewatch_rules_events", "Journal events evaluated by the rules.", registry=registry
        )
        self.transitions = Counter(
            "chargewatch_rules_transitions",
            "Alert transitions, by the state entered.",
            ["state"],
            registry=registry,
        )
        self.backlog = Gauge(
            "chargewatch_rules_backlog_events",
            "Journal events the rule engine has not evaluated yet.",
            registry=registry,
        )
        self.snapshot_seconds = Histogram(
            "chargewatch_rules_snapshot_seconds",
            "Time to snapshot the engine state (encode and write).",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.snapshot_bytes = Gauge(
            "chargewatch_rules_snapshot_bytes", "Size of the last snapshot.", registry=registry
        )
        self.errors = Counter(
            "chargewatch_rules_errors",
            "Failures of the rule runner (logged with a traceback, retried).",
            registry=registry,
        )


class AlertsCollector(Collector):
    """`chargewatch_alerts{alertname, severity, state, ...labels} 1` per active alert,
    like Prometheus' own ALERTS series."""

    def __init__(self, runner: RuleRunner) -> None:
        self.runner = runner

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily(
            "chargewatch_alerts", "Active alerts (pending or firing), one series per alert."
        )
        for alert in self.runner.active():
            labels = {**alert.labels, "state": alert.state}
            family.add_sample("chargewatch_alerts", labels, 1.0)
        yield family


class RuleRunner:
    def __init__(
        self,
        engine: Engine,
        journal: Journal,
        cfg: RulesConfig,
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine, self.journal, self.cfg, self.clock = engine, journal, cfg, clock
        self.metrics = RuleMetrics(registry)
        self.metrics.backlog.set_function(lambda: max(0, self.journal.last_seq - self.position))
        registry.register(AlertsCollector(self))
        self._db = store.open_reader(journal.path)
        self.position = 0  # the last journal seq the engine has seen
        self._saved = -1  # the position last saved as the "rules" cursor
        self._snapshot_at = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._view: list[Alert] = []

    async def start(self) -> None:
        """Restore the last snapshot and catch up on the journal before serving."""
        saved = await asyncio.to_thread(alert_store.read_rule_snapshot, self._db)
        now = self.clock()
        if saved is not None:
            position, data = saved
            try:
                restored = self.engine.restore(json.loads(data), now)
            except ValueError as exc:
                # rebuilt from the whole journal; transitions already recorded are skipped
                log.warning("rules: snapshot not usable (%s); replaying the journal", exc)
            else:
                self.position = position
                await self._publish(restored)
        await self._catch_up()
        # the journal ends where the last run stopped: its gap until now was ours
        self.engine.resume(now)
        self._snapshot_at = self.clock()
        self._task = asyncio.create_task(self._run(), name="rule-runner")
        log.info(
            "rules: %d rules, %d active alerts, from journal event %d",
            len(self.engine.rules),
            len(self.engine.active()),
            self.position,
        )

    async def stop(self) -> None:
        self._stop.set()
        try:
            if self._task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            await self._snapshot()
        except Exception:
            log.exception("rules: final snapshot failed; the next start replays more journal")
        finally:
            self._db.close()

    def active(self) -> list[Alert]:
        """The active alerts as of the last evaluation: a list other threads may read
        (the /metrics endpoint renders in a worker thread)."""
        return self._view

    # ---- the loop ----------------------------------------------------------------------
    async def _catch_up(self) -> None:
        """Evaluate the journal written since the snapshot, saying how far it got when that
        takes a while (the first start over a large existing journal)."""
        started, last_said = time.monotonic(), time.monotonic()
        while await self._step():
            if time.monotonic() - last_said >= PROGRESS_EVERY_S:
                last_said = time.monotonic()
                log.info(
                    "rules: catching up on the journal, event %d of %d (%.0f s)",
                    self.position,
                    self.journal.last_seq,
                    last_said - started,
                )

    async def _step(self) -> bool:
        """Evaluate one batch of journal events; False when there was none."""
        rows = await asyncio.to_thread(store.read_journal_raw, self._db, self.position, READ_BATCH)
        if not rows:
            return False
        out: list[Transition] = []
        for seq, kind, data in rows:
            if kind not in SKIP:
                try:
                    event = ev.event_from_dict(kind, json.loads(data))
                except (KeyError, TypeError, ValueError) as exc:
                    log.error(
                        "rules: journal event %d (%s) unreadable, skipped: %r", seq, kind, exc
                    )
                    self.metrics.errors.inc()
                    continue
                out.extend(self.engine.process(event))
                self.metrics.events.inc()
        self.position = rows[-1][0]
        await self._publish(out)
        return True

    async def _run(self) -> None:
        new_data = self.journal.listen()
        while not self._stop.is_set():
            try:
                new_data.clear()
                if not await self._step():
                    await self._publish(
                        self.engine.advance(self.clock() - self.cfg.evaluation_delay)
                    )
                    await self._wait(new_data)
                if self.clock() - self._snapshot_at >= self.cfg.snapshot_interval:
                    await self._snapshot()
            except Exception:
                log.exception("rules: evaluation failed; retrying")
                self.metrics.errors.inc()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), IDLE_WAKE_S)

    async def _wait(self, new_data: asyncio.Event) -> None:
        """Until new events, the next timer, or IDLE_WAKE_S, whichever comes first."""
        timeout = IDLE_WAKE_S
        due = self.engine.next_due()
        if due is not None:
            timeout = min(timeout, max(0.0, due + self.cfg.evaluation_delay - self.clock()))
        await wait_any([new_data, self._stop], timeout)

    async def _publish(self, transitions: list[Transition]) -> None:
        """Journal the transitions the history does not hold yet; then save the cursor."""
        self._view = self.engine.active()
        if transitions:
            fresh = await asyncio.to_thread(self._unknown, transitions)
            for t in fresh:
                self.metrics.transitions.labels(t.alert.state).inc()
            if fresh:
                await self.journal.commit([_event(t) for t in fresh])
        if self.position != self._saved:
            await asyncio.to_thread(
                store.save_cursor, self._db, CONSUMER, self.position, self.clock()
            )
            self._saved = self.position

    def _unknown(self, transitions: list[Transition]) -> list[Transition]:
        return [
            t
            for t in transitions
            if not alert_store.alert_transition_known(
                self._db, t.alert.fingerprint, t.alert.state, t.previous, t.at
            )
        ]

    async def _snapshot(self) -> None:
        started = time.perf_counter()
        data = json.dumps(self.engine.snapshot(), separators=(",", ":"))
        await asyncio.to_thread(
            alert_store.save_rule_snapshot, self._db, self.position, data, self.clock()
        )
        self._snapshot_at = self.clock()
        self.metrics.snapshot_seconds.observe(time.perf_counter() - started)
        self.metrics.snapshot_bytes.set(len(data))


def _event(t: Transition) -> ev.AlertChanged:
    a = t.alert
    return ev.AlertChanged(
        charger_id="",  # not a charger's event: per-charger journal reads skip it
        ts=t.at,
        fingerprint=a.fingerprint,
        rule=a.rule,
        severity=a.severity,
        state=a.state,
        previous=t.previous,
        labels=a.labels,
        annotations=a.annotations,
        value=a.value,
        active_since=a.active_since,
        fired_at=a.fired_at,
        explained_by=a.explained_by,
        acknowledged_by=a.acknowledged_by,
        acknowledged_at=a.acknowledged_at,
        runbook_url=a.runbook_url,
    )
