"""HTTP side of diagnostics uploads (chargewatch/uploads.py).

`POST|PUT /uploads/{ticket}[/{filename}]` is where chargers upload. It is outside /api/v1
on purpose: a charger has no API token; the ticket in the path is its one-time credential.
`GET /api/v1/chargers/{id}/uploads[/{name}]` lists and downloads what arrived (viewer).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from chargewatch.api import Problem
from chargewatch.state import LiveState
from chargewatch.timestamps import utc_datetime
from chargewatch.uploads import PREFIX, UploadRefused, UploadStore


class UploadOut(BaseModel):
    charger: str
    stored: str
    bytes: int
    sha256: str


class StoredOut(BaseModel):
    name: str
    bytes: int
    received: datetime
    path: str  # the API path that downloads it


class UploadList(BaseModel):
    charger: str
    count: int
    uploads: list[StoredOut]


BODY = {
    "description": "the file: its raw bytes, or a multipart/form-data form with one file",
    "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
    },
}
UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "a file name with a path, or a broken multipart body"},
    404: {"model": Problem, "description": "no such upload ticket"},
    409: {"model": Problem, "description": "an upload with this ticket is in progress"},
    410: {"model": Problem, "description": "the ticket was used or has expired"},
    413: {"model": Problem, "description": "larger than http.max_upload_bytes"},
    503: {"model": Problem, "description": "the journal could not record it: retry"},
    507: {"model": Problem, "description": "the file could not be written"},
}
TICKET = Path(min_length=1, max_length=100, description="from the URL the command gave")


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise HTTPException(400, f"Content-Length {raw!r} is not a number of bytes")
    return int(raw)


def upload_router(store: UploadStore) -> APIRouter:
    """The chargers' side: open, each request authorised by its ticket alone."""
    router = APIRouter(tags=["uploads"])

    async def take(ticket: str, filename: str, request: Request) -> UploadOut:
        try:
            event = await store.receive(
                ticket,
                filename,
                request.headers.get("content-type", ""),
                _content_length(request),
                request.stream(),
                request.client.host if request.client else "",
            )
        except UploadRefused as exc:
            raise HTTPException(exc.status, exc.detail) from None
        except ClientDisconnect:
            raise HTTPException(400, "the upload was cut off") from None
        return UploadOut(
            charger=event.charger_id, stored=event.stored, bytes=event.bytes, sha256=event.sha256
        )

    async def upload(request: Request, ticket: str = TICKET) -> UploadOut:
        """A charger uploads the file of a get-diagnostics / get-log command."""
        return await take(ticket, "", request)

    async def upload_named(
        request: Request,
        ticket: str = TICKET,
        filename: str = Path(max_length=1000, description="the file's name (a plain name)"),
    ) -> UploadOut:
        """As above, the file named in the path (chargers that append their file name)."""
        return await take(ticket, filename, request)

    for method in ("PUT", "POST"):  # PUT: `curl -T` and raw bodies; POST: forms, raw too
        for path, endpoint in (("", upload), ("/{filename:path}", upload_named)):
            router.add_api_route(
                f"{PREFIX}/{{ticket}}{path}",
                endpoint,
                methods=[method],
                status_code=201,
                response_model=UploadOut,
                responses=UPLOAD_RESPONSES,
                openapi_extra={"requestBody": BODY},
                operation_id=f"{endpoint.__name__}_{method.lower()}",
            )

    return router


def uploads_router(store: UploadStore, state: LiveState) -> APIRouter:
    """The operators' side, under /api/v1 (the middleware's viewer role)."""
    router = APIRouter(prefix="/api/v1/chargers/{charger_id}/uploads", tags=["uploads"])

    def files_of(charger_id: str) -> list[Any]:
        found = store.files(charger_id)
        if found is None:
            if charger_id not in state.chargers:
                raise HTTPException(404, f"no charger {charger_id!r} has connected")
            return []
        return found

    @router.get("", response_model=UploadList, responses={404: {"model": Problem}})
    async def list_uploads(charger_id: str) -> UploadList:
        """The files a charger uploaded (diagnostics, logs), newest first."""
        cid = quote(charger_id, safe="")
        out = [
            StoredOut(
                name=f.name,
                bytes=f.bytes,
                received=utc_datetime(f.received),
                path=f"/api/v1/chargers/{cid}/uploads/{quote(f.name, safe='')}",
            )
            for f in files_of(charger_id)
        ]
        return UploadList(charger=charger_id, count=len(out), uploads=out)

    @router.get(
        "/{name}",
        response_class=FileResponse,
        responses={
            200: {"content": {"application/octet-stream": {}}, "description": "the file"},
            404: {"model": Problem},
        },
    )
    async def download_upload(charger_id: str, name: str) -> FileResponse:
        """One uploaded file, as it arrived."""
        files_of(charger_id)
        path = store.path_of(charger_id, name)
        if path is None:
            raise HTTPException(404, f"{charger_id!r} has no upload named {name!r}")
        return FileResponse(path, media_type="application/octet-stream", filename=name)

    return router
