"""The notifier's HTTP endpoints: silences, receivers (and their test), the notification
log, and the outbox counts.

Silences are journaled (`SilenceSet`), like acknowledgements: the dispatcher sees them in
order with the alerts, and the `silences` table (the API's listing) is their projection.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from chargewatch import events as ev
from chargewatch import store
from chargewatch.durations import parse_duration
from chargewatch.journal import Journal
from chargewatch.timestamps import utc_datetime
from notifier import store as nstore
from notifier.alertmanager import WebhookPayload, to_events
from notifier.config import DEFAULT_DRIVER_NOTICES, Targets
from notifier.drivers import Driver
from notifier.matchers import parse
from notifier.model import CONSOLE, FILE
from notifier.runner import NotifierRunner
from notifier.silences import Silence
from notifier.targets import kind_of, redact


class SilenceIn(BaseModel):
    matchers: list[str] = Field(
        min_length=1, description='label matchers, e.g. site="north", alertname=~"Charger.*"'
    )
    starts_at: datetime | None = Field(None, description="default: now")
    ends_at: datetime | None = Field(None, description="give ends_at or duration")
    duration: str | None = Field(None, description="e.g. 2h, 30m (from starts_at)")
    created_by: str = Field(min_length=1, max_length=100)
    comment: str = Field("", max_length=1000)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, values: list[str]) -> list[str]:
        parsed = [parse(text) for text in values]
        if all(m.matches({}) for m in parsed):  # as Alertmanager: no silence of everything
            raise ValueError("at least one matcher must not match the empty string")
        return values

    @model_validator(mode="after")
    def _end(self) -> SilenceIn:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give exactly one of ends_at and duration")
        if self.duration is not None:
            parse_duration(self.duration)
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone (e.g. 2026-12-01T22:00:00Z)")
        return self


class SilenceOut(BaseModel):
    id: str
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    state: str = Field(description="pending, active or expired")
    updated: datetime | None = None


class SilenceList(BaseModel):
    count: int
    silences: list[SilenceOut]


class DriverIn(BaseModel):
    name: str = Field("", max_length=100)
    targets: Annotated[Targets, Field(max_length=10)]
    notify: list[Literal["started", "finished", "interrupted", "idle"]] = Field(
        default_factory=lambda: list(DEFAULT_DRIVER_NOTICES)
    )


class DriverOut(BaseModel):
    id_tag: str
    name: str
    targets: list[str] = Field(description="redacted")
    notify: list[str]
    source: str = Field(description="config or api")

    @classmethod
    def of(cls, d: Driver) -> DriverOut:
        return cls(
            id_tag=d.id_tag,
            name=d.name,
            targets=[redact(t) for t in d.targets],
            notify=sorted(d.notify),
            source="config" if d.from_config else "api",
        )


class ReceiverOut(BaseModel):
    name: str
    targets: list[str] = Field(description="redacted: no passwords or tokens")
    send_resolved: bool


class TestIn(BaseModel):
    by: str = Field("", max_length=100)


class TestOut(BaseModel):
    receiver: str
    outbox_ids: list[int]


class LogEntry(BaseModel):
    id: int
    outbox_id: int
    at: datetime
    receiver: str
    target: str
    channel: str
    attempt: int
    result: str = Field(description="sent, retry or failed")
    error: str | None
    duration: float | None = Field(description="seconds the attempt took")
    receipt: str | None = Field(description="the provider's message id, where there is one")


class LogPage(BaseModel):
    items: list[LogEntry]
    next_before: int | None
    outbox: dict[str, int] = Field(description="outbox rows by state")


def notifier_router(
    runner: NotifierRunner, journal: Journal, clock: Callable[[], float] = time.time
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["notifications"])

    def reader() -> Any:
        return contextlib.closing(store.open_reader(journal.path))

    def out(row: dict[str, Any]) -> SilenceOut:
        s = Silence.from_dict(row)
        return SilenceOut(
            **{**row, "starts_at": utc_datetime(s.starts_at), "ends_at": utc_datetime(s.ends_at)},
            state=s.state(clock()),
        )

    @router.get("/silences", response_model=SilenceList)
    def list_silences(
        state: str | None = Query(None, pattern="^(pending|active|expired)$"),
    ) -> SilenceList:
        """Silences, newest first."""
        with reader() as conn:
            rows = [out(r) for r in nstore.read_silences(conn)]
        rows = [r for r in rows if state is None or r.state == state]
        return SilenceList(count=len(rows), silences=rows)

    @router.post("/silences", response_model=SilenceOut, status_code=201)
    async def add_silence(body: SilenceIn) -> SilenceOut:
        """Mute the alerts the matchers select, from starts_at until ends_at."""
        now = clock()
        starts = body.starts_at.timestamp() if body.starts_at else now
        if body.ends_at is not None:
            ends = body.ends_at.timestamp()
        else:
            ends = starts + parse_duration(body.duration or "0s")
        if ends <= max(starts, now):
            raise HTTPException(422, "the silence would end before it starts or in the past")
        event = ev.SilenceSet(
            "", now, uuid.uuid4().hex[:12], list(body.matchers), starts, ends,
            body.created_by, body.comment,
        )  # fmt: skip
        await journal.commit([event])
        return out(
            {
                "id": event.id,
                "matchers": body.matchers,
                "starts_at": starts,
                "ends_at": ends,
                "created_by": body.created_by,
                "comment": body.comment,
                "updated": now,
            }
        )

    @router.delete(
        "/silences/{silence_id}",
        response_model=SilenceOut,
        responses={404: {"description": "no silence has this id"}},
    )
    async def expire_silence(silence_id: str) -> SilenceOut:
        """End a silence now (it stays listed as expired)."""
        with reader() as conn:
            found = [r for r in nstore.read_silences(conn) if r["id"] == silence_id]
        if not found:
            raise HTTPException(404, f"no silence has id {silence_id!r}")
        row, now = found[0], clock()
        ends = min(row["ends_at"], now)
        event = ev.SilenceSet(
            "", now, row["id"], list(row["matchers"]), min(row["starts_at"], ends), ends,
            row["created_by"], row["comment"],
        )  # fmt: skip
        await journal.commit([event])
        return out({**row, "starts_at": event.starts_at, "ends_at": ends, "updated": now})

    @router.get("/receivers", response_model=list[ReceiverOut])
    def receivers() -> list[ReceiverOut]:
        """The configured receivers and where they send (secrets redacted)."""
        return [
            ReceiverOut(
                name=r.name, targets=[redact(t) for t in r.targets], send_resolved=r.send_resolved
            )
            for r in runner.receivers.values()
        ]

    @router.post(
        "/receivers/{name}/test",
        response_model=TestOut,
        status_code=202,
        responses={404: {"description": "no receiver has this name"}},
    )
    async def test_receiver(name: str, body: TestIn | None = None) -> TestOut:
        """Queue a test notification to every target of the receiver; follow it in the log."""
        if name not in runner.receivers:
            raise HTTPException(404, f"no receiver named {name!r}")
        by = body.by if body is not None else ""
        return TestOut(receiver=name, outbox_ids=await runner.send_test(name, by))

    @router.get("/notifications", response_model=LogPage)
    def notification_log(
        limit: int = Query(100, ge=1, le=1000),
        before: int | None = Query(
            None, ge=1, le=2**63 - 1, description="an id from the previous page"
        ),
        receiver: str | None = None,
        result: str | None = Query(None, pattern="^(sent|retry|failed)$"),
    ) -> LogPage:
        """Every delivery attempt, newest first: target, channel, time, result, error."""
        with reader() as conn:
            rows = nstore.read_log(conn, limit, before, receiver, result)
            counts = nstore.counts(conn)
        items = [LogEntry(**{**r, "at": utc_datetime(r["at"])}) for r in rows]
        return LogPage(
            items=items,
            next_before=items[-1].id if len(items) == limit else None,
            outbox=counts,
        )

    @router.get("/drivers", response_model=list[DriverOut], tags=["drivers"])
    def list_drivers() -> list[DriverOut]:
        """Registered drivers (config and API); contact targets redacted."""
        return [DriverOut.of(d) for d in runner.drivers.registered()]

    @router.put(
        "/drivers/{id_tag}",
        response_model=DriverOut,
        tags=["drivers"],
        responses={409: {"description": "the driver is defined in the config file"}},
    )
    async def set_driver(
        id_tag: Annotated[str, Path(min_length=1, max_length=36)], body: DriverIn
    ) -> DriverOut:
        """Register a driver (or change one registered here) for notices about the
        sessions of their idTag, and nobody else's."""
        if runner.drivers.in_config(id_tag):
            raise HTTPException(409, f"driver {id_tag!r} is defined in the config file")
        local = [t for t in body.targets if kind_of(t) in (FILE, CONSOLE)]
        if local:  # an API caller must not make the server write its files
            raise HTTPException(422, "drivers set through the API take e-mail, push or sms targets")
        if runner.cfg.twilio is None and any(t.startswith("sms:") for t in body.targets):
            raise HTTPException(422, "sms: targets need the notifications.twilio section")
        event = ev.DriverSet("", clock(), id_tag, body.name, body.targets, list(body.notify))
        await journal.commit([event])
        await runner.caught_up(journal.last_seq)
        driver = runner.drivers.driver(id_tag)
        assert driver is not None
        return DriverOut.of(driver)

    @router.delete(
        "/drivers/{id_tag}",
        status_code=204,
        tags=["drivers"],
        responses={404: {"description": "no driver registered here has this idTag"}},
    )
    async def remove_driver(id_tag: str) -> None:
        """Unregister a driver set through the API (config entries stay)."""
        if runner.drivers.in_config(id_tag):
            raise HTTPException(409, f"driver {id_tag!r} is defined in the config file")
        if not runner.drivers.set_through_api(id_tag):
            raise HTTPException(404, f"no driver {id_tag!r} was registered through the API")
        await journal.commit([ev.DriverSet("", clock(), id_tag, removed=True)])
        await runner.caught_up(journal.last_seq)

    @router.post(
        "/alertmanager",
        response_model=WebhookAccepted,
        tags=["alertmanager"],
        responses={
            413: {"description": "the payload is larger than 4 MiB"},
            422: {"description": "not JSON, or not an Alertmanager webhook payload"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": WebhookPayload.model_json_schema()}},
            }
        },
    )
    async def alertmanager_webhook(request: Request) -> WebhookAccepted:
        """Alertmanager's `webhook_config` (payload version 4): Prometheus' and Grafana's
        alerts join ChargeWatch's own (label `source="alertmanager"`)."""
        body = await _limited_body(request, MAX_WEBHOOK_BYTES)
        try:
            payload = WebhookPayload.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        events = to_events(payload, clock())
        await journal.commit(list(events))
        return WebhookAccepted(alerts=len(events), firing=sum(e.state == "firing" for e in events))

    return router


MAX_WEBHOOK_BYTES = 4 * 1024 * 1024


class WebhookAccepted(BaseModel):
    alerts: int
    firing: int


async def _limited_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"payload larger than {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"payload larger than {limit} bytes")
    return body
