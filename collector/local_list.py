"""Keep chargers' local authorisation lists in step with the idTag registry.

A charger holds a local list so it can decide offline (OCPP 1.6 section 3.4 Local
Authorization List, 2.0.1 D01 SendLocalList). When `ocpp.authorization.sync_local_lists`
is on, every connected charger whose list version differs from the registry's gets the
full list (1.6 SendLocalList updateType Full with listVersion, 2.0.1 with versionNumber):
once it has spoken on its connection (after BootNotification: a charger is not asked
anything before it has signed in), and again after every change of a tag.

What each charger last accepted is kept in the store (`local_list_sync`), so a restart
sends nothing to chargers that are up to date. A charger answering NotSupported, Failed
or VersionMismatch, or not answering, is recorded and left alone until the next change or
its next connection. Pushes go through the Commander, so each is journaled as a `command`
event by "local-list-sync", and run a few at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from chargewatch import store
from chargewatch.idtags import OCPP_STATUS, TagRegistry
from chargewatch.journal import Journal, wait_any
from collector import commander as cmd
from collector.commands import BadParams, Command, LocalListEntry, SendLocalList, Unsupported
from collector.pending import NotConnected
from collector.server import OcppServer

log = logging.getLogger(__name__)

BY = "local-list-sync"
SEND = "send-local-list"
CONCURRENT = 8  # pushes in flight at once (a fleet reconnecting after an outage)
PASS_EVERY_S = 0.5  # at most this often the connected chargers are looked through
IDLE_WAKE_S = 30.0  # and at least this often (a charger that spoke without a journaled event)
TIMEOUT_S = 60.0  # a long list takes a charger a while to store

SCHEMA = """
CREATE TABLE IF NOT EXISTS local_list_sync (
    charger_id TEXT PRIMARY KEY, version INTEGER NOT NULL, status TEXT NOT NULL,
    at REAL NOT NULL);
"""


def load(conn: sqlite3.Connection) -> dict[str, tuple[int, str]]:
    """Per charger: (the version last sent, how it answered)."""
    conn.executescript(SCHEMA)
    rows = conn.execute("SELECT charger_id, version, status FROM local_list_sync")
    return {cid: (version, status) for cid, version, status in rows}


def registry_list(registry: TagRegistry) -> SendLocalList:
    """The whole registry as a full list, at its version (read together, under its lock)."""
    tags, version = registry.snapshot()
    entries = [
        LocalListEntry(
            id_tag=t.id_tag,
            status=OCPP_STATUS[t.status],  # type: ignore[arg-type]
            expiry=t.expiry,
            parent_id=t.parent_id,
            token_type=t.token_type,
        )
        for t in tags
    ]
    return SendLocalList(by=BY, update_type="full", list_version=version, entries=entries)


class LocalListSync:
    """Pushes the registry to connected chargers whose list is older."""

    def __init__(
        self,
        registry: TagRegistry,
        server: OcppServer,
        journal: Journal,
        commander: cmd.Commander,
        db_path: Path,
    ) -> None:
        self.registry, self.server, self.journal = registry, server, journal
        self.commander, self.db_path = commander, db_path
        self.sent: dict[str, tuple[int, str]] = {}  # charger -> (version, answer status)
        self._tried: dict[str, tuple[int, float | None]] = {}  # (version, connected_since)
        self._busy: set[str] = set()
        self._slots = asyncio.Semaphore(CONCURRENT)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pushes: set[asyncio.Task[None]] = set()
        self._conn: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._conn = store.open_reader(self.db_path)
        self.sent = load(self._conn)
        self.registry.on_change.append(self._changed)
        self._task = asyncio.create_task(self._run(), name="local-list-sync")

    def _changed(self, _version: int) -> None:
        """A tag changed (perhaps in an API worker thread): look again soon."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def due(self, charger_id: str) -> bool:
        """Its list is older than the registry's, it has spoken since it connected, and it
        was not tried at this version on this connection already."""
        version = self.registry.version
        if version == 0 or charger_id in self._busy:
            return False
        connection = self.server.connections.get(charger_id)
        state = self.journal.state.chargers.get(charger_id)
        if connection is None or connection.commissioning or state is None:
            return False
        since = state.connected_since
        if since is None or state.last_seen is None or state.last_seen <= since:
            return False  # connected, but not yet signed in
        if self.sent.get(charger_id) == (version, "Accepted"):
            return False
        return self._tried.get(charger_id) != (version, since)

    async def _run(self) -> None:
        flag = self.journal.listen()
        while True:
            try:
                due = [c for c in list(self.server.connections) if self.due(c)]
            except Exception:  # never let one bad pass end the sync
                log.exception("local list sync pass failed")
                due = []
            for cid in due:
                self._busy.add(cid)
                task = asyncio.create_task(self._push(cid), name=f"local-list:{cid}")
                self._pushes.add(task)
                task.add_done_callback(self._pushes.discard)
            await wait_any([flag, self._wake], IDLE_WAKE_S)
            flag.clear()
            self._wake.clear()
            await asyncio.sleep(PASS_EVERY_S)

    async def _push(self, cid: str) -> None:
        try:
            async with self._slots:
                await self.push(cid)
        except Exception:
            log.exception("%s: local list push failed", cid)
        finally:
            self._busy.discard(cid)

    async def push(self, cid: str) -> cmd.Outcome | None:
        """Send the whole registry to one charger now; its outcome (None: not sent)."""
        state = self.journal.state.chargers.get(cid)
        params = registry_list(self.registry)
        version = params.list_version or 0
        self._tried[cid] = (version, state.connected_since if state else None)
        try:
            out = await self.commander.run(cid, SEND, params, TIMEOUT_S)
        except (NotConnected, cmd.UnknownCharger):
            return None
        except (Unsupported, BadParams) as exc:
            log.warning("%s: cannot send the local list: %s", cid, exc)
            return None
        status = out.status if out.outcome == cmd.ANSWERED and out.status else out.outcome
        await asyncio.to_thread(self._record, cid, version, status)
        self.sent[cid] = (version, status)
        if status != "Accepted":
            log.warning("%s: local list version %d answered %s", cid, version, status)
        return out

    def _record(self, cid: str, version: int, status: str) -> None:
        assert self._conn is not None
        self._conn.execute(
            "INSERT OR REPLACE INTO local_list_sync (charger_id, version, status, at) "
            "VALUES (?, ?, ?, ?)",
            (cid, version, status, time.time()),
        )

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.registry.on_change.remove(self._changed)
        tasks = [t for t in (self._task, *self._pushes) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def fill_from(registry: TagRegistry) -> Callable[[Command], Command]:
    """send-local-list without entries or version: the registry's list, as the sync sends."""

    def fill(params: Command) -> Command:
        assert isinstance(params, SendLocalList)
        if params.entries is not None and params.list_version is not None:
            return params
        full = registry_list(registry)
        return params.model_copy(
            update={
                "entries": full.entries if params.entries is None else params.entries,
                "list_version": params.list_version or full.list_version,
            }
        )

    return fill
