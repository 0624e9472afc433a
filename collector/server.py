"""The OCPP-J endpoint: accept chargers, answer every frame, journal before acknowledging.

One task per connection reads frames in order and answers each only after its events
are durable in the journal. Nothing a charger sends can raise out of its own task, so
one bad charger never touches another's connection or data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections import Counter, OrderedDict
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from chargewatch import events as ev
from chargewatch.config import OcppConfig
from chargewatch.journal import Journal, JournalError
from collector import framing
from collector.adapter import Adapter, HandlerError
from collector.auth import REALM, ChargerAuth
from collector.metrics import OcppMetrics
from collector.pending import Answer, NotConnected, PendingCalls, wait_answer
from collector.validation import PayloadError

log = logging.getLogger(__name__)

MAX_CHARGER_ID = 48  # OCPP 2.0.1 identity limit; also applied to 1.6J
RECENT_ANSWERS = 64  # answers kept per connection for retried message ids
CLOSE_UNSUPPORTED_DATA = 1003


def offered_subprotocols(headers: Headers) -> list[str]:
    return [
        p.strip()
        for value in headers.get_all("Sec-WebSocket-Protocol")
        for p in value.split(",")
        if p.strip()
    ]


def _address(connection: ServerConnection) -> str:
    return str((connection.remote_address or ("?",))[0])


class _Charger:
    """One open connection: the charger, its adapter and the answers it may ask for again."""

    __slots__ = ("adapter", "charger_id", "pending", "recent", "ws")

    def __init__(
        self, charger_id: str, ws: ServerConnection, adapter: Adapter, recent: list[tuple[str, str]]
    ) -> None:
        self.charger_id, self.ws, self.adapter = charger_id, ws, adapter
        self.recent: OrderedDict[str, str] = OrderedDict(recent)
        self.pending = PendingCalls()  # our calls (remote commands) awaiting an answer

    def remember(self, message_id: str, answer: str) -> None:
        self.recent[message_id] = answer
        if len(self.recent) > RECENT_ANSWERS:
            self.recent.popitem(last=False)


class OcppServer:
    def __init__(
        self,
        config: OcppConfig,
        adapters: dict[str, Adapter],
        journal: Journal,
        metrics: OcppMetrics,
        auth: ChargerAuth | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.auth = auth  # None: no charger needs to authenticate (security profile 0)
        self._ssl = ssl_context  # wss:// (security profiles 2 and 3)
        self.adapters = adapters  # subprotocol -> adapter, in order of preference
        self.journal = journal
        self.metrics = metrics
        self.connections: dict[str, _Charger] = {}
        self._server: Server | None = None
        self._closing: set[asyncio.Task[None]] = set()  # replaced connections being closed
        self._per_address: Counter[str] = Counter()  # open connections per remote IP
        self._stopping = False

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self, host: str, port: int) -> None:
        self._server = await serve(
            self._serve_charger,
            host,
            port,
            process_request=self._check_handshake,
            ssl=self._ssl,
            # the server's order wins: websockets selects the first of ours the charger
            # offers, so one offering ocpp1.6 and ocpp2.0.1 gets what we list first
            subprotocols=list(self.adapters),  # type: ignore[arg-type]
            compression=None,  # OCPP frames are small; deflate costs more than it saves
            max_size=self.config.max_frame_bytes,  # larger frames close with 1009
            logger=logging.getLogger("websockets.server"),
            open_timeout=self.config.security.handshake_timeout,
        )

    async def stop(self) -> None:
        """Close every connection (1001 going away) and wait until each is journaled."""
        self._stopping = True  # the disconnects that follow are ours, not the chargers'
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # ---- handshake ---------------------------------------------------------------------
    def charger_id_from_path(self, path: str) -> str | None:
        prefix = self.config.path_prefix + "/"
        raw_path = urlsplit(path).path
        if not raw_path.startswith(prefix):
            return None
        segment = raw_path.rstrip("/").rsplit("/", 1)[-1] if raw_path != prefix else ""
        return unquote(segment, errors="strict") if segment else ""

    def _refuse(
        self, connection: ServerConnection, status: HTTPStatus, reason: str, text: str
    ) -> Response:
        self.metrics.handshakes_refused.labels(reason).inc()
        log.info("refused handshake from %s: %s", connection.remote_address, text)
        return connection.respond(status, text + "\n")

    async def _check_handshake(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        refusal = self._check_request(connection, request)
        if refusal is not None or self.auth is None:
            return refusal
        charger_id = self.charger_id_from_path(request.path) or ""
        denied = await self.auth.check(connection, request, charger_id)
        if denied is None:
            return None
        response = self._refuse(connection, denied.status, denied.reason, denied.text)
        if denied.challenge:
            response.headers["WWW-Authenticate"] = REALM
        return response

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """The path, the charger id and the subprotocol (before any authentication)."""
        try:
            charger_id = self.charger_id_from_path(request.path)
        except UnicodeDecodeError:
            return self._refuse(
                connection,
                HTTPStatus.BAD_REQUEST,
                "bad_charger_id",
                "charge point id is not valid UTF-8 after percent-decoding",
            )
        if charger_id is None:
            return self._refuse(
                connection,
                HTTPStatus.NOT_FOUND,
                "bad_path",
                f"OCPP endpoint is {self.config.path_prefix}/<chargePointId>",
            )
        if not charger_id or len(charger_id) > MAX_CHARGER_ID or not charger_id.isprintable():
            return self._refuse(
                connection,
                HTTPStatus.BAD_REQUEST,
                "bad_charger_id",
                f"charge point id must be 1 to {MAX_CHARGER_ID} printable characters",
            )
        cap = self.config.security.max_connections_per_address
        if cap and self._per_address[_address(connection)] >= cap:
            return self._refuse(
                connection,
                HTTPStatus.SERVICE_UNAVAILABLE,
                "too_many_connections",
                f"too many connections from this address (at most {cap})",
            )
        offered = offered_subprotocols(request.headers)
        if not any(p in self.adapters for p in offered):
            return self._refuse(
                connection,
                HTTPStatus.BAD_REQUEST,
                "subprotocol",
                f"no supported OCPP subprotocol offered (Sec-WebSocket-Protocol: "
                f"{', '.join(offered) or 'none'}); this server speaks {', '.join(self.adapters)}",
            )
        return None

    # ---- connection --------------------------------------------------------------------
    async def _serve_charger(self, ws: ServerConnection) -> None:
        charger_id = self.charger_id_from_path(ws.request.path) or ""
        protocol = str(ws.subprotocol)
        adapter = self.adapters[protocol]
        remote = ":".join(str(x) for x in (ws.remote_address or ())[:2])
        charger = _Charger(charger_id, ws, adapter, await self.journal.recent_responses(charger_id))
        previous = self.connections.get(charger_id)
        self.connections[charger_id] = charger
        if previous is not None:
            log.warning("%s: new connection from %s replaces the open one", charger_id, remote)
            task = asyncio.create_task(previous.ws.close(1000, "replaced by a new connection"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        gauge = self.metrics.connections.labels(protocol)
        gauge.inc()
        address = _address(ws)
        self._per_address[address] += 1
        try:
            await self.journal.commit([ev.Connected(charger_id, time.time(), remote, protocol)])
            log.info("%s: connected from %s (%s)", charger_id, remote, protocol)
            async for message in ws:
                if isinstance(message, bytes):
                    self.metrics.bad_frames.labels("binary").inc()
                    await ws.close(CLOSE_UNSUPPORTED_DATA, "OCPP-J uses text frames")
                    break
                answer = await self._on_frame(charger, message)
                if answer is not None:
                    await ws.send(answer)
        except ConnectionClosed:
            pass
        except JournalError:
            log.error("%s: journal unavailable, closing the connection", charger_id)
        finally:
            gauge.dec()
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]
            charger.pending.fail_all(f"{charger_id} disconnected before answering")
            if self.connections.get(charger_id) is charger:
                del self.connections[charger_id]
                code = ws.close_code
                reason = ws.close_reason or ""
                if self._stopping:
                    reason = ev.REASON_COLLECTOR_STOPPING
                log.info("%s: disconnected (code %s %s)", charger_id, code, reason)
                try:
                    await self.journal.commit(
                        [ev.Disconnected(charger_id, time.time(), code, reason)]
                    )
                except JournalError:
                    log.error("%s: could not journal the disconnect", charger_id)

    # ---- our calls ---------------------------------------------------------------------
    def adapter_of(self, charger_id: str) -> Adapter:
        """The adapter of the charger's open connection; NotConnected without one."""
        charger = self.connections.get(charger_id)
        if charger is None:
            raise NotConnected(f"{charger_id} is not connected")
        return charger.adapter

    async def call(
        self, charger_id: str, action: str, payload: dict[str, Any], timeout_s: float
    ) -> Answer:
        """Send a CSMS-initiated call over the charger's live connection and await the answer.

        Raises NotConnected, CallTimeout or ConnectionLost (collector/pending.py).
        """
        charger = self.connections.get(charger_id)
        if charger is None:
            raise NotConnected(f"{charger_id} is not connected")
        mid, future = charger.pending.open()
        started = time.perf_counter()
        try:
            await charger.ws.send(json.dumps([framing.CALL, mid, action, payload]))
        except ConnectionClosed:
            charger.pending.discard(mid)
            raise NotConnected(f"{charger_id} disconnected before the call went out") from None
        return await wait_answer(charger.pending, mid, future, started, timeout_s)

    # ---- frames ------------------------------------------------------------------------
    async def _on_frame(self, charger: _Charger, text: str) -> str | None:
        """Handle one text frame; return the answer to send, if any."""
        started = time.perf_counter()
        now = time.time()
        cid, adapter = charger.charger_id, charger.adapter
        try:
            frame = framing.parse(text)
        except framing.FrameError as exc:
            return self._on_bad_frame(charger, text, now, exc)
        if not isinstance(frame, framing.Call):
            if charger.pending.resolve(frame):
                return None  # the answer to one of our calls (collector/commands.py)
            # a CallResult / CallError for no call of ours (or one that timed out already)
            self.metrics.unexpected_responses.inc()
            log.warning(
                "%s: unexpected %s for message id %s", cid, type(frame).__name__, frame.message_id
            )
            return None
        mid, action = frame.message_id, frame.action
        cached = charger.recent.get(mid)
        if cached is not None:
            self.metrics.retried_calls.inc()
            return cached
        self.journal.state.charger(cid).messages += 1
        label = action if action in adapter.schemas.actions else "unknown"
        result = "ok"
        try:
            response, events = adapter.handle(cid, action, frame.payload, now)
        except PayloadError as exc:
            result = adapter.error_code(exc.kind)
            answer = framing.call_error(
                mid, result, exc.description, {"field": exc.field} if exc.field else None
            )
        except HandlerError as exc:
            result, answer = exc.code, framing.call_error(mid, exc.code, exc.description)
        except Exception:
            log.exception("%s: failed to handle %s %s", cid, action, mid)
            result = "InternalError"
            answer = framing.call_error(mid, result, f"internal error while handling {action}")
        else:
            answer = framing.call_result(mid, response)
            try:
                await self.journal.commit(
                    events, ev.RawMessage(cid, now, mid, action, text, answer, True)
                )
            except JournalError:
                result = "InternalError"
                answer = framing.call_error(
                    mid, result, "the message could not be stored; send it again later"
                )
            except Exception:
                log.exception("%s: failed to record %s %s", cid, action, mid)
                result = "InternalError"
                answer = framing.call_error(mid, result, f"internal error while storing {action}")
            else:
                charger.remember(mid, answer)
        if result != "ok":
            self.metrics.call_errors.labels(result).inc()
            log.info("%s: %s %s answered %s", cid, action, mid, answer)
            self.journal.stage([], ev.RawMessage(cid, now, mid, action, text, answer, False))
        self.metrics.messages.labels(label, result).inc()
        self.metrics.handling.labels(label).observe(time.perf_counter() - started)
        return answer

    def _on_bad_frame(
        self, charger: _Charger, text: str, now: float, exc: framing.FrameError
    ) -> str | None:
        self.metrics.bad_frames.labels(exc.kind).inc()
        answer = None
        if exc.message_id is not None and exc.answerable:
            code = charger.adapter.error_code(exc.kind)
            self.metrics.call_errors.labels(code).inc()
            answer = framing.call_error(exc.message_id, code, exc.description)
        log.warning("%s: bad frame (%s): %s", charger.charger_id, exc.kind, exc.description)
        self.journal.stage(
            [],
            ev.RawMessage(
                charger.charger_id, now, exc.message_id, None, text[:4096], answer, False
            ),
        )
        return answer


__all__ = ["OcppServer", "offered_subprotocols"]
