"""Runs the notifier inside `chargewatch run`: a journal consumer with its own cursor.

It feeds the journal's alert transitions, acknowledgements and silences to the dispatcher
at their journal time, lets wall-clock time pass when it has caught up, renders each
notification once per target, and writes the outbox rows together with the dispatcher's
snapshot and cursor in one transaction. The delivery worker takes it from there.

Restart: the snapshot is restored and the journal replayed from its position; whatever was
decided before the crash is in the outbox already and is not decided again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from chargewatch import events as ev
from chargewatch import store
from chargewatch.alerts import Alert
from chargewatch.journal import Journal, wait_any
from notifier import store as nstore
from notifier.config import NotificationsConfig
from notifier.delivery import DeliveryWorker
from notifier.dispatcher import dispatcher_for
from notifier.drivers import RECEIVER_PREFIX, Driver, DriverNotifier, public_name
from notifier.model import DRIVER, TEST, AlertInfo, Channel, Notification
from notifier.report_notices import report_notifications
from notifier.silences import Silence
from notifier.targets import kind_of, redact
from notifier.templates import render

log = logging.getLogger("chargewatch.notifier")

READ_BATCH = 1000
IDLE_WAKE_S = 1.0
CAUGHT_UP_WAIT_S = 5.0  # an API change waits this long at most to be in effect
SAVE_EVERY_S = 5.0  # dispatcher state without new notifications is saved at most this often
KINDS = frozenset({"alert", "alert_ack", "alert_unack", "silence"})  # for the dispatcher
DRIVER_KINDS = frozenset({"session_started", "session_stopped", "status", "driver"})
REPORT_KINDS = frozenset({"report"})  # monthly reports: straight to their receivers
TRIED_KINDS = frozenset({"remediation"})  # self-healing attempts, shown with their alert
TRIED_KEPT = 3  # per alert: the last attempts a notification names


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "chargewatch_notifications",
            "Notifications decided, by receiver and reason (new, update, repeat, ...).",
            ["receiver", "reason"],
            registry=registry,
        )
        self.backlog = Gauge(
            "chargewatch_notifier_backlog_events",
            "Journal events the notifier has not looked at yet.",
            registry=registry,
        )
        self.errors = Counter(
            "chargewatch_notifier_errors",
            "Failures of the notifier loop (logged with a traceback, retried).",
            registry=registry,
        )


class NotifierRunner:
    def __init__(
        self,
        cfg: NotificationsConfig,
        journal: Journal,
        channels: Mapping[str, Channel],
        registry: CollectorRegistry,
        tz_of_site: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        site_of: Mapping[str, str] | None = None,
    ) -> None:
        self.cfg, self.journal, self.clock = cfg, journal, clock
        self.dispatcher = dispatcher_for(cfg)
        self.drivers = DriverNotifier(
            {
                d.id_tag: Driver(d.id_tag, d.name, tuple(d.targets), frozenset(d.notify), True)
                for d in cfg.drivers
            },
            cfg.driver_idle_warning_after,
            site_of,
            tz_of_site,
            cfg.driver_fault_grace,
        )
        self.receivers = {r.name: r for r in cfg.receivers}
        self.tz_of_site = dict(tz_of_site or {})
        self.metrics = NotifierMetrics(registry)
        self.metrics.backlog.set_function(lambda: max(0, self.journal.last_seq - self.position))
        self._db = store.open_reader(journal.path)
        self.delivery = DeliveryWorker(
            cfg.delivery, store.open_reader(journal.path), channels, registry, clock
        )
        self.position = 0
        self._saved_at = 0.0
        self._dirty = False
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # the runner's connection: one user at a time
        self._progress = asyncio.Condition()  # notified after each journal batch
        self._tried: dict[str, list[str]] = {}  # alert fingerprint -> what self-healing tried

    async def start(self) -> None:
        saved = await asyncio.to_thread(nstore.load_snapshot, self._db)
        restored = False
        if saved is not None:
            try:
                data = json.loads(saved[1])
                self.dispatcher.restore(data["dispatcher"])
                self.drivers.restore(data["drivers"])
                self._tried = {k: list(v) for k, v in (data.get("tried") or {}).items()}
                self.position, restored = saved[0], True
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("notifier: snapshot not usable (%s); starting afresh", exc)
        if not restored:
            await self._start_afresh()
        while await self._step():
            pass
        await self.delivery.start()
        self._task = asyncio.create_task(self._run(), name="notifier")
        log.info(
            "notifier: %d receivers, %d alerts in %d groups, from journal event %d",
            len(self.receivers),
            len(self.dispatcher.alerts),
            len(self.dispatcher.groups),
            self.position,
        )

    async def _start_afresh(self) -> None:
        """No notifier state (a data dir from before the notifier, or a snapshot this
        version cannot read): replaying the whole journal would re-send its history, so
        start at its end and tell about what is firing now, once."""
        self.position = self.journal.last_seq
        now = self.clock()
        firing = await asyncio.to_thread(nstore.firing_alerts, self._db)
        out: list[Notification] = []
        for row in firing:
            out += self.dispatcher.alert(_info_of_row(row), now)
        self._dirty = True
        await self._commit(out, force=True)
        if firing or self.position:
            log.info(
                "notifier: first start on a journal of %d events: %d alerts firing now",
                self.position,
                len(firing),
            )

    async def stop(self) -> None:
        self._stop.set()
        try:
            if self._task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            while await self._step():  # the rules' last transitions (the stop's disconnects)
                pass
            await self._commit([], force=True)
        except Exception:
            log.exception("notifier: final save failed; the next start replays more journal")
        finally:
            await self.delivery.stop()
            self._db.close()
            self.delivery.close()

    async def caught_up(self, seq: int) -> None:
        """Until the journal up to `seq` has been looked at (an API change is then in
        effect), or CAUGHT_UP_WAIT_S."""
        async with self._progress:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._progress.wait_for(lambda: self.position >= seq), CAUGHT_UP_WAIT_S
                )

    def external_alerts(self) -> list[Alert]:
        """Firing alerts that came in through the Alertmanager webhook (the rule engine
        lists its own), so the API lists and acknowledges them too."""
        return [
            Alert(
                fingerprint=a.fingerprint,
                rule=a.alertname,
                severity=a.severity,
                labels=a.labels,
                state=a.state,
                active_since=a.starts_at,
                fired_at=a.starts_at,
                value=a.value,
                annotations=a.annotations,
                runbook_url=a.runbook_url,
                acknowledged_by=a.acknowledged_by,
                acknowledged_at=a.acknowledged_at,
            )
            for a in list(self.dispatcher.alerts.values())
            if a.source == "alertmanager" and a.state == "firing"
        ]

    async def send_test(self, receiver: str, by: str = "") -> list[int]:
        """Queue a test notification to every target of a receiver; the outbox ids."""
        text = "This is a test notification from ChargeWatch"
        text += f", sent by {by}." if by else "."
        n = Notification(receiver, f"test:{receiver}", {}, TEST, self.clock(), text=text)
        ids = await self._write(self._rows(n), None, None)
        self.delivery.wake()
        return ids

    # ---- the loop ----------------------------------------------------------------------
    async def _run(self) -> None:
        new_data = self.journal.listen()
        while not self._stop.is_set():
            try:
                new_data.clear()
                if not await self._step():
                    now = self.clock()
                    dues = (self.dispatcher.next_due(), self.drivers.next_due())
                    due = [d for d in dues if d is not None]
                    out = self.dispatcher.advance(now) + self.drivers.advance(now)
                    # state changes only when a timer fires: an idle notifier writes nothing
                    self._dirty = self._dirty or any(d <= now for d in due)
                    await self._commit(out)
                    await self._wait(new_data)
            except Exception:
                log.exception("notifier: failed; retrying")
                self.metrics.errors.inc()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), IDLE_WAKE_S)

    async def _wait(self, new_data: asyncio.Event) -> None:
        timeout = IDLE_WAKE_S
        dues = [d for d in (self.dispatcher.next_due(), self.drivers.next_due()) if d is not None]
        if dues:
            timeout = min(timeout, max(0.0, min(dues) - self.clock()))
        await wait_any([new_data, self._stop], timeout)

    async def _step(self) -> bool:
        """Feed one batch of journal events; False when there was none."""
        async with self._lock:
            rows = await asyncio.to_thread(
                store.read_journal_raw, self._db, self.position, READ_BATCH
            )
        if not rows:
            return False
        out: list[Notification] = []
        for seq, kind, data in rows:
            wanted = kind in KINDS or kind in REPORT_KINDS or kind in TRIED_KINDS
            if wanted or (kind in DRIVER_KINDS and self._drivers_care(kind)):
                try:
                    out += self._feed(ev.event_from_dict(kind, json.loads(data)))
                except (KeyError, TypeError, ValueError) as exc:
                    log.error(
                        "notifier: journal event %d (%s) unusable, skipped: %r", seq, kind, exc
                    )
                    self.metrics.errors.inc()
        self.position = rows[-1][0]
        self._dirty = True
        await self._commit(out)
        async with self._progress:
            self._progress.notify_all()
        return True

    def _with_tried(self, info: AlertInfo) -> AlertInfo:
        """The alert with what self-healing tried for it (rules/healer.py) as its
        `remediation` annotation; forgotten once the alert has ended."""
        tried = self._tried.get(info.fingerprint)
        if info.state not in ("pending", "firing"):
            self._tried.pop(info.fingerprint, None)
        if not tried:
            return info
        text = "tried: " + "; ".join(tried)
        return dataclasses.replace(info, annotations={**info.annotations, "remediation": text})

    def _drivers_care(self, kind: str) -> bool:
        """Status reports matter only while a registered driver's car is at a charger."""
        return kind != "status" or bool(self.drivers.visits)

    def _feed(self, event: ev.Event) -> list[Notification]:
        if event.kind in DRIVER_KINDS:
            return self.drivers.event(event)
        if isinstance(event, ev.ReportPublished):
            return report_notifications(event)
        d = self.dispatcher
        if isinstance(event, ev.AlertChanged):
            return d.alert(self._with_tried(_info(event)), event.ts)
        if isinstance(event, ev.RemediationTried):
            tried = self._tried.setdefault(event.fingerprint, [])
            tried[:] = [*tried, event.summary][-TRIED_KEPT:]
            return []
        if isinstance(event, ev.AlertAcknowledged):
            return d.acknowledge(event.fingerprint, event.by, event.ts)
        if isinstance(event, ev.AlertUnacknowledged):
            return d.acknowledge(event.fingerprint, None, event.ts)
        if isinstance(event, ev.SilenceSet):
            silence = Silence(
                event.id,
                tuple(event.matchers),
                event.starts_at,
                event.ends_at,
                event.created_by,
                event.comment,
            )
            return d.silence(silence, event.ts)
        return []

    async def _commit(self, out: list[Notification], force: bool = False) -> None:
        now = self.clock()
        if not (out or force or (self._dirty and now - self._saved_at >= SAVE_EVERY_S)):
            return
        rows = [row for n in out for row in self._rows(n)]
        state = {
            "dispatcher": self.dispatcher.snapshot(),
            "drivers": self.drivers.snapshot(),
            "tried": self._tried,
        }
        # encoded off the event loop: with many active alerts it takes milliseconds (the
        # snapshot holds copies; the alerts' label dicts are never changed in place)
        snapshot = await asyncio.to_thread(json.dumps, state, separators=(",", ":"))
        await self._write(rows, self.position, snapshot)
        self._dirty, self._saved_at = False, now
        for n in out:
            who = public_name(n.receiver)
            self.metrics.notifications.labels(who, n.reason).inc()
            if n.reason != DRIVER:  # a driver's session is nobody's business in the log
                log.info(
                    "notify %s (%s): %d firing, %d resolved, group %s",
                    who,
                    n.reason,
                    len(n.firing),
                    len(n.resolved),
                    n.group_key,
                )
        if rows:
            self.delivery.wake()

    async def _write(
        self, rows: list[nstore.OutboxRow], seq: int | None, snapshot: str | None
    ) -> list[int]:
        async with self._lock:
            return await asyncio.to_thread(
                nstore.commit, self._db, rows, seq, snapshot, self.clock()
            )

    def _rows(self, n: Notification) -> list[nstore.OutboxRow]:
        """One outbox row per target of the receiver, each rendered for its channel."""
        if n.receiver.startswith(RECEIVER_PREFIX):
            driver = self.drivers.driver(n.receiver.removeprefix(RECEIVER_PREFIX))
            targets = driver.targets if driver is not None else ()
        else:
            receiver = self.receivers.get(n.receiver)
            targets = tuple(receiver.targets) if receiver is not None else ()
        if not targets:
            log.error(
                "notifier: no receiver %r; a %s notification dropped",
                public_name(n.receiver),
                n.reason,
            )
            return []
        tz = self._tz(n)
        out = []
        for target in targets:
            kind = kind_of(target)
            message = render(n, kind, dashboard_url=self.cfg.dashboard_url, tz=tz)
            out.append(
                nstore.OutboxRow(
                    n.receiver,
                    target,
                    redact(target),
                    kind,
                    n.reason,
                    n.group_key,
                    json.dumps(message.to_dict()),
                )
            )
        return out

    def _tz(self, n: Notification) -> str:
        """Times in the site's own time zone when the notification is about one site."""
        sites = {a.labels.get("site") for a in (*n.firing, *n.resolved)} | {
            n.group_labels.get("site")
        }
        sites.discard(None)
        sites.discard("")
        if len(sites) == 1:
            return self.tz_of_site.get(sites.pop(), "UTC")  # type: ignore[arg-type]
        return "UTC"


def _info_of_row(row: dict[str, Any]) -> AlertInfo:
    labels = row["labels"]
    return AlertInfo(
        fingerprint=row["fingerprint"],
        alertname=row["rule"],
        severity=row["severity"],
        state="firing",
        labels=labels,
        annotations=row["annotations"],
        starts_at=row["fired_at"] or row["active_since"] or 0.0,
        value=row["value"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        runbook_url=row["runbook_url"],
        source="alertmanager" if labels.get("source") == "alertmanager" else "rules",
        explained_by=row["explained_by"],
    )


def _info(e: ev.AlertChanged) -> AlertInfo:
    labels = dict(e.labels or {})
    return AlertInfo(
        fingerprint=e.fingerprint,
        alertname=e.rule,
        severity=e.severity,
        state=e.state,
        labels=labels,
        annotations=dict(e.annotations or {}),
        starts_at=e.fired_at or e.active_since or e.ts,
        ends_at=e.ts if e.state == "resolved" else None,
        value=e.value,
        acknowledged_by=e.acknowledged_by,
        acknowledged_at=e.acknowledged_at,
        runbook_url=e.runbook_url,
        source="alertmanager" if labels.get("source") == "alertmanager" else "rules",
        explained_by=e.explained_by,
    )
