"""A real HTTP server on loopback that answers like Twilio's Messages API
(POST /2010-04-01/Accounts/{AccountSid}/Messages.json), for the SMS channel's tests.

It checks what Twilio checks — HTTP Basic auth (account SID : auth token), the account in
the path, the form fields To, From / MessagingServiceSid, Body — and answers with Twilio's
JSON: 201 with a Message resource, or an error {"code", "message", "more_info", "status"}.
Twilio's test number +15005550001 is refused as invalid (21211), as with Twilio's test
credentials, so a number the channel accepts as E.164 can still be refused.

Failure modes for tests: `fail_next(n, status)` answers the next n requests with an error
(429 → 20429, 500 → 20500, ...); `stall_next(n)` reads the next n requests and never
answers (until `stop`); `stop()` closes every connection, so clients see a server that is
down; `start()` again listens on the same port.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from helpers import free_port

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f00dfeed" * 4
FROM_NUMBER = "+15005550006"  # Twilio's valid test sender
MESSAGING_SERVICE_SID = "MG" + "fedcba9876543210" * 2
INVALID_NUMBER = "+15005550001"  # Twilio's test number for "invalid To"

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MESSAGING_SID = re.compile(r"^MG[0-9a-f]{32}$")
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("\f^{}\\[~]|€")  # two septets each (escape + character)
ERROR_TEXTS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    503: (20503, "Service unavailable"),
}


def num_segments(body: str) -> int:
    """Segments of an SMS: GSM-7 160 septets alone, 153 each when concatenated;
    anything else is UCS-2: 70 UTF-16 code units alone, 67 each when concatenated."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        units = len(body) + sum(c in GSM7_EXTENSION for c in body)
        single, part = 160, 153
    else:
        units = len(body.encode("utf-16-be")) // 2
        single, part = 70, 67
    return 1 if units <= single else math.ceil(units / part)


@dataclass(frozen=True)
class ReceivedMessage:
    """A message the server accepted (answered 201)."""

    sid: str
    account_sid: str  # from the path
    auth_user: str  # the Basic auth user name
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    num_segments: int


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class TwilioServer:
    """Twilio's Messages API on 127.0.0.1:`port`; `url` is the channel's api_base_url."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.messages: list[ReceivedMessage] = []
        self.answers: list[int] = []  # HTTP status of every answer, in order
        self.stalled = 0  # requests read and never answered
        self._failures: list[int] = []
        self._stalls = 0
        self._changed = threading.Condition()
        self._release = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # control

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"twilio": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False  # stop() closes the connections itself
        self._release.clear()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and drop every connection (keep-alive ones included)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._release.set()
        with self._changed:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
        assert self._thread is not None
        self._thread.join(5)
        self._httpd = self._thread = None

    def fail_next(self, n: int, status: int) -> None:
        """Answer the next n requests with `status` and Twilio's error JSON for it."""
        with self._changed:
            self._failures.extend([status] * n)

    def stall_next(self, n: int) -> None:
        """Read the next n requests and never answer them (until stop)."""
        with self._changed:
            self._stalls += n

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """The first n accepted messages, waiting up to `timeout` s for them to arrive."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.messages) >= n, timeout):
                raise AssertionError(f"{len(self.messages)} of {n} messages: {self.messages}")
            return self.messages[:n]

    # request handling (called from the handler threads)

    def _next_mode(self) -> int | str | None:
        with self._changed:
            if self._stalls:
                self._stalls -= 1
                self.stalled += 1
                self._changed.notify_all()
                return "stall"
            return self._failures.pop(0) if self._failures else None

    def _answered(self, status: int, message: ReceivedMessage | None = None) -> None:
        with self._changed:
            self.answers.append(status)
            if message is not None:
                self.messages.append(message)
            self._changed.notify_all()

    def _create(self, path: str, auth: str | None, form: dict[str, str]) -> dict[str, Any]:
        """The Message resource for a create request, or TwilioError."""
        user = self._authenticate(auth)
        match = MESSAGES_PATH.match(path)
        if match is None:
            raise TwilioError(404, 20404, f"The requested resource {path} was not found")
        if match.group(1) != self.account_sid:  # these credentials are not for that account
            raise TwilioError(401, 20003, "Authenticate")
        to = form.get("To", "")
        sender, service = form.get("From"), form.get("MessagingServiceSid")
        body = form.get("Body", "")
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not E164.match(to) or to == INVALID_NUMBER:
            raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if (sender is None) == (service is None):  # Twilio allows both; the channel must not
            raise TwilioError(400, 21603, "Give exactly one of 'From' and 'MessagingServiceSid'.")
        if sender is not None and not E164.match(sender):
            raise TwilioError(
                400, 21212, f"The 'From' number {sender} is not a valid phone number."
            )
        if service is not None and not MESSAGING_SID.match(service):
            raise TwilioError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if not body:
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > 1600:
            raise TwilioError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=False)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        segments = num_segments(body)
        resource = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,  # null with a Messaging Service until it picks a sender
            "messaging_service_sid": service,
            "num_media": "0",
            # a Messaging Service answers 0 segments and "accepted" (no sender picked yet)
            "num_segments": str(segments if service is None else 0),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if service is None else "accepted",
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": to,
            "uri": f"{uri}.json",
        }
        received = ReceivedMessage(sid, match.group(1), user, to, sender, service, body, segments)
        return {"resource": resource, "received": received}

    def _authenticate(self, header: str | None) -> str:
        scheme, _, encoded = (header or "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
        if scheme.lower() != "basic" or (user, password) != (self.account_sid, self.auth_token):
            raise TwilioError(401, 20003, "Authenticate")
        return user


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Twilio
    twilio: TwilioServer

    def setup(self) -> None:
        super().setup()
        with self.twilio._changed:
            self.twilio._connections.add(self.connection)

    def finish(self) -> None:
        with self.twilio._changed:
            self.twilio._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        mode = self.twilio._next_mode()
        if mode == "stall":
            self.twilio._release.wait(60)
            self.close_connection = True
            return
        if isinstance(mode, int):
            code, text = ERROR_TEXTS.get(mode, (mode, "Error"))
            self._error(TwilioError(mode, code, text))
            return
        form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        try:
            created = self.twilio._create(self.path, self.headers.get("Authorization"), form)
        except TwilioError as exc:
            self._error(exc)
            return
        self.twilio._answered(201, created["received"])  # recorded before the client knows
        self._send(201, created["resource"])

    def do_GET(self) -> None:
        self._error(TwilioError(405, 20004, "Method not allowed"))

    def _error(self, exc: TwilioError) -> None:
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if exc.status == 401 else {}
        payload = {
            "code": exc.code,
            "message": exc.message,
            "more_info": f"https://www.twilio.com/docs/errors/{exc.code}",
            "status": exc.status,
        }
        self.twilio._answered(exc.status)
        self._send(exc.status, payload, headers)

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(name="twilio_server")
def twilio_server_fixture() -> Iterator[TwilioServer]:
    """`twilio_server`: a running TwilioServer for ACCOUNT_SID / AUTH_TOKEN, stopped after
    the test. Import `twilio_server_fixture` into a test module to use it (a distinct
    Python name, so that test parameters do not shadow the import)."""
    server = TwilioServer()
    server.start()
    yield server
    server.stop()
