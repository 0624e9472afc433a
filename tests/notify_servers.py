"""Real servers on loopback that notifications are delivered to in tests.

* `SmtpServer` — an aiosmtpd SMTP server (plain, no TLS), optionally with AUTH LOGIN/PLAIN;
  it records every message it accepts. `stop()` then `start()` keeps the port, so a test can
  take the server down and bring it back.
* `HttpReceiver` — a stdlib HTTP server that records every request and answers with a
  configurable status; `stall()` makes it hold requests unanswered (to provoke timeouts).

Both run in their own threads, so they serve sync tests and async tests alike. Wait for
deliveries with `wait_for(n)` from sync code and `await wait_for_async(n)` from async code
(it does not block the event loop).

Fixtures: `smtp_server` (no AUTH), `start_smtp_server(port=None, credentials=None)` (more
servers, or one with AUTH) and `http_receiver`, all stopped after the test;
tests/conftest.py loads this module as a plugin (`pytest_plugins`).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from helpers import free_port

WAIT_TIMEOUT_S = 10.0
T = TypeVar("T")


class _Recorder(Generic[T]):
    """A thread-safe list of received items that tests can wait on."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._changed = threading.Condition()

    def add(self, item: T) -> None:
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def snapshot(self) -> list[T]:
        with self._changed:
            return list(self._items)

    def clear(self) -> None:
        with self._changed:
            self._items.clear()

    def wait_for(self, n: int, timeout: float, what: str) -> list[T]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._items) >= n, timeout):
                raise AssertionError(
                    f"expected {n} {what} within {timeout} s, got {len(self._items)}"
                )
            return list(self._items)


# --- SMTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server accepted it."""

    mail_from: str  # envelope sender (MAIL FROM)
    rcpt_tos: list[str]  # envelope recipients (RCPT TO)
    message: EmailMessage  # parsed with email.policy.default
    login: str | None  # the AUTH user name, None without AUTH

    def part(self, content_type: str) -> str:
        """The decoded body part of this type ("text/plain", "text/html"), with "\\n" line
        ends (SMTP's are CRLF); KeyError if there is none."""
        for part in self.message.walk():
            if part.get_content_type() == content_type and not part.is_multipart():
                return part.get_content().replace("\r\n", "\n")
        raise KeyError(content_type)


class _SmtpHandler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.server._received.add(
            ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message, login)
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    """A plain SMTP server on 127.0.0.1:`port`. With `credentials=(user, password)` it
    offers AUTH (without TLS) and accepts only that pair; without, it offers no AUTH."""

    def __init__(self, port: int | None = None, credentials: tuple[str, str] | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.credentials = credentials
        self._received: _Recorder[ReceivedMail] = _Recorder()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[ReceivedMail]:
        """Every message accepted so far, oldest first (a copy)."""
        return self._received.snapshot()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Listen (again) on the same port; received messages are kept."""
        if self._controller is not None:
            return
        auth: dict[str, Any] = {}
        if self.credentials is not None:
            auth = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(
            _SmtpHandler(self), hostname=self.host, port=self.port, **auth
        )
        self._controller.start()

    def stop(self) -> None:
        """Close the port: clients get "connection refused" until `start()`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        self._received.clear()

    def wait_for(self, n: int = 1, timeout: float = WAIT_TIMEOUT_S) -> list[ReceivedMail]:
        """Block until at least `n` messages arrived; all of them. AssertionError on timeout."""
        return self._received.wait_for(n, timeout, "e-mails")

    async def wait_for_async(
        self, n: int = 1, timeout: float = WAIT_TIMEOUT_S
    ) -> list[ReceivedMail]:
        """`wait_for` for async tests: waits in a thread, the event loop keeps running."""
        return await asyncio.to_thread(self.wait_for, n, timeout)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and self.credentials == (
            auth_data.login.decode(),
            auth_data.password.decode(),
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    """One HTTP request as the receiver got it."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]  # parse_qs of the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _HttpHandler(BaseHTTPRequestHandler):
    server: _HttpServer

    def _handle(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        receiver._received.add(
            ReceivedRequest(
                method=self.command,
                path=url.path,
                query=parse_qs(url.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
        )
        receiver._release.wait()  # set unless the receiver stalls
        status, reply = receiver.status, receiver.reply
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a stalled request)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: HttpReceiver) -> None:
        self.receiver = receiver
        super().__init__((receiver.host, receiver.port), _HttpHandler)


class HttpReceiver:
    """An HTTP server on 127.0.0.1:`port` that records every request and answers `status`
    (200 unless set) with the body `reply`. Set `status = 500` to simulate a failing
    endpoint; `stall()` holds every request unanswered until `release()` or `stop()`."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.status = 200
        self.reply = b'{"ok": true}'
        self._received: _Recorder[ReceivedRequest] = _Recorder()
        self._release = threading.Event()
        self._release.set()
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received so far, oldest first (a copy)."""
        return self._received.snapshot()

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _HttpServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="http-receiver", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the port (stalled requests are released first)."""
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def stall(self) -> None:
        """Hold every request (recorded on arrival) without an answer until `release()`."""
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def clear(self) -> None:
        self._received.clear()

    def wait_for(self, n: int = 1, timeout: float = WAIT_TIMEOUT_S) -> list[ReceivedRequest]:
        """Block until at least `n` requests arrived; all of them. AssertionError on timeout."""
        return self._received.wait_for(n, timeout, "HTTP requests")

    async def wait_for_async(
        self, n: int = 1, timeout: float = WAIT_TIMEOUT_S
    ) -> list[ReceivedRequest]:
        """`wait_for` for async tests: waits in a thread, the event loop keeps running."""
        return await asyncio.to_thread(self.wait_for, n, timeout)

    def __enter__(self) -> HttpReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SmtpServer without AUTH, stopped after the test."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def start_smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """Start SmtpServers, e.g. `start_smtp_server(credentials=("user", "pw"))`; each is
    stopped after the test."""
    servers: list[SmtpServer] = []

    def start(port: int | None = None, credentials: tuple[str, str] | None = None) -> SmtpServer:
        server = SmtpServer(port, credentials)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """A running HttpReceiver answering 200, stopped after the test."""
    with HttpReceiver() as receiver:
        yield receiver
