"""The alert endpoints of the HTTP API: active alerts, their history, acknowledgements.

Active alerts come from the rule runner's view (what the engine holds now); the history is
read from the `alert_history` table. An acknowledgement is journaled like any other event
and reaches the engine through the journal, so it survives a crash and is replayed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from chargewatch import alert_store, store
from chargewatch import events as ev
from chargewatch.alerts import Alert
from chargewatch.journal import Journal
from chargewatch.timestamps import utc_datetime


class AlertSource(Protocol):
    def active(self) -> list[Alert]: ...


class RemediationOut(BaseModel):
    """What a rule's self-healing action tried for the alert (rules/healer.py)."""

    at: datetime
    rule: str
    charger_id: str
    connector_id: int | None
    alert_state: str = Field(description="the state the alert entered: pending or firing")
    action: str = Field(description="trigger-status or soft-reset")
    command: str = Field(description="the remote command: trigger-message or reset")
    outcome: str = Field(description="accepted, rejected, timeout, failed, skipped, dry_run")
    status: str | None = Field(description="the charger's answer status")
    reason: str | None = Field(description="why it was skipped, or what went wrong")
    spent: bool = Field(description="counted against the charger's daily budget")
    summary: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> RemediationOut:
        return cls(**{**row, "at": utc_datetime(row["at"])})


class AlertOut(BaseModel):
    fingerprint: str
    alertname: str
    severity: str
    state: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    since: datetime | None = Field(description="when the condition became true")
    fired_at: datetime | None
    explained_by: str | None = Field(description="fingerprint of a wider alert explaining it")
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    runbook_url: str | None
    remediations: list[RemediationOut] = Field(
        default_factory=list, description="what self-healing tried for it, oldest first"
    )

    @classmethod
    def of(cls, a: Alert, tried: list[RemediationOut] | None = None) -> AlertOut:
        return cls(
            fingerprint=a.fingerprint,
            alertname=a.rule,
            severity=a.severity,
            state=a.state,
            labels=a.labels,
            annotations=a.annotations,
            value=a.value,
            since=utc_datetime(a.active_since),
            fired_at=utc_datetime(a.fired_at),
            explained_by=a.explained_by,
            acknowledged_by=a.acknowledged_by,
            acknowledged_at=utc_datetime(a.acknowledged_at),
            runbook_url=a.runbook_url,
            remediations=tried or [],
        )


class AlertList(BaseModel):
    count: int
    alerts: list[AlertOut]


class TransitionOut(BaseModel):
    id: int
    fingerprint: str
    alertname: str
    severity: str
    state: str
    previous: str | None
    at: datetime
    value: float | None
    labels: dict[str, str]
    annotations: dict[str, str]
    explained_by: str | None
    acknowledged_by: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> TransitionOut:
        return cls(**{**row, "alertname": row["rule"], "at": utc_datetime(row["at"])})


class HistoryPage(BaseModel):
    items: list[TransitionOut]
    next_before: int | None = Field(description="pass as `before` for the next (older) page")


class Acknowledge(BaseModel):
    by: str = Field(min_length=1, max_length=100, description="who takes the alert on")
    comment: str = Field("", max_length=1000)


class Unacknowledge(BaseModel):
    by: str = Field(min_length=1, max_length=100, description="who gives the alert back")


class Acknowledged(BaseModel):
    fingerprint: str
    by: str
    status: str = Field(description="'accepted': journaled, the engine applies it at once")


def alerts_router(
    source: AlertSource, journal: Journal, clock: Callable[[], float] = time.time
) -> APIRouter:
    router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
    db_path: Path = journal.path

    @router.get("", response_model=AlertList)
    def list_alerts(
        state: str | None = Query(None, pattern="^(pending|firing)$"),
        severity: str | None = None,
        alertname: str | None = None,
        charger: str | None = None,
        site: str | None = None,
    ) -> AlertList:
        """Active alerts (pending and firing), in rule order."""
        wanted = {"charger": charger, "site": site}
        chosen = [
            a
            for a in source.active()
            if (state is None or a.state == state)
            and (severity is None or a.severity == severity)
            and (alertname is None or a.rule == alertname)
            and all(v is None or a.labels.get(k) == v for k, v in wanted.items())
        ]
        tried = tried_for([a.fingerprint for a in chosen])
        out = [AlertOut.of(a, tried.get(a.fingerprint)) for a in chosen]
        return AlertList(count=len(out), alerts=out)

    def tried_for(fingerprints: list[str]) -> dict[str, list[RemediationOut]]:
        if not fingerprints:
            return {}
        conn = store.open_reader(db_path)
        with contextlib.closing(conn):
            rows = alert_store.remediations(conn, fingerprints)
        out: dict[str, list[RemediationOut]] = {}
        for row in rows:
            out.setdefault(row["fingerprint"], []).append(RemediationOut.of(row))
        return out

    @router.get("/{fingerprint}/remediations", response_model=list[RemediationOut])
    def remediations(fingerprint: str) -> list[RemediationOut]:
        """What self-healing tried for an alert, active or past, oldest first (empty when
        nothing was tried)."""
        return tried_for([fingerprint]).get(fingerprint, [])

    @router.get("/history", response_model=HistoryPage)
    def history(
        limit: int = Query(100, ge=1, le=1000),
        before: int | None = Query(
            None, ge=1, le=2**63 - 1, description="an id from the previous page"
        ),
        fingerprint: str | None = None,
        alertname: str | None = None,
    ) -> HistoryPage:
        """Past transitions (pending, firing, resolved, inactive, updates), newest first."""
        conn = store.open_reader(db_path)
        with contextlib.closing(conn):
            rows = alert_store.alert_history(conn, limit, before, fingerprint, alertname)
        items = [TransitionOut.of(r) for r in rows]
        return HistoryPage(items=items, next_before=items[-1].id if len(items) == limit else None)

    def require_active(fingerprint: str) -> None:
        if not any(a.fingerprint == fingerprint for a in source.active()):
            raise HTTPException(404, f"no active alert has fingerprint {fingerprint!r}")

    @router.post(
        "/{fingerprint}/acknowledge",
        response_model=Acknowledged,
        status_code=202,
        responses={404: {"description": "no active alert has this fingerprint"}},
    )
    async def acknowledge(fingerprint: str, body: Acknowledge) -> Acknowledged:
        """Take an alert on: it stays active, shows who is on it, and stops response-time
        SLA rules that wait for an acknowledgement."""
        require_active(fingerprint)
        event = ev.AlertAcknowledged("", clock(), fingerprint, body.by, body.comment)
        await journal.commit([event])
        return Acknowledged(fingerprint=fingerprint, by=body.by, status="accepted")

    @router.post(
        "/{fingerprint}/unacknowledge",
        response_model=Acknowledged,
        status_code=202,
        responses={404: {"description": "no active alert has this fingerprint"}},
    )
    async def unacknowledge(fingerprint: str, body: Unacknowledge) -> Acknowledged:
        """Give an alert back: repeats and escalation resume as if nobody had taken it."""
        require_active(fingerprint)
        await journal.commit([ev.AlertUnacknowledged("", clock(), fingerprint, body.by)])
        return Acknowledged(fingerprint=fingerprint, by=body.by, status="accepted")

    return router
