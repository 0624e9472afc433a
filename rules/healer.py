"""Guarded self-healing: a rule's `action` tried once when its alert enters a state.

The engine stays pure: the healer follows the journal like the notifier does, from its end
at start (an alert of before the restart is not acted on again), and reacts to `alert`
transitions whose rule names an action (rules/schema.py ActionSpec). Before anything is
sent it checks, in this order: the charger is connected; a soft reset waits for no session
(OCPP 1.6 Reset restarts the whole charger, so an open session on *any* connector blocks
it) and is never tried on a safety fault; the daily budget (per charger and UTC day: the
rule's `max_per_day`, and `rules.self_healing.max_per_charger_per_day` over every rule).
The budget is read back from the store's `remediations` rows at start, so a restart does
not reset it.

Commands go through the Commander with by="self-heal:<rule>", so the journal holds the
`command` like any operator's. Every attempt, sent or skipped, is journaled as a
`remediation` event: the alerts API lists them with the alert and notifications say
"tried: soft reset — Accepted". Nothing raises into the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chargewatch import alert_store, store
from chargewatch import events as ev
from chargewatch.config import SelfHealingConfig
from chargewatch.faults import SAFETY
from chargewatch.journal import Journal, JournalError, wait_any
from collector import commander as cmd
from collector.commands import BadParams, Command, Reset, TriggerMessage, Unsupported
from collector.pending import NotConnected
from rules.schema import ACTIONS, ActionSpec, RuleSpec

log = logging.getLogger(__name__)

BY_PREFIX = "self-heal:"
READ_BATCH = 1000
IDLE_WAKE_S = 5.0
CONCURRENT = 8  # attempts in flight at once (a site coming back after an outage)
DAY_S = 86400.0
LABELS = {"trigger-status": "status request", "soft-reset": "soft reset"}
OK_STATUSES = frozenset({"Accepted", "Scheduled"})  # 2.0.1 Reset may answer Scheduled

# outcomes of an attempt
ACCEPTED, REJECTED, TIMEOUT, FAILED = "accepted", "rejected", "timeout", "failed"
SKIPPED, DRY_RUN = "skipped", "dry_run"
NOT_CONNECTED = "not connected"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One alert transition an action was asked for."""

    rule: str
    action: ActionSpec
    fingerprint: str
    state: str
    charger_id: str
    connector_id: int | None


def utc_day(ts: float) -> float:
    """The start of the UTC day of `ts` (the budget's period)."""
    return ts - ts % DAY_S


