"""`POST /api/v1/chargers/{id}/commands/<command>`: remote commands to a connected charger.

One endpoint per version-neutral command (collector/commands.py); the answer is the
charger's own payload. This module has no `from __future__ import annotations`: the body
types are built in a loop and FastAPI reads them from the endpoint's live annotations.
"""

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel

from chargewatch import access as ac
from chargewatch.access_api import principal_of
from chargewatch.api import Problem
from chargewatch.uploads import UploadStore
from collector import commander as cmd
from collector.commands import COMMANDS, UPLOADS, BadParams, Command, Unsupported
from collector.pending import NotConnected

MAX_TIMEOUT_S = 300.0

# how an outcome that is not an answer reaches the operator
FAILURE_STATUS = {
    cmd.TIMEOUT: 504,
    cmd.DISCONNECTED: 502,
    cmd.CALL_ERROR: 502,
    cmd.INVALID_ANSWER: 502,
}


class CommandOut(BaseModel):
    charger: str
    protocol: str
    command: str
    action: str  # the OCPP action sent
    status: str | None  # the answer's `status` (Accepted, Rejected, ...) when it has one
    result: dict[str, Any]  # the charger's payload
    elapsed_ms: float | None
    # get-diagnostics / get-log without a location: where the charger was told to upload
    upload_url: str | None = None


RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no charger of that id has connected"},
    409: {"model": Problem, "description": "the charger is not connected"},
    # no model: `detail` is a string here, and FastAPI's list of errors for an invalid request
    422: {"description": "the charger's OCPP version has no such command, or invalid input"},
    502: {"model": Problem, "description": "CallError, a broken answer, or a disconnect"},
    504: {"model": Problem, "description": "the charger did not answer in time"},
}


def _endpoint(
    commander: cmd.Commander, name: str, model: type[Command], uploads: UploadStore | None
) -> Any:
    async def send(
        request: Request,
        charger_id: str,
        body: model,  # type: ignore[valid-type]
        timeout: float = Query(  # noqa: ASYNC109 - the HTTP parameter's name
            cmd.DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S, description="seconds to wait"
        ),
    ) -> CommandOut:
        body = body.model_copy(update={"by": requester(request, body.by)})
        issued = None
        if uploads is not None and name in UPLOADS and body.location is None:
            # no location given: the charger uploads to us, with a ticket of its own
            issued = uploads.issue(charger_id, name, body.by)
            body = body.model_copy(update={"location": issued.url})
        out = None
        try:
            out = await commander.run(charger_id, name, body, timeout)
        except cmd.UnknownCharger as exc:
            raise HTTPException(404, str(exc)) from None
        except NotConnected as exc:
            raise HTTPException(409, str(exc)) from None
        except (Unsupported, BadParams) as exc:
            raise HTTPException(422, str(exc)) from None
        finally:  # the ticket is revoked unless the answer announces a file
            announced = uploads is not None and issued is not None and uploads.settle(issued, out)
        if out.outcome != cmd.ANSWERED:
            raise HTTPException(FAILURE_STATUS[out.outcome], out.error or out.outcome)
        return CommandOut(
            charger=out.charger,
            protocol=out.protocol,
            command=out.command,
            action=out.action,
            status=out.status,
            result=out.result,
            elapsed_ms=out.elapsed_ms,
            upload_url=issued.url if issued is not None and announced else None,
        )

    send.__name__ = f"command_{name.replace('-', '_')}"
    send.__doc__ = f"Send `{name}` to a connected charger; its answer, or why there is none."
    return send


def requester(request: Request, said: str) -> str:
    """Who asks, for the journal: the token's name (what the body says beside it), or
    only what the body says when the API is open."""
    who = principal_of(request).name
    if who == ac.ANONYMOUS:
        return said
    return f"{who} ({said})" if said and said != who else who


def commands_router(commander: cmd.Commander, uploads: UploadStore | None = None) -> APIRouter:
    """Every remote command as a POST (commands change chargers: operators only).
    With `uploads`, get-diagnostics / get-log without a location upload to ChargeWatch."""
    router = APIRouter(tags=["commands"])
    for name, model in COMMANDS.items():
        router.add_api_route(
            f"/api/v1/chargers/{{charger_id}}/commands/{name}",
            _endpoint(commander, name, model, uploads),
            methods=["POST"],
            response_model=CommandOut,
            responses=RESPONSES,
        )
    return router
