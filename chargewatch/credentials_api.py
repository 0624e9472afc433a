"""/api/v1/credentials (admin): register chargers, their security profile and password while
`chargewatch run` runs; the CLI's `chargewatch chargers` does the same offline.

A change takes effect at the next handshake, and a charger waiting "pending commissioning"
is disconnected at once so that it reconnects and signs in as the known charger it now is.
A generated password is in the answer once and never again: the store keeps its hash.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from chargewatch import credentials, store
from collector.auth import ChargerAuth
from collector.handshake import MAX_CHARGER_ID, valid_charger_id
from collector.server import OcppServer


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: int = Field(1, ge=0, le=3, description="the least security profile it must use")
    password: SecretStr | None = Field(
        None,
        description="16-40 printable ASCII characters without ':'; omitted: one is generated "
        "for profiles 1 and 2 (profiles 0 and 3 need none)",
    )


class CredentialOut(BaseModel):
    charger_id: str
    profile: int
    has_password: bool


class CredentialSet(CredentialOut):
    password: str | None = Field(description="the generated password, shown only now")
    released: bool = Field(description="a connection pending commissioning was closed")


class CredentialList(BaseModel):
    count: int
    credentials: list[CredentialOut]


def _write(db_path: Path, fn: Callable[..., object], *args: object) -> None:
    """One write to the store (rare: a connection each time), from a worker thread."""
    with contextlib.closing(store.open_reader(db_path)) as conn:
        fn(conn, *args)


def _charger_id(charger_id: str) -> str:
    if not valid_charger_id(charger_id):
        raise HTTPException(
            422, f"a charge point id has 1 to {MAX_CHARGER_ID} printable characters"
        )
    return charger_id


def _out(c: credentials.Credential) -> CredentialOut:
    return CredentialOut(
        charger_id=c.charger_id, profile=c.profile, has_password=c.password_hash is not None
    )


def credentials_router(auth: ChargerAuth, server: OcppServer, db_path: Path) -> APIRouter:
    router = APIRouter(prefix="/api/v1/credentials", tags=["chargers"])

    @router.get("", response_model=CredentialList)
    def list_credentials() -> CredentialList:
        """Registered chargers and their profiles (never a password or its hash)."""
        rows = sorted(auth.credentials.values(), key=lambda c: c.charger_id)
        return CredentialList(count=len(rows), credentials=[_out(c) for c in rows])

    @router.get("/{charger_id}", response_model=CredentialOut, responses={404: {}})
    def get_credential(charger_id: str) -> CredentialOut:
        cred = auth.credentials.get(charger_id)
        if cred is None:
            raise HTTPException(404, f"no charger {charger_id!r} is registered")
        return _out(cred)

    @router.put("/{charger_id}", response_model=CredentialSet, responses={422: {}})
    async def set_credential(charger_id: str, body: CredentialIn) -> CredentialSet:
        """Register a charger or change its profile and password."""
        cid = _charger_id(charger_id)
        generated = None
        if body.password is not None:
            try:
                password: str | None = credentials.check_password(body.password.get_secret_value())
            except ValueError as exc:
                raise HTTPException(422, f"password: {exc}") from None
        elif body.profile in (1, 2):
            password = generated = credentials.generate_password()
        else:
            password = None
        hashed = (
            None
            if password is None
            else await asyncio.to_thread(credentials.hash_password, password)
        )
        await asyncio.to_thread(_write, db_path, credentials.save, cid, hashed, body.profile)
        auth.credentials[cid] = credentials.Credential(cid, hashed, body.profile)
        released = await server.release_commissioned(cid)
        return CredentialSet(
            charger_id=cid,
            profile=body.profile,
            has_password=hashed is not None,
            password=generated,
            released=released,
        )

    @router.delete("/{charger_id}", status_code=204, responses={404: {}})
    async def remove_credential(charger_id: str) -> None:
        """Forget a charger: it is unknown from its next handshake on."""
        if charger_id not in auth.credentials:
            raise HTTPException(404, f"no charger {charger_id!r} is registered")
        await asyncio.to_thread(_write, db_path, credentials.remove, charger_id)
        auth.credentials.pop(charger_id, None)

    return router
