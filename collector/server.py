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
from collections import OrderedDict
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from chargewatch import events as ev
from chargewatch.config import OcppConfig
from chargewatch.journal import Journal, JournalError
from collector import framing
from collector.adapter import Adapter, HandlerError
from collector.auth import ChargerAuth
from collector.handshake import Handshake, address_of
from collector.metrics import OcppMetrics
from collector.pending import Answer, NotConnected, PendingCalls, wait_answer
from collector.validation import PayloadError

log = logging.getLogger(__name__)

RECENT_ANSWERS = 64  # answers kept per connection for retried message ids
COMMISSIONING_RETRY_S = 60  # a charger pending commissioning boots again after this long
CLOSE_UNSUPPORTED_DATA = 1003


class _Charger:
    """One open connection: the charger, its adapter and the answers it may ask for again."""

    __slots__ = (
        "adapter",
        "boot_noted",
        "charger_id",
        "closed_because",
        "commissioning",
        "pending",
        "recent",
        "ws",
    )

    def __init__(
        self,
        charger_id: str,
        ws: ServerConnection,
        adapter: Adapter,
        recent: list[tuple[str, str]],
        commissioning: bool = False,
    ) -> None:
        self.charger_id, self.ws, self.adapter = charger_id, ws, adapter
        self.recent: OrderedDict[str, str] = OrderedDict(recent)
        self.pending = PendingCalls()  # our calls (remote commands) awaiting an answer
        self.commissioning = commissioning  # unknown, admitted only to be commissioned
        self.closed_because: str | None = None  # why we closed it, when we did
        self.boot_noted = 0.0  # when its last pending BootNotification was journaled

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
        if auth is not None:
            auth.on_lockout = lambda event: journal.stage([event])
        self._ssl = ssl_context  # wss:// (security profiles 2 and 3)
        self.adapters = adapters  # subprotocol -> adapter, in order of preference
        self.journal = journal
        self.metrics = metrics
        self.connections: dict[str, _Charger] = {}
        self._server: Server | None = None
        self._closing: set[asyncio.Task[None]] = set()  # replaced connections being closed
        self.handshake = Handshake(config, list(adapters), metrics, auth)
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
            process_request=self.handshake.check,
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

    # ---- connection --------------------------------------------------------------------
    async def _serve_charger(self, ws: ServerConnection) -> None:
        charger_id = self.handshake.charger_id_from_path(ws.request.path) or ""
        protocol = str(ws.subprotocol)
        adapter = self.adapters[protocol]
        remote = ":".join(str(x) for x in (ws.remote_address or ())[:2])
        commissioning = self.auth is not None and self.auth.pending(charger_id)
        charger = _Charger(
            charger_id, ws, adapter, await self.journal.recent_responses(charger_id), commissioning
        )
        previous = self.connections.get(charger_id)
        self.connections[charger_id] = charger
        if previous is not None:
            log.warning("%s: new connection from %s replaces the open one", charger_id, remote)
            task = asyncio.create_task(previous.ws.close(1000, "replaced by a new connection"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        gauge = self.metrics.connections.labels(protocol)
        gauge.inc()
        address = address_of(ws)
        per_address = self.handshake.per_address
        per_address[address] += 1
        try:
            await self.journal.commit(
                [ev.Connected(charger_id, time.time(), remote, protocol, commissioning)]
            )
            if commissioning:
                log.warning(
                    "%s: unknown charger connected from %s (%s), pending commissioning",
                    charger_id,
                    remote,
                    protocol,
                )
            else:
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
            per_address[address] -= 1
            if not per_address[address]:
                del per_address[address]
            charger.pending.fail_all(f"{charger_id} disconnected before answering")
            if self.connections.get(charger_id) is charger:
                del self.connections[charger_id]
                code = ws.close_code
                reason = charger.closed_because or ws.close_reason or ""
                if self._stopping:
                    reason = ev.REASON_COLLECTOR_STOPPING
                log.info("%s: disconnected (code %s %s)", charger_id, code, reason)
                try:
                    await self.journal.commit(
                        [ev.Disconnected(charger_id, time.time(), code, reason, commissioning)]
                    )
                except JournalError:
                    log.error("%s: could not journal the disconnect", charger_id)

    # ---- commissioning -----------------------------------------------------------------
    async def release_commissioned(self, charger_id: str) -> bool:
        """Close the connection of a charger that was pending commissioning and is now
        registered: it reconnects and authenticates like any known charger. True if closed."""
        charger = self.connections.get(charger_id)
        if charger is None or not charger.commissioning or self.auth is None:
            return False
        if self.auth.pending(charger_id):
            return False
        charger.closed_because = ev.REASON_COMMISSIONED
        log.info("%s: commissioned, closing its pending connection", charger_id)
        await charger.ws.close(1000, "commissioned: reconnect")
        return True

    def _while_commissioning(
        self, charger: _Charger, action: str, payload: Any, now: float
    ) -> tuple[dict[str, Any], list[ev.Event]]:
        """BootNotification is checked and answered Pending; anything else is refused with
        SecurityError, the CallError OCPP 2.0.1 (B02) names for a station not accepted."""
        if action != "BootNotification":
            raise HandlerError(
                "SecurityError",
                "pending commissioning: nothing but BootNotification is accepted until an "
                "operator registers this charge point",
            )
        response, events = charger.adapter.handle(charger.charger_id, action, payload, now)
        pending = {**response, "status": "Pending", "interval": COMMISSIONING_RETRY_S}
        if now - charger.boot_noted < COMMISSIONING_RETRY_S / 2:
            return pending, []  # it ignores the interval: answered, but not journaled again
        charger.boot_noted = now
        boot = next(e for e in events if isinstance(e, ev.Booted))
        remote = ":".join(str(x) for x in (charger.ws.remote_address or ())[:2])
        request = ev.CommissioningRequested(
            charger.charger_id,
            now,
            vendor=boot.vendor,
            model=boot.model,
            serial_number=boot.serial_number or boot.charge_box_serial_number,
            firmware_version=boot.firmware_version,
            remote=remote,
        )
        return pending, [request]

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
        if charger.commissioning and await self.release_commissioned(cid):
            return None  # registered meanwhile: it signs in again on a new connection
        self.journal.state.charger(cid).messages += 1
        label = action if action in adapter.schemas.actions else "unknown"
        result = "ok"
        try:
            if charger.commissioning:
                response, events = self._while_commissioning(charger, action, frame.payload, now)
            else:
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


__all__ = ["OcppServer"]