class Healer:
    """Runs rules' actions on their alerts' transitions, guarded and journaled."""

    def __init__(
        self,
        rules: Mapping[str, RuleSpec],
        journal: Journal,
        commander: cmd.Commander,
        cfg: SelfHealingConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.actions = {name: r.action for name, r in rules.items() if r.action is not None}
        self.journal, self.commander, self.cfg, self.clock = journal, commander, cfg, clock
        self.position = 0
        self._day = 0.0
        self._spent: dict[tuple[str, str], int] = {}  # (charger, rule) -> attempts today
        self._slots = asyncio.Semaphore(CONCURRENT)
        self._busy: set[str] = set()  # chargers with an attempt in flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._db = store.open_reader(journal.path)

    async def start(self) -> None:
        self.position = self.journal.last_seq
        await self._load_budget(self.clock())
        self._task = asyncio.create_task(self._run(), name="self-healing")
        log.info("self-healing: %d rules with actions%s", len(self.actions), self._dry_note())

    async def stop(self) -> None:
        for task in [t for t in (self._task, *self._tasks) if t is not None]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._db.close()

    async def idle(self) -> None:
        """Until no attempt is in flight (tests; a clean stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _dry_note(self) -> str:
        return " (dry run: nothing is sent)" if self.cfg.dry_run else ""

    # ---- following the journal -----------------------------------------------------------
    async def _run(self) -> None:
        flag = self.journal.listen()
        while True:
            try:
                flag.clear()
                if not await self._step():
                    await wait_any([flag], IDLE_WAKE_S)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("self-healing: failed; retrying")
                await asyncio.sleep(IDLE_WAKE_S)

    async def _step(self) -> bool:
        rows = await asyncio.to_thread(self._read)
        if not rows:
            return False
        for seq, kind, data in rows:
            self.position = seq
            if kind != "alert" or data is None:
                continue
            attempt = self.wanted(json.loads(data))
            if attempt is not None:
                task = asyncio.create_task(self._guarded(attempt), name=f"heal:{attempt.rule}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return True

    def _read(self) -> list[tuple[int, str, str | None]]:
        """The next journal rows; only alert transitions carry their data (the rest is
        skipped without copying it out of SQLite)."""
        return self._db.execute(
            "SELECT seq, kind, CASE WHEN kind='alert' THEN data END FROM journal "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (self.position, READ_BATCH),
        ).fetchall()

    def wanted(self, alert: Mapping[str, object]) -> Attempt | None:
        """The attempt an alert transition asks for: its rule has an action for the state
        it entered (an update within the same state, like an acknowledgement, asks none)."""
        action = self.actions.get(str(alert.get("rule")))
        state = alert.get("state")
        if action is None or state != action.when or alert.get("previous") == state:
            return None
        labels = alert.get("labels")
        if not isinstance(labels, dict) or not labels.get("charger"):
            return None  # the engine gives charger and connector rules a `charger` label
        connector = str(labels.get("connector", ""))
        return Attempt(
            str(alert["rule"]),
            action,
            str(alert.get("fingerprint", "")),
            str(state),
            str(labels["charger"]),
            int(connector) if connector.isdigit() else None,
        )

    # ---- one attempt ---------------------------------------------------------------------
    async def _guarded(self, a: Attempt) -> None:
        try:
            async with self._slots:
                await self.attempt(a)
        except Exception:
            log.exception("%s: self-healing %s for %s failed", a.charger_id, a.action.do, a.rule)

    async def attempt(self, a: Attempt) -> ev.RemediationTried | None:
        """Check the guards, send (or pretend to), journal what happened."""
        reason = self._refusal(a)
        if reason == NOT_CONNECTED and a.action.do == "trigger-status":
            # the socket closed: there is no one to ask, and a record per disconnect is noise
            log.debug("%s: not connected, no status request for %s", a.charger_id, a.rule)
            return None
        if reason is not None:
            return await self._record(a, SKIPPED, reason=reason)
        self._spend(a)
        if self.cfg.dry_run:
            return await self._record(a, DRY_RUN, reason="dry run: nothing sent", spent=True)
        self._busy.add(a.charger_id)
        try:
            out = await self.commander.run(
                a.charger_id, ACTIONS[a.action.do], self._params(a), self.cfg.timeout
            )
        except (NotConnected, cmd.UnknownCharger):
            self._refund(a)
            return await self._record(a, SKIPPED, reason=NOT_CONNECTED)
        except (Unsupported, BadParams) as exc:
            self._refund(a)
            return await self._record(a, SKIPPED, reason=f"not supported: {exc}")
        finally:
            self._busy.discard(a.charger_id)
        if out.outcome == cmd.ANSWERED:
            outcome = ACCEPTED if out.status in OK_STATUSES else REJECTED
        else:
            outcome = TIMEOUT if out.outcome == cmd.TIMEOUT else FAILED
        return await self._record(a, outcome, out.status, out.error, spent=True)

    def _refusal(self, a: Attempt) -> str | None:
        """Why the action must not be sent now (None: it may)."""
        charger = self.journal.state.chargers.get(a.charger_id)
        if charger is None or not charger.connected:
            return NOT_CONNECTED
        if a.charger_id in self._busy:
            return "another self-healing command to this charger is in flight"
        if a.action.do == "soft-reset":
            open_on = sorted(
                s.connector_id
                for s in list(self.journal.state.sessions.values())
                if s.charger_id == a.charger_id and s.is_open
            )
            if open_on:
                where = ", ".join(str(c) for c in open_on)
                return f"a session is open (connector {where})"
            ports = list(charger.connectors.values())
            if a.connector_id is not None:
                ports = [c for c in ports if c.connector_id == a.connector_id]
            unsafe = [c for c in ports if c.fault_category == SAFETY]
            if unsafe:
                what = unsafe[0].error_code or unsafe[0].vendor_error_code or "Faulted"
                return f"a safety fault ({what}): a technician must look, not a reset"
        self._roll_day(self.clock())
        mine = self._spent.get((a.charger_id, a.rule), 0)
        if mine >= a.action.max_per_day:
            return f"rate limit: {mine} today for {a.rule} (max_per_day {a.action.max_per_day})"
        total = sum(n for (cid, _), n in self._spent.items() if cid == a.charger_id)
        if total >= self.cfg.max_per_charger_per_day:
            return (
                f"rate limit: {total} today for this charger "
                f"(max_per_charger_per_day {self.cfg.max_per_charger_per_day})"
            )
        return None

    def _params(self, a: Attempt) -> Command:
        by = BY_PREFIX + a.rule
        if a.action.do == "soft-reset":
            return Reset(by=by, type="soft")
        # connector 0 is the whole charger: asked without a connector, it reports them all
        return TriggerMessage(by=by, message="status", connector_id=a.connector_id or None)

    # ---- the daily budget ------------------------------------------------------------------
    async def _load_budget(self, now: float) -> None:
        self._day = utc_day(now)
        self._spent = await asyncio.to_thread(alert_store.remediations_spent, self._db, self._day)

    def _roll_day(self, now: float) -> None:
        if utc_day(now) != self._day:
            self._day, self._spent = utc_day(now), {}

    def _spend(self, a: Attempt) -> None:
        key = (a.charger_id, a.rule)
        self._spent[key] = self._spent.get(key, 0) + 1

    def _refund(self, a: Attempt) -> None:
        key = (a.charger_id, a.rule)
        self._spent[key] = max(0, self._spent.get(key, 0) - 1)

    # ---- the record ------------------------------------------------------------------------
    async def _record(
        self,
        a: Attempt,
        outcome: str,
        status: str | None = None,
        reason: str | None = None,
        spent: bool = False,
    ) -> ev.RemediationTried:
        event = ev.RemediationTried(
            a.charger_id,
            self.clock(),
            connector_id=a.connector_id,
            rule=a.rule,
            fingerprint=a.fingerprint,
            alert_state=a.state,
            action=a.action.do,
            command=ACTIONS[a.action.do],
            outcome=outcome,
            status=status,
            reason=reason,
            spent=spent,
            summary=summary(a.action.do, outcome, status, reason),
            by=BY_PREFIX + a.rule,
        )
        log.log(
            logging.WARNING if outcome in (REJECTED, TIMEOUT, FAILED) else logging.INFO,
            "%s: self-healing %s for %s: %s",
            a.charger_id,
            a.action.do,
            a.rule,
            event.summary,
        )
        try:
            await self.journal.commit([event])
        except JournalError:
            log.error("%s: could not journal the self-healing attempt", a.charger_id)
        return event


def summary(action: str, outcome: str, status: str | None, reason: str | None) -> str:
    """`soft reset — Accepted`, `status request — no answer (timeout)`,
    `soft reset — skipped: a session is open (connector 1)`: what notifications show."""
    label = LABELS.get(action, action)
    if outcome in (ACCEPTED, REJECTED) and status:
        said = status
    elif outcome == TIMEOUT:
        said = "no answer (timeout)"
    elif outcome == SKIPPED:
        said = f"skipped: {reason}" if reason else "skipped"
    elif outcome == DRY_RUN:
        said = "dry run, not sent"
    else:
        said = f"failed: {reason}" if reason else "failed"
    return f"{label} — {said}"
