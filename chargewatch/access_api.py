"""The HTTP side of access control: a middleware that authenticates, authorises by role and
audits every state-changing call, and the /api/v1/tokens and /api/v1/audit endpoints.

A middleware rather than per-router dependencies: it sees every request before routing,
so endpoints added by any router (the remote charger commands, the notifier's) get the
role rules and the audit without knowing about them.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chargewatch import access as ac
from chargewatch.access import Access, Principal
from chargewatch.timestamps import utc_datetime

PRINCIPAL = "chargewatch.principal"  # the scope key the endpoints read the caller from
MAX_KEPT_BODY = 64 * 1024  # a larger request body is audited by its size only


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> list[Message]:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return [
        {"type": "http.response.start", "status": status, "headers": raw},
        {"type": "http.response.body", "body": body},
    ]


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


class AccessMiddleware:
    """Authentication, role check and audit around the whole API (pure ASGI: the body
    passes through untouched, chunk by chunk)."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app, self.access = app, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        needed = ac.required_role(method, path)
        if needed is None:
            await self.app(scope, receive, send)
            return
        audited = method.upper() not in ac.READ_METHODS
        principal = self.access.authenticate(_bearer(scope))
        kept = bytearray()
        complete = True

        async def receive_kept() -> Message:
            nonlocal complete
            message = await receive()
            if message["type"] == "http.request" and complete:
                kept.extend(message.get("body", b""))
                if len(kept) > MAX_KEPT_BODY:
                    complete = False
                    del kept[MAX_KEPT_BODY:]
            return message

        status = 500

        async def audit(code: int) -> None:
            if not audited:
                return
            headers = dict(scope.get("headers", ()))
            entry = {
                "at": time.time(),
                "who": principal.name if principal else ac.UNAUTHENTICATED,
                "role": principal.role if principal else None,
                "method": method,
                "path": path,
                "query": ac.redact_query(parse_qsl(scope.get("query_string", b"").decode())),
                "summary": ac.summarise(
                    bytes(kept), headers.get(b"content-type", b"").decode("latin-1"), complete
                ),
                "status": code,
            }
            await asyncio.to_thread(self.access.record, entry)

        if principal is None:
            await audit(401)
            for m in _problem(
                401,
                "missing or wrong API token (Authorization: Bearer <token>)",
                {"WWW-Authenticate": "Bearer"},
            ):
                await send(m)
            return
        if not ac.allowed(principal.role, needed):
            await audit(403)
            detail = (
                f"{method} {path} needs the {needed} role; "
                f"token {principal.name!r} has the {principal.role} role"
            )
            for m in _problem(403, detail):
                await send(m)
            return
        await asyncio.to_thread(self.access.mark_used, principal, time.time())
        scope[PRINCIPAL] = principal
        recorded = False

        async def send_audited(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                recorded = True
                await audit(status)  # recorded before the caller sees the answer
            await send(message)

        try:
            await self.app(scope, receive_kept if audited else receive, send_audited)
        finally:
            if not recorded:
                await audit(status)


def principal_of(request: Request) -> Principal:
    return request.scope.get(PRINCIPAL) or Principal(ac.ANONYMOUS, ac.ADMIN)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=ac.NAME_PATTERN, description="who or what uses it, e.g. grafana")
    role: str = Field(pattern="^(viewer|operator|admin)$")


class TokenOut(BaseModel):
    name: str
    role: str
    source: str = Field(description="store (made here) or config (http.api_tokens)")
    created: datetime | None = None
    created_by: str | None = None
    last_used: datetime | None = None
    revoked: datetime | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret: shown this once, stored only as its SHA-256")


class TokenList(BaseModel):
    count: int
    tokens: list[TokenOut]


class AuditEntry(BaseModel):
    id: int
    at: datetime
    who: str = Field(description="token name; anonymous: the API was open")
    role: str | None
    method: str
    path: str
    query: str
    summary: str = Field(description="the request body, secret-looking fields redacted")
    status: int


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_before: int | None = Field(description="pass as `before` for the next (older) page")


def _token_out(row: dict[str, Any]) -> TokenOut:
    dates = {k: utc_datetime(row.get(k)) for k in ("created", "last_used", "revoked")}
    return TokenOut(**{**row, **dates})


def access_router(access: Access) -> APIRouter:
    """/api/v1/tokens (admin) and /api/v1/audit (operator); the roles come from
    chargewatch.access.PATH_RULES, enforced by the middleware."""
    router = APIRouter(prefix="/api/v1")

    @router.get("/tokens", response_model=TokenList, tags=["access"])
    def list_tokens(revoked: bool = Query(False, description="also the revoked ones")) -> TokenList:
        """API tokens: names, roles, when made and last used. Never the secrets."""
        out = [_token_out(r) for r in access.tokens(revoked)]
        return TokenList(count=len(out), tokens=out)

    @router.post(
        "/tokens",
        response_model=TokenCreated,
        status_code=201,
        tags=["access"],
        responses={409: {"description": "an active token has this name"}},
    )
    async def create_token(body: TokenIn, request: Request) -> TokenCreated:
        """Make a token. Its secret is in this answer only: keep it now."""
        by = principal_of(request).name
        try:
            token = await asyncio.to_thread(access.create, body.name, body.role, by)
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        now = time.time()
        return TokenCreated(
            name=body.name,
            role=body.role,
            source="store",
            created=utc_datetime(now),
            created_by=by,
            token=token,
        )

    @router.delete(
        "/tokens/{name}",
        response_model=TokenOut,
        tags=["access"],
        responses={404: {"description": "no active token has this name"}},
    )
    async def revoke_token(name: str) -> TokenOut:
        """Revoke a token: refused from now on (config tokens go by editing the config)."""
        rows = [r for r in access.tokens() if r["name"] == name and r["source"] == "store"]
        if not rows or not await asyncio.to_thread(access.revoke, name):
            raise HTTPException(404, f"no active token is named {name!r}")
        return _token_out({**rows[0], "revoked": time.time()})

    @router.get("/audit", response_model=AuditPage, tags=["access"])
    def audit(
        limit: int = Query(100, ge=1, le=1000),
        before: int | None = Query(
            None, ge=1, le=2**63 - 1, description="an id from the previous page"
        ),
    ) -> AuditPage:
        """Every state-changing call, newest first: who, when, what, and the answer's status."""
        rows = access.audit(limit, before)
        items = [AuditEntry(**{**r, "at": utc_datetime(r["at"])}) for r in rows]
        return AuditPage(items=items, next_before=items[-1].id if len(items) == limit else None)

    return router
