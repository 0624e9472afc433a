"""Replay of imported calls: the live adapter makes the events, a separate LiveState projects them.

Each charger is replayed on its own, in timestamp order, through the V16Adapter and schema
checks of the live collector (so units, fault categories and sessions come out exactly as
live) and a fresh LiveState (so the history rows come from the same projection code). What
the other central system answered is taken from its logged CallResult: the transactionId of a
StartTransaction, the idTagInfo status, the heartbeat interval.

Only history is written: status_history, connection_history, sessions (ids namespaced
"<charger_id>:<transactionId>") and import_journal. Never the journal (its consumers would
alert on two-year-old events), never chargers / connectors / meta (the current state).

Earlier imports of the same charger are replayed too (their events read back from
import_journal, their rows not written again), so a session started in one file and stopped
in the next closes, and the synthesized connection history of a charger is rebuilt from all
its imported messages each time it gets new ones.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from chargewatch import events as ev
from chargewatch import store
from chargewatch.authorization import Answer
from chargewatch.state import TABLE_COLUMNS, Insert, LiveState, Upserts
from collector import framing
from collector import validation as v
from collector.adapter import AdapterContext, HandlerError
from collector.history.staging import StagedCall, Staging
from collector.v16.adapter import SUBPROTOCOL, V16Adapter

DEFAULT_HEARTBEAT_S = 300  # when no BootNotification answer with an interval was logged
OFFLINE_HEARTBEATS = 3  # default --offline-after: this many heartbeat intervals of silence
IMPORT_REMOTE = "import"  # `remote` of synthesized connection_history rows: rebuilt per import
FLUSH_LINES = 5000  # lines per transaction
HISTORY_TABLES = frozenset({"status_history", "connection_history"})
SESSION_TABLES = frozenset({"sessions", "sessions_stub"})
# answers whose content is used: checked against their response schema first
ANSWER_USED = frozenset({"BootNotification", "Authorize", "StartTransaction"})
assert TABLE_COLUMNS["sessions"][0] == "session_id"

_IMPORT_INSERT = (
    "INSERT INTO import_journal (line_key, charger_id, ts, action, events, source, imported_at) "
    "VALUES (?,?,?,?,?,?,?)"
)

BadReport = Callable[[int, int, str], None]  # (file index, line, reason)


class ReplayState(LiveState):
    """A LiveState whose transaction ids are the ones the other central system assigned."""

    logged_transaction_id: int = 0

    def allocate_transaction_id(self) -> int:
        return self.logged_transaction_id


class LoggedAuthorizer:
    """Answers idTag status as the other central system did (its logged idTagInfo)."""

    current: str = ""  # "" when no answer was logged

    def status(self, id_tag: str) -> str:
        return self.current

    def answer(self, id_tag: str, now: float | None = None) -> Answer:
        return Answer(self.current)


@dataclass
class Tally:
    """What the replay did, for the summary."""

    imported_lines: int = 0  # calls and their answers
    answers: int = 0
    bad: int = 0
    skipped_call_errors: int = 0  # calls the other system refused, and those answers
    skipped_answers: int = 0  # answers of calls found bad
    actions: Counter[str] = field(default_factory=Counter)
    chargers: set[str] = field(default_factory=set)
    sessions_started: int = 0
    sessions_stopped: int = 0
    first_ts: float | None = None
    last_ts: float | None = None


class Replayer:
    def __init__(
        self,
        db: sqlite3.Connection,
        staging: Staging,
        sources: list[str],
        on_bad: BadReport,
        offline_after: float | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self._db, self._staging, self._sources = db, staging, sources
        self._on_bad, self._offline_after = on_bad, offline_after
        self._on_progress = on_progress or (lambda n: None)
        self._auth = LoggedAuthorizer()
        self._ctx = AdapterContext(ReplayState(), self._auth, 0)  # type: ignore[arg-type]
        self._adapter = V16Adapter(self._ctx)
        self.tally = Tally()
        self._done = 0

    # ---- per charger -------------------------------------------------------------------
    def run(self) -> Tally:
        for charger_id in self._staging.chargers():
            self._charger(charger_id)
        return self.tally

    def _charger(self, cid: str) -> None:
        self._cid = cid
        self._state = self._ctx.state = ReplayState()
        self._ns: dict[str, str] = {}  # logged transaction id -> the session id it stands for
        self._starts: Counter[str] = Counter()
        self._last: float | None = None
        self._upserts: Upserts = {}
        self._inserts: list[Insert] = []
        self._journal: list[tuple[Any, ...]] = []
        self._first_flush = True
        old = ((ts, 0, seq, events) for ts, seq, events in self._staging.imported(cid))
        new = ((c.ts, 1, i, c) for i, c in enumerate(self._staging.calls(cid)))
        for ts, is_new, _, item in heapq.merge(old, new, key=lambda x: (x[0], x[1], x[2])):
            if is_new:
                self._new(item)
            else:
                self._timeline(ts)
                events = [ev.event_from_dict(kind, data) for kind, data in json.loads(item)]
                self._apply(map(self._completed, events), keep_rows=False)
            if len(self._journal) >= FLUSH_LINES:
                self._flush()
        self._flush()

    def _new(self, call: StagedCall) -> None:
        events = self._handle(call)
        self._done += 1
        if self._done % 1000 == 0:
            self._on_progress(self._done)
        if events is None:
            return
        self._timeline(call.ts)
        self._apply(events, keep_rows=True)
        t = self.tally
        t.imported_lines += 1 + self._answer_ok
        t.answers += self._answer_ok
        t.actions[call.action] += 1
        t.chargers.add(self._cid)
        t.first_ts = call.ts if t.first_ts is None else min(t.first_ts, call.ts)
        t.last_ts = call.ts if t.last_ts is None else max(t.last_ts, call.ts)
        t.sessions_started += sum(isinstance(e, ev.SessionStarted) for e in events)
        t.sessions_stopped += sum(isinstance(e, ev.SessionStopped) for e in events)
        self._journal.append(
            (
                call.key,
                self._cid,
                call.ts,
                call.action,
                json.dumps([(e.kind, e.to_dict()) for e in events], separators=(",", ":")),
                f"{self._sources[call.src]}:{call.line}",
                time.time(),
            )
        )

    # ---- one call ----------------------------------------------------------------------
    def _handle(self, call: StagedCall) -> list[ev.Event] | None:
        """The call's events, or None when it is skipped or bad (already counted)."""
        action = call.action
        answer = self._answer(call)
        if answer is False:
            return None
        payload = framing.parse(call.frame).payload  # checked when read
        idtag = answer.get("idTagInfo") if isinstance(answer, dict) else None
        self._auth.current = idtag.get("status", "") if isinstance(idtag, dict) else ""
        charger = self._state.chargers.get(self._cid)
        known = charger.heartbeat_interval if charger and charger.heartbeat_interval else 0
        self._ctx.heartbeat_interval = known
        if action == "BootNotification" and isinstance(answer, dict):
            self._ctx.heartbeat_interval = answer["interval"]
        if action == "StartTransaction":
            if answer is None:
                return self._bad(
                    call,
                    "StartTransaction: no valid CallResult logged, so the transactionId the "
                    "other central system assigned is unknown",
                )
            self._state.logged_transaction_id = answer["transactionId"]
        try:
            _, events = self._adapter.handle(self._cid, action, payload, call.ts)
        except v.PayloadError as exc:
            code = self._adapter.error_code(exc.kind)
            return self._bad(call, f"{action}: {_described(exc)} ({code})")
        except HandlerError as exc:
            return self._bad(call, f"{action}: {exc.description} ({exc.code})")
        except Exception as exc:  # a payload the adapter cannot normalise: one line, not the run
            return self._bad(call, f"{action}: cannot be normalised: {exc!r}")
        return events

    def _answer(self, call: StagedCall) -> dict[str, Any] | bool | None:
        """The logged answer's payload; None if there is none usable; False: skip the call.
        Sets `_answer_ok` (whether the answer line counts as imported)."""
        self._answer_ok = False
        if call.answer is None:
            return None
        answer = framing.parse(call.answer)  # checked when read
        if isinstance(answer, framing.CallError):
            self.tally.skipped_call_errors += 2
            return False
        payload = answer.payload
        if call.action in ANSWER_USED:
            try:
                if not isinstance(payload, dict):
                    raise v.PayloadError(v.TYPE, "payload must be a JSON object")
                self._adapter.schemas.validate(f"{call.action}Response", payload)
            except v.PayloadError as exc:
                self.tally.bad += 1
                assert call.answer_src is not None and call.answer_line is not None
                code = self._adapter.error_code(exc.kind)
                reason = f"{call.action} answer: {_described(exc)} ({code})"
                self._on_bad(call.answer_src, call.answer_line, reason)
                return None
        self._answer_ok = True
        return payload if isinstance(payload, dict) else None

    def _bad(self, call: StagedCall, reason: str) -> None:
        self.tally.bad += 1
        if self._answer_ok:
            self.tally.skipped_answers += 1
        self._on_bad(call.src, call.line, reason)
        return None

    def _completed(self, event: ev.Event) -> ev.Event:
        """An earlier run's stop whose start it had not seen, with the energy the adapter would
        have computed had it seen the start (now imported)."""
        if not isinstance(event, ev.SessionStopped) or event.energy_wh is not None:
            return event
        session = self._state.sessions.get(event.session_id)
        if session is None or session.meter_start_wh is None or event.meter_stop_wh is None:
            return event
        return replace(
            event,
            energy_wh=event.meter_stop_wh - session.meter_start_wh,
            connector_id=session.connector_id,
            started_at=session.started_at,
            meter_start_wh=session.meter_start_wh,
        )

    # ---- projection --------------------------------------------------------------------
    def _timeline(self, ts: float) -> None:
        """Synthesized connection history: up from the first message; down `heartbeat` after
        the last message before a silence longer than --offline-after, up at the next one."""
        cid, last = self._cid, self._last
        self._last = ts
        if last is None:
            self._apply([ev.Connected(cid, ts, IMPORT_REMOTE, SUBPROTOCOL)], keep_rows=True)
            return
        charger = self._state.chargers.get(cid)
        heartbeat = (charger.heartbeat_interval if charger else 0) or DEFAULT_HEARTBEAT_S
        limit = self._offline_after or OFFLINE_HEARTBEATS * heartbeat
        gap = ts - last
        if gap > limit:
            reason = f"import: no message for {gap:.0f} s"
            down = ev.Disconnected(cid, last + min(heartbeat, limit), None, reason)
            self._apply([down, ev.Connected(cid, ts, IMPORT_REMOTE, SUBPROTOCOL)], keep_rows=True)

    def _apply(self, events: Iterable[ev.Event], keep_rows: bool) -> None:
        cid, up, ins = self._cid, {}, []
        for event in events:
            self._state.apply(event, up, ins)
            if isinstance(event, ev.SessionStarted):
                raw = event.session_id
                self._starts[raw] += 1
                n = self._starts[raw]
                # a transaction id the other system gave this charger twice: "#2", "#3", ...
                self._ns[raw] = f"{cid}:{raw}" if n == 1 else f"{cid}:{raw}#{n}"
            for (table, raw, *_), (_, row) in up.items():
                if table in SESSION_TABLES:
                    ns = self._ns.get(raw, f"{cid}:{raw}")
                    self._upserts[(table, ns)] = (table, (ns, *row[1:]))
            up.clear()
        if keep_rows:
            self._inserts.extend(r for r in ins if r[0] in HISTORY_TABLES)

    def _flush(self) -> None:
        """One transaction: the new lines, their history rows, every session row touched."""
        if not (self._journal or self._inserts or self._upserts):
            return
        upserts = [row for key, row in self._upserts.items() if key[0] == "sessions"]
        # a stop without its start: keep what we know without overwriting a full row
        upserts += [row for key, row in self._upserts.items() if key[0] == "sessions_stub"]
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            if self._first_flush:
                cur.execute(
                    "DELETE FROM connection_history WHERE charger_id = ? AND remote = ?",
                    (self._cid, IMPORT_REMOTE),
                )
            cur.executemany(_IMPORT_INSERT, self._journal)
            store.write_rows(cur, upserts, self._inserts)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        self._first_flush = False
        self._journal, self._inserts, self._upserts = [], [], {}


def _described(exc: v.PayloadError) -> str:
    """The payload problem, led by its field when the description does not name it."""
    if exc.field and not exc.description.startswith(exc.field):
        return f"{exc.field}: {exc.description}"
    return exc.description


def charger_actions() -> frozenset[str]:
    """The actions a charger initiates, as the live adapter knows them (direction inference)."""
    return V16Adapter(AdapterContext(LiveState(), LoggedAuthorizer(), 0)).handled  # type: ignore[arg-type]
