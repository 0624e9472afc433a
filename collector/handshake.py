"""The OCPP WebSocket handshake: the path and charge point id, the subprotocol, the cap on
connections per address, then the charger's authentication (collector/auth.py). A refusal
is an HTTP answer before any WebSocket exists, counted by reason."""

from __future__ import annotations

import logging
from collections import Counter
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from chargewatch.config import OcppConfig
from collector.auth import REALM, ChargerAuth
from collector.metrics import OcppMetrics

log = logging.getLogger("collector.server")

MAX_CHARGER_ID = 48  # OCPP 2.0.1 identity limit; also applied to 1.6J


def valid_charger_id(charger_id: str) -> bool:
    return bool(charger_id) and len(charger_id) <= MAX_CHARGER_ID and charger_id.isprintable()


def offered_subprotocols(headers: Headers) -> list[str]:
    return [
        p.strip()
        for value in headers.get_all("Sec-WebSocket-Protocol")
        for p in value.split(",")
        if p.strip()
    ]


def address_of(connection: ServerConnection) -> str:
    return str((connection.remote_address or ("?",))[0])


class Handshake:
    """`process_request` of the WebSocket server: None admits, a Response refuses."""

    def __init__(
        self,
        config: OcppConfig,
        subprotocols: list[str],
        metrics: OcppMetrics,
        auth: ChargerAuth | None,
    ) -> None:
        self.config, self.metrics, self.auth = config, metrics, auth
        self.subprotocols = subprotocols  # ours, in order of preference
        self.per_address: Counter[str] = Counter()  # open connections per remote IP (server's)

    def charger_id_from_path(self, path: str) -> str | None:
        prefix = self.config.path_prefix + "/"
        raw_path = urlsplit(path).path
        if not raw_path.startswith(prefix):
            return None
        segment = raw_path.rstrip("/").rsplit("/", 1)[-1] if raw_path != prefix else ""
        return unquote(segment, errors="strict") if segment else ""

    def refuse(
        self, connection: ServerConnection, status: HTTPStatus, reason: str, text: str
    ) -> Response:
        self.metrics.handshakes_refused.labels(reason).inc()
        log.info("refused handshake from %s: %s", connection.remote_address, text)
        return connection.respond(status, text + "\n")

    async def check(self, connection: ServerConnection, request: Request) -> Response | None:
        refusal = self.check_request(connection, request)
        if refusal is not None or self.auth is None:
            return refusal
        charger_id = self.charger_id_from_path(request.path) or ""
        denied = await self.auth.check(connection, request, charger_id)
        if denied is None:
            return None
        response = self.refuse(connection, denied.status, denied.reason, denied.text)
        if denied.challenge:
            response.headers["WWW-Authenticate"] = REALM
        return response

    def check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """The path, the charger id and the subprotocol (before any authentication)."""
        try:
            charger_id = self.charger_id_from_path(request.path)
        except UnicodeDecodeError:
            return self.refuse(
                connection,
                HTTPStatus.BAD_REQUEST,
                "bad_charger_id",
                "charge point id is not valid UTF-8 after percent-decoding",
            )
        if charger_id is None:
            return self.refuse(
                connection,
                HTTPStatus.NOT_FOUND,
                "bad_path",
                f"OCPP endpoint is {self.config.path_prefix}/<chargePointId>",
            )
        if not valid_charger_id(charger_id):
            return self.refuse(
                connection,
                HTTPStatus.BAD_REQUEST,
                "bad_charger_id",
                f"charge point id must be 1 to {MAX_CHARGER_ID} printable characters",
            )
        cap = self.config.security.max_connections_per_address
        if cap and self.per_address[address_of(connection)] >= cap:
            return self.refuse(
                connection,
                HTTPStatus.SERVICE_UNAVAILABLE,
                "too_many_connections",
                f"too many connections from this address (at most {cap})",
            )
        offered, ours = offered_subprotocols(request.headers), self.subprotocols
        if not any(p in ours for p in offered):
            return self.refuse(
                connection,
                HTTPStatus.BAD_REQUEST,
                "subprotocol",
                f"no supported OCPP subprotocol offered (Sec-WebSocket-Protocol: "
                f"{', '.join(offered) or 'none'}); this server speaks {', '.join(ours)}",
            )
        return None
