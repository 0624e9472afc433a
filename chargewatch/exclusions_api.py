"""`/api/v1/exclusions`: operator-declared outage exclusions (NEVI T_excluded).

An exclusion says "this charger's (or port's) downtime from..to was outside our control"
with a category the regulator recognises. It is journaled (OutageExcluded) so it is as
durable and ordered as everything else, and the `exclusions` table is its projection,
which the monthly reports read. Withdrawing keeps the row, marked removed, for the audit.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chargewatch import events as ev
from chargewatch import store
from chargewatch.journal import Journal

MAX_SPAN_S = 366 * 86400.0  # one declaration covers at most a year: a typo guard


class ExclusionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    charger_id: str = Field(min_length=1, max_length=48)
    connector_id: int = Field(0, ge=0, description="0: every port of the charger")
    starts_at: datetime = Field(description="ISO 8601; without an offset it is UTC")
    ends_at: datetime
    category: str = Field(description=", ".join(ev.EXCLUSION_CATEGORIES))
    note: str = Field("", max_length=500)
    by: str = Field(min_length=1, max_length=100, description="who declares it")

    @model_validator(mode="after")
    def _sane(self) -> ExclusionIn:
        if self.category not in ev.EXCLUSION_CATEGORIES:
            known = ", ".join(ev.EXCLUSION_CATEGORIES)
            raise ValueError(f"category {self.category!r} is not one of {known}")
        start, end = _ts(self.starts_at), _ts(self.ends_at)
        if end <= start:
            raise ValueError("ends_at must be after starts_at")
        if end - start > MAX_SPAN_S:
            raise ValueError("an exclusion covers at most 366 days; declare longer ones in parts")
        return self


class ExclusionOut(BaseModel):
    id: str
    charger_id: str
    connector_id: int
    starts_at: datetime
    ends_at: datetime
    category: str
    note: str
    created_by: str
    removed: bool


class ExclusionList(BaseModel):
    count: int
    exclusions: list[ExclusionOut]


def _ts(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _out(row: dict[str, Any]) -> ExclusionOut:
    return ExclusionOut(
        **{k: row[k] for k in ("id", "charger_id", "connector_id", "category", "note")},
        starts_at=datetime.fromtimestamp(row["starts_at"], UTC),
        ends_at=datetime.fromtimestamp(row["ends_at"], UTC),
        created_by=row["created_by"],
        removed=bool(row["removed"]),
    )


def exclusions_router(journal: Journal, clock: Callable[[], float] = time.time) -> APIRouter:
    router = APIRouter(prefix="/api/v1/exclusions", tags=["reports"])

    def rows(include_removed: bool = False) -> list[dict[str, Any]]:
        with contextlib.closing(store.open_reader(journal.path)) as conn:
            return store.read_exclusions(conn, include_removed)

    @router.get("", response_model=ExclusionList)
    def list_exclusions(
        charger: str | None = Query(None, description="only this charger's"),
        removed: bool = Query(False, description="also the withdrawn ones"),
    ) -> ExclusionList:
        """Declared exclusions, oldest first."""
        out = [_out(r) for r in rows(removed) if charger is None or r["charger_id"] == charger]
        return ExclusionList(count=len(out), exclusions=out)

    @router.post("", response_model=ExclusionOut, status_code=201)
    async def add_exclusion(body: ExclusionIn) -> ExclusionOut:
        """Declare a stretch of downtime outside the operator's control."""
        event = ev.OutageExcluded(
            body.charger_id,
            clock(),
            id=uuid.uuid4().hex[:12],
            connector_id=body.connector_id,
            starts_at=_ts(body.starts_at),
            ends_at=_ts(body.ends_at),
            category=body.category,
            note=body.note,
            created_by=body.by,
        )
        await journal.commit([event])
        return _out({**event.to_dict(), "removed": False})

    @router.delete(
        "/{exclusion_id}",
        response_model=ExclusionOut,
        responses={404: {"description": "no exclusion has this id"}},
    )
    async def remove_exclusion(
        exclusion_id: str, by: str = Query(..., min_length=1, max_length=100)
    ) -> ExclusionOut:
        """Withdraw an exclusion: the downtime counts again (the row stays, as removed)."""
        found = [r for r in rows() if r["id"] == exclusion_id]
        if not found:
            raise HTTPException(404, f"no exclusion has id {exclusion_id!r}")
        row = found[0]
        event = ev.OutageExcluded(
            row["charger_id"],
            clock(),
            id=row["id"],
            connector_id=row["connector_id"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            category=row["category"],
            note=row["note"],
            created_by=by,
            removed=True,
        )
        await journal.commit([event])
        return _out({**event.to_dict(), "removed": True})

    return router
