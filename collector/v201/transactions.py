"""OCPP 2.0.1 TransactionEvent into the version-free session events.

A transaction is keyed by the charger's own transactionId: the session id is
"<charger_id>:<transactionId>" (the history importer's convention), so ids of different
chargers never collide and our 1.6 id counter is untouched. seqNo numbers every message of a
transaction from 0: a repeat is answered and ignored, a skipped number is reported (log line,
`chargewatch_ocpp_transaction_seq_gaps_total`, a `transaction_gap` event). Offline-queued
events (offline=true) are accepted in order like live ones, but say nothing about the
EVSE's *current* status, so they emit no StatusReported.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chargewatch import events as ev
from chargewatch.authorization import ACCEPTED_ANSWER as ACCEPTED
from collector import validation as v
from collector.adapter import AdapterContext, parse_time
from collector.v201 import meter
from collector.v201.evse import Station

log = logging.getLogger(__name__)

TRACKED_PER_CHARGER = 64  # transactions whose seqNos are remembered (open ones and recent)
NO_AUTHORIZATION = "NoAuthorization"  # an IdTokenType that names nobody


@dataclass(slots=True)
class Sequence:
    """What was received of one transaction."""

    seen: set[int] = field(default_factory=set)
    high: int = -1
    first_wh: float | None = None  # the first energy register reading, if no Begin value
    id_tag: str | None = None


def id_tag_of(id_token: dict[str, Any] | None) -> str | None:
    if not id_token or id_token.get("type") == NO_AUTHORIZATION:
        return None
    return id_token["idToken"]


def session_id_of(charger_id: str, transaction_id: str) -> str:
    return f"{charger_id}:{transaction_id}"


class Transactions:
    """Per charger: the sequences of its recent transactions."""

    def __init__(
        self,
        ctx: AdapterContext,
        on_gap: Callable[[int], None],
        on_duplicate: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self._on_gap, self._on_duplicate = on_gap, on_duplicate
        self._seqs: dict[str, OrderedDict[str, Sequence]] = {}

    def forget(self, cid: str) -> None:
        self._seqs.pop(cid, None)

    def _sequence(self, cid: str, txid: str) -> tuple[Sequence, bool]:
        per = self._seqs.setdefault(cid, OrderedDict())
        seq = per.get(txid)
        if seq is not None:
            per.move_to_end(txid)
            return seq, False
        seq = per[txid] = Sequence()
        while len(per) > TRACKED_PER_CHARGER:
            per.popitem(last=False)
        return seq, True

    def handle(
        self, cid: str, p: dict[str, Any], now: float, station: Station
    ) -> tuple[dict[str, Any], list[ev.Event]]:
        # ---- everything that can refuse the call, before anything changes -------------
        info = p["transactionInfo"]
        txid, seq_no, kind = info["transactionId"], p["seqNo"], p["eventType"]
        if seq_no < 0:
            raise v.PayloadError(v.VALUE, f"seqNo {seq_no} must be >= 0", "seqNo")
        evse_id = (p.get("evse") or {}).get("id")
        if evse_id is not None and evse_id < 1:
            raise v.PayloadError(
                v.VALUE, f"evse.id {evse_id}: a transaction runs on an EVSE (>= 1)", "evse.id"
            )
        charger_ts = parse_time(p["timestamp"], "timestamp")
        samples = meter.samples(p["meterValue"], "meterValue") if "meterValue" in p else ()
        id_tag = id_tag_of(p.get("idToken"))
        response: dict[str, Any] = {}
        if "idToken" in p:  # idTokenInfo is required whenever the request had an idToken
            answer = self.ctx.authorizer.answer(id_tag, now) if id_tag is not None else ACCEPTED
            response["idTokenInfo"] = answer.id_token_info()
        # ---- repeats ------------------------------------------------------------------
        state = self.ctx.state
        session_id = session_id_of(cid, txid)
        session = state.sessions.get(session_id)
        seq, new = self._sequence(cid, txid)
        if seq_no in seq.seen or (new and session is None and state.recently_closed(session_id)):
            log.info("%s: TransactionEvent %s seqNo %d again, ignored", cid, txid, seq_no)
            self._on_duplicate()
            return response, []
        events: list[ev.Event] = []
        # ---- gaps: after a restart (new here, session open) the count resumes unchecked -
        expected = seq.high + 1 if not new else (0 if session is None else seq_no)
        if kind == "Started" and new:
            expected = seq_no  # the first message: whatever number it carries starts it
        if seq_no > expected:
            missing = seq_no - expected
            log.warning(
                "%s: transaction %s: seqNo %d received, %d expected: %d message(s) missing",
                cid,
                txid,
                seq_no,
                expected,
                missing,
            )
            self._on_gap(missing)
        seq.seen.add(seq_no)
        seq.high = max(seq.high, seq_no)
        if id_tag is not None and seq.id_tag is None:
            seq.id_tag = id_tag
        # ---- the session ---------------------------------------------------------------
        if evse_id is None:
            evse_id = session.connector_id if session is not None else 0
        evse = station.evse(evse_id) if evse_id else None
        if seq.first_wh is None:
            seq.first_wh = meter.register(samples)
        if seq_no > expected:
            events.append(
                ev.TransactionGapDetected(
                    cid,
                    now,
                    session_id=session_id,
                    connector_id=evse_id,
                    expected_seq_no=expected,
                    received_seq_no=seq_no,
                    missing=seq_no - expected,
                )
            )
        if session is None and kind != "Ended":
            events.extend(self._start(cid, now, p, session_id, evse_id, charger_ts, samples))
        if evse is not None:
            evse.ended = False
            evse.transaction_id = txid
            if "chargingState" in info:
                evse.charging_state = info["chargingState"]
        offline = bool(p.get("offline", False))
        if kind != "Ended":
            if evse is not None and not offline:
                events.extend(_status(evse.status_event(cid, now, charger_ts)))
            if samples:
                events.append(
                    ev.MeterValuesReported(
                        cid, now, connector_id=evse_id, session_id=session_id, samples=samples
                    )
                )
            return response, events
        # ---- Ended ---------------------------------------------------------------------
        if samples:
            events.append(
                ev.MeterValuesReported(
                    cid, now, connector_id=evse_id, session_id=session_id, samples=samples
                )
            )
        meter_start = None
        if session is not None:  # no Begin value: the first reading of the transaction
            meter_start = _first(session.meter_start_wh, seq.first_wh)
        meter_stop = _first(meter.register(samples, meter.END), meter.register(samples))
        if meter_stop is None and session is not None:
            meter_stop = session.meter_last_wh
        energy = None
        if meter_stop is not None and meter_start is not None:
            energy = meter_stop - meter_start
        events.append(
            ev.SessionStopped(
                cid,
                now,
                session_id=session_id,
                meter_stop_wh=meter_stop,
                stopped_at=charger_ts,
                reason=info.get("stoppedReason", "Local"),  # may only be absent when Local
                id_tag=id_tag or seq.id_tag or (session.id_tag if session else None),
                energy_wh=energy,
                connector_id=evse_id,
                started_at=session.started_at if session else None,
                meter_start_wh=meter_start,
            )
        )
        if evse is not None:
            evse.transaction_id, evse.charging_state, evse.ended = None, None, True
            if not offline:
                events.extend(_status(evse.status_event(cid, now, charger_ts)))
        return response, events

    def _start(
        self,
        cid: str,
        now: float,
        p: dict[str, Any],
        session_id: str,
        evse_id: int,
        started_at: float,
        samples: tuple[ev.Sample, ...],
    ) -> list[ev.Event]:
        """SessionStarted (first sight of a transaction; the one it supersedes stopped)."""
        state, out = self.ctx.state, []
        charger = state.chargers.get(cid)
        previous = charger.connectors.get(evse_id) if charger and evse_id else None
        if previous is not None and previous.session_id not in (None, session_id):
            # one transaction per EVSE: the old one's Ended was lost, close it
            old = state.sessions.get(previous.session_id)
            out.append(
                ev.SessionStopped(
                    cid,
                    now,
                    session_id=previous.session_id,
                    stopped_at=started_at,
                    reason="Superseded",
                    connector_id=evse_id,
                    started_at=old.started_at if old else None,
                    meter_start_wh=old.meter_start_wh if old else None,
                )
            )
        id_tag = id_tag_of(p.get("idToken"))
        out.append(
            ev.SessionStarted(
                cid,
                now,
                session_id=session_id,
                transaction_id=p["transactionInfo"]["transactionId"],
                connector_id=evse_id,
                id_tag=id_tag,
                meter_start_wh=_first(
                    meter.register(samples, meter.BEGIN), meter.register(samples)
                ),
                started_at=started_at,
                reservation_id=p.get("reservationId"),
                auth_status=self.ctx.authorizer.answer(id_tag, now).status
                if id_tag is not None
                else None,
            )
        )
        return out


def _first(*values: float | None) -> float | None:
    """The first reading that exists (0 Wh is a reading)."""
    return next((x for x in values if x is not None), None)


def _status(event: ev.StatusReported | None) -> list[ev.Event]:
    return [event] if event is not None else []
