"""/api/v1/tags: the idTag registry over HTTP. Reads are a viewer's; writes an admin's (the
prefix is in chargewatch.access.PATH_RULES, enforced and audited by the middleware).

A write takes effect at once: the next Authorize is answered from it, and, when
`ocpp.authorization.sync_local_lists` is on, connected chargers get the new local list.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from chargewatch.idtags import DEFAULT_TOKEN_TYPE, ID_TAG_PATTERN, Tag, TagRegistry
from chargewatch.timestamps import utc_datetime

IdTag = Annotated[
    str,
    Path(
        pattern=ID_TAG_PATTERN,
        description="1-36 printable ASCII characters (OCPP 1.6 chargers send at most 20); "
        "compared case-insensitively",
    ),
]
Status = Literal["accepted", "blocked", "expired", "invalid"]
TokenType = Literal["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress"]


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status = "accepted"
    expiry: datetime | None = Field(
        None, description="after this the tag is answered Expired (no time zone: UTC)"
    )
    parent_id: str | None = Field(
        None, pattern=ID_TAG_PATTERN, description="1.6 parentIdTag, 2.0.1 groupIdToken"
    )
    owner: str | None = Field(
        None, pattern=ID_TAG_PATTERN, description="the idTag of a registered driver"
    )
    token_type: TokenType = Field(
        DEFAULT_TOKEN_TYPE, description="2.0.1 idToken.type in the local list"
    )
    note: str | None = Field(None, max_length=200)


class TagOut(BaseModel):
    id_tag: str
    status: Status = Field(description="as set; see `effective` for what chargers are told")
    effective: str = Field(description="the status answered now (Expired once past expiry)")
    expiry: datetime | None
    parent_id: str | None
    owner: str | None
    owner_name: str | None = Field(description="the owner's name in the driver registry")
    token_type: str
    note: str | None
    updated: datetime


class TagList(BaseModel):
    count: int
    list_version: int = Field(description="the local authorisation list's version")
    tags: list[TagOut]


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def tags_router(
    registry: TagRegistry,
    driver_name: Callable[[str], str | None] = lambda _tag: None,
    is_driver: Callable[[str], bool] | None = None,
) -> APIRouter:
    """`driver_name` / `is_driver` look owners up in the driver registry (None: no check)."""
    router = APIRouter(prefix="/api/v1/tags", tags=["tags"])

    def out(tag: Tag) -> TagOut:
        return TagOut(
            id_tag=tag.id_tag,
            status=tag.status,  # type: ignore[arg-type]
            effective=tag.status_at(time.time()).capitalize(),
            expiry=utc_datetime(tag.expiry),
            parent_id=tag.parent_id,
            owner=tag.owner,
            owner_name=driver_name(tag.owner) if tag.owner else None,
            token_type=tag.token_type,
            note=tag.note,
            updated=utc_datetime(tag.updated) or datetime.now(UTC),
        )

    @router.get("", response_model=TagList)
    def list_tags() -> TagList:
        """Every registered idTag, and the local list version."""
        tags = [out(t) for t in registry.all()]
        return TagList(count=len(tags), list_version=registry.version, tags=tags)

    @router.get("/{id_tag}", response_model=TagOut, responses={404: {"description": "no tag"}})
    def get_tag(id_tag: IdTag) -> TagOut:
        tag = registry.get(id_tag)
        if tag is None:
            raise HTTPException(404, f"no idTag {id_tag!r} is registered")
        return out(tag)

    @router.put(
        "/{id_tag}",
        response_model=TagOut,
        responses={422: {"description": "invalid field, or an owner who is not a driver"}},
    )
    async def put_tag(id_tag: IdTag, body: TagIn) -> TagOut:
        """Register a tag or replace what is known of it (answers change at once)."""
        if body.owner is not None and is_driver is not None and not is_driver(body.owner):
            raise HTTPException(
                422,
                f"owner: no driver has idTag {body.owner!r} "
                f"(register them with PUT /api/v1/drivers/{body.owner} first)",
            )
        existing = registry.get(id_tag)
        try:
            tag = Tag(
                existing.id_tag if existing else id_tag,  # keeps the case it was registered in
                body.status,
                _epoch(body.expiry),
                body.parent_id,
                body.owner,
                body.token_type,
                body.note,
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return out(await asyncio.to_thread(registry.put, tag))

    @router.delete("/{id_tag}", status_code=204, responses={404: {"description": "no such tag"}})
    async def delete_tag(id_tag: IdTag) -> None:
        """Forget a tag: it is unknown from now on (answered by the unknown-tag policy)."""
        if not await asyncio.to_thread(registry.delete, id_tag):
            raise HTTPException(404, f"no idTag {id_tag!r} is registered")

    return router
