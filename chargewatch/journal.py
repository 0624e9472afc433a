"""Durable, group-committed journal: a charger gets its answer only after its events are on disk.

Handlers call `await journal.commit(events, message)`. Events are applied to the live
state at once and gathered into the open group; a single writer thread commits whole
groups, so while one commit is running the next group fills up and throughput grows with
load instead of paying one fsync per message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from chargewatch import events as ev
from chargewatch import store
from chargewatch.metrics import JournalMetrics
from chargewatch.state import Insert, LiveState, Upserts

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 600.0
RESPONSES_PER_CHARGER = 64  # retried message ids answered from the raw message log


class JournalError(RuntimeError):
    """The journal could not persist a group; the caller must not acknowledge it."""


@dataclass(slots=True)
class _Group:
    events: list[ev.Event] = field(default_factory=list)
    upserts: Upserts = field(default_factory=dict)
    inserts: list[Insert] = field(default_factory=list)
    messages: list[ev.RawMessage] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


class Journal:
    def __init__(
        self,
        path: Path,
        site_of: dict[str, str] | None = None,
        synchronous: str = "full",
        message_retention_s: float = 7 * 86400,
        metrics: JournalMetrics | None = None,
    ) -> None:
        self.path = path
        self._db = store.open_db(path, synchronous)
        self._site_of = site_of
        self.state: LiveState = store.load_state(self._db, site_of)
        self._retention = message_retention_s
        self._metrics = metrics
        self._group = _Group()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._last_prune = 0.0
        self.last_seq = store.last_seq(self._db)  # newest committed event
        self._listeners: list[asyncio.Event] = []
        # told which chargers' staged changes were rolled back (adapters drop their caches)
        self.on_rollback: list[Callable[[set[str]], None]] = []

    def listen(self) -> asyncio.Event:
        """An event set after every commit that added to the journal (consumers clear it)."""
        flag = asyncio.Event()
        self._listeners.append(flag)
        return flag

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self._writer = asyncio.create_task(self._run(), name="journal-writer")

    @property
    def running(self) -> bool:
        """True while the writer accepts and commits groups."""
        return self._writer is not None and not self._writer.done()

    async def close(self) -> None:
        """Commit what is pending, then stop the writer and close the database."""
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
        self._executor.shutdown(wait=True)
        self._db.close()

    # ---- writes ------------------------------------------------------------------------
    def stage(self, events: list[ev.Event], message: ev.RawMessage | None = None) -> None:
        """Apply events to the live state and add them to the open group (no waiting)."""
        group = self._group
        for event in events:
            self.state.apply(event, group.upserts, group.inserts)
            group.events.append(event)
        if message is not None:
            group.messages.append(message)
        self._wake.set()

    async def commit(self, events: list[ev.Event], message: ev.RawMessage | None = None) -> None:
        """Stage events and wait until they are durable. Raises JournalError on failure."""
        if self._closing and self._writer is not None and self._writer.done():
            raise JournalError("journal is closed")
        waiter = asyncio.get_running_loop().create_future()
        self._group.waiters.append(waiter)
        self.stage(events, message)
        await waiter

    async def recent_responses(self, charger_id: str) -> list[tuple[str, str]]:
        """Successful answers recently sent to a charger (for retried message ids).

        Runs on the writer thread: the connection is never used by two threads at once.
        """
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, store.recent_responses, self._db, charger_id, RESPONSES_PER_CHARGER
        )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            group = self._group
            if not (group.events or group.messages or group.waiters):
                if self._closing:
                    return
                continue
            self._group = _Group()
            started = time.perf_counter()
            try:
                await loop.run_in_executor(self._executor, self._write, group)
            except Exception as exc:
                log.exception("journal commit of %d events failed", len(group.events))
                if self._metrics:
                    self._metrics.commit_errors.inc()
                self._roll_back(group)
                error = JournalError(f"journal commit failed: {exc}")
                for waiter in group.waiters:
                    if not waiter.done():
                        waiter.set_exception(error)
            else:
                if self._metrics:
                    self._metrics.observe(len(group.events), time.perf_counter() - started)
                for waiter in group.waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                if group.events:
                    for flag in self._listeners:
                        flag.set()
            if self._closing:
                self._wake.set()  # drain whatever arrived during the last commit

    def _roll_back(self, failed: _Group) -> None:
        """Undo a failed group's effect on the live state, so the chargers' retries are
        processed as new (a retried StartTransaction must not be taken for a repeat of one
        that was never stored). The state is reloaded from the store in place (the adapters
        and the API hold it) and the group that filled meanwhile is applied on top again."""
        try:
            fresh = store.load_state(self._db, self._site_of)
        except Exception:
            log.exception("could not reload the state after a failed commit")
            return
        pending = self._group
        self.state.__dict__.update(fresh.__dict__)
        regroup = _Group(messages=pending.messages, waiters=pending.waiters)
        for event in pending.events:
            self.state.apply(event, regroup.upserts, regroup.inserts)
            regroup.events.append(event)
        self._group = regroup
        chargers = {e.charger_id for e in (*failed.events, *pending.events) if e.charger_id}
        for callback in self.on_rollback:
            callback(chargers)

    def _write(self, group: _Group) -> None:
        store.write(
            self._db,
            [store.encode_event(e) for e in group.events],
            group.upserts.values(),
            group.inserts,
            group.messages,
        )
        if group.events:
            self.last_seq = store.last_seq(self._db)
        now = time.time()
        if now - self._last_prune > min(PRUNE_EVERY_S, self._retention / 4):
            self._last_prune = now
            pruned = store.prune_messages(self._db, now - self._retention)
            if pruned:
                log.info("pruned %d raw messages older than the retention bound", pruned)


async def wait_any(flags: list[asyncio.Event], seconds: float) -> None:
    """Until one of the flags is set, or `seconds` pass: how journal consumers idle
    between new events, their next timer and a stop."""
    waits = [asyncio.ensure_future(flag.wait()) for flag in flags]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
