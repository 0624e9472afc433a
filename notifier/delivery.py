"""The delivery worker: takes due rows from the outbox and hands them to their channels.

Per target, messages go out one at a time in the order they were decided; different
targets are delivered concurrently (`delivery.concurrency`), so an SMTP server that is down
holds back only its own messages. A failed attempt is retried with exponential backoff and
jitter up to `retry_max_delay`; a permanent failure (a refused number) or a message still
undelivered after `give_up_after` is marked failed. Every attempt is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from notifier import store as nstore
from notifier.config import DeliveryConfig
from notifier.drivers import public_name
from notifier.model import Channel, DeliveryError, Message

log = logging.getLogger("chargewatch.notifier")

BACKOFF_START_S = 1.0
IDLE_WAKE_S = 1.0
PRUNE_EVERY_S = 600.0
DRAIN_BATCH = 50  # messages of one target read at a time


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "chargewatch_notification_attempts",
            "Delivery attempts, by receiver, channel and result (sent, retry, failed).",
            ["receiver", "channel", "result"],
            registry=registry,
        )
        self.seconds = Histogram(
            "chargewatch_notification_delivery_seconds",
            "Duration of one delivery attempt.",
            ["channel"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.pending = Gauge(
            "chargewatch_notification_outbox_pending",
            "Messages in the outbox not yet delivered (waiting or being retried).",
            registry=registry,
        )


class DeliveryWorker:
    def __init__(
        self,
        cfg: DeliveryConfig,
        conn: sqlite3.Connection,
        channels: Mapping[str, Channel],
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg, self._db, self.channels, self.clock = cfg, conn, channels, clock
        self.metrics = DeliveryMetrics(registry)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._busy: dict[str, asyncio.Task[None]] = {}  # target -> its delivery task
        self._slots = asyncio.Semaphore(cfg.concurrency)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the shared connection
        self._pruned_at = 0.0

    async def start(self) -> None:
        resumed = await self._sql(nstore.resume_interrupted, self._db)
        if resumed:
            log.warning(
                "notifier: %d deliveries were interrupted by a crash and are sent again; "
                "their receivers may get them twice",
                resumed,
            )
        self._task = asyncio.create_task(self._run(), name="notification-delivery")

    def wake(self) -> None:
        """New rows are in the outbox."""
        self._wake.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking rows; attempts under way get `grace` seconds to finish (else they are
        `sending` and go out again after the next start)."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        busy = list(self._busy.values())
        if busy:
            _, late = await asyncio.wait(busy, timeout=grace)
            for task in late:
                task.cancel()

    def close(self) -> None:
        self._db.close()

    async def _sql(self, fn, *args):  # type: ignore[no-untyped-def]
        async with self._lock:
            return await asyncio.to_thread(fn, *args)

    # ---- the loop ----------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self._dispatch_due()
                self.metrics.pending.set(await self._sql(nstore.pending, self._db))
                await self._prune()
                wait = IDLE_WAKE_S
                # a busy target's own task drains it and wakes us when done: not ours to poll
                upcoming = await self._sql(nstore.next_attempt, self._db, list(self._busy))
                if upcoming is not None:
                    wait = min(wait, max(0.0, upcoming - self.clock()))
            except Exception:
                log.exception("notifier: delivery loop failed; retrying")
                wait = IDLE_WAKE_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _prune(self) -> None:
        now = self.clock()
        if now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        gone = await self._sql(nstore.prune, self._db, now - self.cfg.retention)
        if gone:
            log.info("notifier: forgot %d delivered messages past the retention", gone)

    async def _dispatch_due(self) -> None:
        """One task per target with messages due, unless it has one already."""
        targets = await self._sql(nstore.due_targets, self._db, self.clock())
        for target in targets:
            if target in self._busy:
                continue
            task = asyncio.create_task(self._drain(target), name=f"deliver:{target[:40]}")
            self._busy[target] = task
            task.add_done_callback(lambda _t, target=target: self._done(target))

    def _done(self, target: str) -> None:
        self._busy.pop(target, None)
        self._wake.set()  # more may have come due for this target meanwhile

    async def _drain(self, target: str) -> None:
        """One target's due messages in order, until none is due; after a failure the
        rest wait for the retry (they were postponed with it)."""
        async with self._slots:
            while not self._stop.is_set():
                queue = await self._sql(nstore.due, self._db, self.clock(), DRAIN_BATCH, target)
                if not queue:
                    return
                for item in queue:
                    if self._stop.is_set():
                        return
                    try:
                        if not await self._deliver(item):
                            return
                    except Exception:  # the store, most likely: the message waits, not lost
                        log.exception("notifier: delivery of outbox %d failed; retried", item.id)
                        with contextlib.suppress(Exception):
                            await self._sql(nstore.release, self._db, item, self.clock() + 5)
                        return

    async def _deliver(self, item: nstore.OutboxItem) -> bool:
        """One attempt; True when it was delivered (or failed for good)."""
        channel = self.channels.get(item.channel)
        await self._sql(nstore.mark_sending, self._db, item)
        started = time.perf_counter()
        error: DeliveryError | None = None
        receipt = ""
        if channel is None:
            error = DeliveryError(f"no {item.channel} channel is configured", permanent=True)
        else:
            try:
                message = Message.from_dict(json.loads(item.message))
                receipt = await asyncio.wait_for(
                    asyncio.to_thread(channel.send, item.target, message), self.cfg.timeout
                )
            except DeliveryError as exc:
                error = exc
            except TimeoutError:
                error = DeliveryError(f"no answer within {self.cfg.timeout:g} s")
            except Exception as exc:  # a channel bug must not stop the others
                log.exception("notifier: %s channel failed unexpectedly", item.channel)
                error = DeliveryError(f"internal error: {type(exc).__name__}")
        duration = time.perf_counter() - started
        self.metrics.seconds.labels(item.channel).observe(duration)
        now = self.clock()
        if error is None:
            result, next_at = "sent", None
            if item.resumed:
                log.warning(
                    "notifier: outbox %d to %s re-sent after a crash (possible duplicate)",
                    item.id,
                    item.target_label,
                )
        elif error.permanent or now - item.created >= self.cfg.give_up_after:
            result, next_at = "failed", None
            log.error(
                "notifier: giving up on outbox %d to %s (%s): %s",
                item.id,
                item.target_label,
                public_name(item.receiver),
                error.reason,
            )
        else:
            result = "retry"
            delay = min(self.cfg.retry_max_delay, BACKOFF_START_S * 2**item.attempts)
            next_at = now + random.uniform(delay / 2, delay)
            log.warning(
                "notifier: delivery to %s (%s) failed, retry %d in %.0f s: %s",
                item.target_label,
                public_name(item.receiver),
                item.attempts + 1,
                next_at - now,
                error.reason,
            )
        await self._sql(
            nstore.finish,
            self._db,
            item,
            result,
            now,
            duration,
            None if error is None else error.reason,
            receipt or None,
            next_at,
        )
        self.metrics.attempts.labels(public_name(item.receiver), item.channel, result).inc()
        return result != "retry"
