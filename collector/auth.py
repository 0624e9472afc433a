"""Charger authentication at the WebSocket handshake: OCPP security profiles 1 to 3.

    profile 1  HTTP Basic auth (user = charger id, its password) over ws:// or wss://
    profile 2  the same, over TLS (wss://) only
    profile 3  TLS with a client certificate signed by the configured CA, CN = charger id

A charger must connect with at least the highest of: `ocpp.security.profile`, its site's
`security_profile` and its own (`chargewatch chargers add --profile`). Failures from one
address or for one charger id are counted; too many within the window lock that address or
id out for a while (HTTP 429, without checking the password again), so guessing passwords
costs the attacker time and not the server CPU (scrypt is deliberately expensive).

A charger is known when a site of the config lists it or it has a registry entry
(`chargewatch chargers add`). Unknown ids follow `ocpp.security.unknown_chargers`: `reject`
(HTTP 404 at the handshake, counted like a failure so ids cannot be enumerated quickly),
`pending` (admitted once the transport of its profile holds — TLS, a client certificate —
without a password, which it cannot have yet, to be commissioned) or `accept`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request

from chargewatch import events as ev
from chargewatch.config import ChargerSecurityConfig
from chargewatch.credentials import Credential, verify_password

log = logging.getLogger(__name__)

REALM = 'Basic realm="ChargeWatch OCPP", charset="UTF-8"'
COUNTED = frozenset({HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND})  # guesses: id or password
STALE_SWEEP = 10_000  # failure windows kept before the over ones are swept


@dataclass(slots=True, frozen=True)
class Refusal:
    status: HTTPStatus
    reason: str  # the metric label
    text: str
    challenge: bool = False  # add WWW-Authenticate: Basic


class ChargerAuth:
    def __init__(
        self,
        config: ChargerSecurityConfig,
        credentials: dict[str, Credential],
        site_of: dict[str, str],
        site_profiles: dict[str, int],
        clock=time.monotonic,
        on_lockout: Callable[[ev.AuthLockedOut], None] | None = None,
    ) -> None:
        self.config = config
        self.credentials = credentials
        self._site_of, self._site_profiles = site_of, site_profiles
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._locked: dict[str, float] = {}
        self.on_lockout = on_lockout  # the server journals it, the security rules alert
        self._next_sweep = 0.0

    def known(self, charger_id: str) -> bool:
        """Listed by a site of the config, or registered (credentials, a profile)."""
        return charger_id in self._site_of or charger_id in self.credentials

    def pending(self, charger_id: str) -> bool:
        """To be admitted only as "pending commissioning"."""
        return self.config.unknown_chargers == "pending" and not self.known(charger_id)

    def required_profile(self, charger_id: str) -> int:
        site = self._site_of.get(charger_id)
        cred = self.credentials.get(charger_id)
        return max(
            self.config.profile,
            self._site_profiles.get(site, 0) if site else 0,
            cred.profile if cred else 0,
        )

    async def check(
        self, connection: ServerConnection, request: Request, charger_id: str
    ) -> Refusal | None:
        """None when the charger may connect; otherwise what to answer."""
        address = str((connection.remote_address or ("?",))[0])
        keys = (f"addr:{address}", f"id:{charger_id}")
        now = self._clock()
        if any(self._locked.get(k, 0) > now for k in keys):
            return Refusal(
                HTTPStatus.TOO_MANY_REQUESTS,
                "locked_out",
                "too many failed authentications: try again later",
            )
        policy = self.config.unknown_chargers
        known = policy == "accept" or self.known(charger_id)
        if not known and policy == "reject":
            refusal = Refusal(HTTPStatus.NOT_FOUND, "unknown_charger", "unknown charge point id")
        else:
            required = self.required_profile(charger_id)
            if required == 0:
                return None
            # pending: no password to check yet, but the transport of its profile holds
            refusal = await self._authenticate(
                connection, request, charger_id, required, password=known
            )
        if refusal is not None and refusal.status in COUNTED:
            self._failed(keys, now, charger_id, address, refusal.reason)
        return refusal

    async def _authenticate(
        self,
        connection: ServerConnection,
        request: Request,
        charger_id: str,
        required: int,
        password: bool = True,
    ) -> Refusal | None:
        ssl_object = connection.transport.get_extra_info("ssl_object")
        if required >= 2 and ssl_object is None:
            return Refusal(
                HTTPStatus.FORBIDDEN,
                "needs_tls",
                f"security profile {required}: connect with TLS (wss://)",
            )
        if required == 3:
            cert = ssl_object.getpeercert() if ssl_object is not None else None
            if not cert:
                return Refusal(
                    HTTPStatus.FORBIDDEN,
                    "needs_client_certificate",
                    "security profile 3: present a client certificate signed by our CA",
                )
            names = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
            if names != [charger_id]:
                return Refusal(
                    HTTPStatus.FORBIDDEN,
                    "certificate_cn",
                    "security profile 3: the certificate's CN must be the charge point id",
                )
            return None
        if not password:
            return None
        user, given = _basic(request.headers.get("Authorization"))
        cred = self.credentials.get(charger_id)
        if user != charger_id or given is None or cred is None or cred.password_hash is None:
            return _unauthorized()
        ok = await asyncio.to_thread(verify_password, given, cred.password_hash)
        return None if ok else _unauthorized()

    def _failed(
        self, keys: tuple[str, ...], now: float, charger_id: str, address: str, reason: str
    ) -> None:
        cfg = self.config
        for key in keys:
            window = self._failures[key]
            window.append(now)
            while window and window[0] <= now - cfg.failure_window:
                window.popleft()
            if len(window) >= cfg.max_failures:
                self._locked[key] = now + cfg.lockout
                window.clear()
                log.warning(
                    "locked out %s for %.0f s after %d failed authentications (charger id %r)",
                    key,
                    cfg.lockout,
                    cfg.max_failures,
                    charger_id,
                )
                if self.on_lockout is not None:
                    self.on_lockout(
                        ev.AuthLockedOut(
                            charger_id,
                            time.time(),
                            address=address,
                            locked="address" if key.startswith("addr:") else "charger_id",
                            failures=cfg.max_failures,
                            window_s=cfg.failure_window,
                            lockout_s=cfg.lockout,
                            reason=reason,
                        )
                    )
        self._forget_stale(now)
        log.info("failed authentication of %r from %s (%s)", charger_id, address, reason)

    def _forget_stale(self, now: float) -> None:
        """Drop windows and lockouts that are over: random ids must not grow memory."""
        if len(self._failures) + len(self._locked) < STALE_SWEEP or now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        horizon = now - self.config.failure_window
        for key in [k for k, w in self._failures.items() if not w or w[-1] <= horizon]:
            del self._failures[key]
        for key in [k for k, until in self._locked.items() if until <= now]:
            del self._locked[key]


def _unauthorized() -> Refusal:
    # the same answer for an unknown id and a wrong password: ids are not revealed
    return Refusal(
        HTTPStatus.UNAUTHORIZED, "unauthorized", "unknown charger or wrong password", True
    )


def _basic(header: str | None) -> tuple[str | None, str | None]:
    """(user, password) from an `Authorization: Basic` header; (None, None) otherwise."""
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, None)
