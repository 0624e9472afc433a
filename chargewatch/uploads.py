"""Files chargers upload to ChargeWatch: diagnostics (1.6 GetDiagnostics) and logs (2.0.1
GetLog), received at `/uploads/<ticket>/[<name>]` and kept under `<data_dir>/uploads/`.

A charger cannot carry an API token, so each get-diagnostics / get-log command that leaves
`location` out is given a fresh ticket in its upload URL: 256 random bits, kept in memory
only as their SHA-256, bound to the charger, good for one upload within
`http.upload_ticket_hours`. The endpoint answers an unknown ticket 404 and a used or
expired one 410 before it reads a byte. Bodies are streamed to a temporary file (capped at
`http.max_upload_bytes`), hashed on the way, fsynced, linked to their final name (never
replacing a file) and journaled as an `upload` event.

Chargers upload either the raw file (HTTP PUT, as `curl -T` does, or POST) or a
multipart/form-data POST (form uploads), read as it streams by chargewatch/multipart.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from chargewatch import events as ev
from chargewatch.config import HttpConfig
from chargewatch.journal import Journal, JournalError
from chargewatch.multipart import Multipart, MultipartError, boundary_of
from collector.commander import ANSWERED, Outcome

log = logging.getLogger(__name__)

PREFIX = "/uploads"
MAX_NAME = 200  # characters of a file name as the charger gives it
PARTIAL = ".part-"  # temporary files being received (never listed, swept at start)
DEFAULT_NAME = "diagnostics"
FREE, BUSY, USED = "free", "busy", "used"
# an upload can outrun the command's bookkeeping (the charger uploads right after it
# answers): it waits at most this long for the answer's file name and requestId
SETTLE_WAIT_S = 10.0


class UploadRefused(Exception):
    """Why an upload is not taken, as the HTTP status and a sentence for the uploader."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def check_name(name: str) -> str:
    """A plain file name as given, or UploadRefused(400) saying what is wrong with it."""
    if "/" in name or "\\" in name:
        raise UploadRefused(400, f"file name {name!r} has a path separator: give a plain name")
    if name in (".", ".."):
        raise UploadRefused(400, f"file name {name!r} is not a file name")
    if not name.isprintable():
        raise UploadRefused(400, f"file name {name!r} has control characters")
    if len(name) > MAX_NAME:
        raise UploadRefused(400, f"file name is longer than {MAX_NAME} characters")
    return name


def disk_name(name: str) -> str:
    """The name's characters that are safe anywhere; the rest become `_`."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or DEFAULT_NAME


def charger_dir(charger_id: str) -> str:
    """A charger id as one directory name: percent-encoded, never `.` or `..`, and within
    the 255 bytes a file name may have (a long one is cut and told apart by its hash)."""
    name = quote(charger_id, safe="")
    name = "%2E" + name[1:] if name.startswith(".") else name
    if len(name) > MAX_NAME:
        name = f"{name[:100]}~{hashlib.sha256(charger_id.encode()).hexdigest()[:32]}"
    return name


@dataclass(slots=True)
class Ticket:
    charger_id: str
    command: str
    by: str
    expires: float
    state: str = FREE
    filename: str = ""  # the name the charger announced in its answer
    request_id: int | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # the answer is in


@dataclass(slots=True, frozen=True)
class Issued:
    token: str
    url: str


class Tickets:
    """Single-use upload tickets, in memory (a restart voids them: ask again)."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self._by_hash: dict[str, Ticket] = {}

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def issue(self, charger_id: str, command: str, by: str) -> str:
        now = self.clock()
        # a used or expired ticket is remembered one more lifetime, to answer 410, not 404
        old = [k for k, t in self._by_hash.items() if t.expires + self.ttl_s < now]
        for key in old:
            del self._by_hash[key]
        token = secrets.token_urlsafe(32)
        self._by_hash[self._key(token)] = Ticket(charger_id, command, by, now + self.ttl_s)
        return token

    def find(self, token: str) -> Ticket | None:
        return self._by_hash.get(self._key(token))

    def get(self, token: str) -> Ticket:
        """The ticket if it may upload now; UploadRefused 404 / 410 / 409 if not."""
        ticket = self.find(token)
        if ticket is None:
            raise UploadRefused(404, "no such upload ticket")
        if ticket.state == USED:
            raise UploadRefused(410, "this upload ticket was used: ask the charger again")
        if ticket.expires < self.clock():
            raise UploadRefused(410, "this upload ticket has expired: ask the charger again")
        if ticket.state == BUSY:
            raise UploadRefused(409, "an upload with this ticket is in progress")
        return ticket

    def set_state(self, token: str, state: str) -> None:
        ticket = self.find(token)
        if ticket is not None:
            ticket.state = state

    def revoke(self, token: str) -> None:
        ticket = self._by_hash.pop(self._key(token), None)
        if ticket is not None:
            ticket.settled.set()


@dataclass(slots=True, frozen=True)
class StoredFile:
    name: str
    bytes: int
    received: float


class UploadStore:
    """Tickets, the upload directory and the journal entry of each upload."""

    def __init__(self, data_dir: Path, journal: Journal, max_bytes: int, ttl_s: float) -> None:
        self.root = data_dir / "uploads"
        self.journal, self.max_bytes = journal, max_bytes
        self.tickets = Tickets(ttl_s)
        self.public_url: str | None = None  # set once the HTTP server listens
        for partial in self.root.glob(f"*/{PARTIAL}*"):  # left by a crash mid-upload
            partial.unlink(missing_ok=True)

    # ---- tickets for commands --------------------------------------------------------------

    def issue(self, charger_id: str, command: str, by: str) -> Issued:
        """A ticket and the URL the charger uploads to. It ends in `/`: chargers that append
        their file name to a location (MicroOcpp, `curl -T`) then name the file in the path."""
        if self.public_url is None:
            raise RuntimeError("the upload endpoint's public URL is not known yet")
        token = self.tickets.issue(charger_id, command, by)
        return Issued(token, f"{self.public_url}{PREFIX}/{token}/")

    def settle(self, issued: Issued, out: Outcome | None) -> bool:
        """Keep the ticket when the answer announces a file (1.6 fileName; 2.0.1 Accepted),
        revoke it otherwise (not sent, no answer, Rejected). True: an upload is expected."""
        answered = out is not None and out.outcome == ANSWERED
        answer = out.result if answered and out is not None and isinstance(out.result, dict) else {}
        filename = answer.get("fileName") or answer.get("filename")
        if out is not None and out.protocol == "ocpp1.6":
            expected = bool(filename)
        else:
            expected = answer.get("status") in ("Accepted", "AcceptedCanceled")
        if not expected:
            self.tickets.revoke(issued.token)
            return False
        ticket = self.tickets.find(issued.token)
        if ticket is not None:
            ticket.filename = filename if isinstance(filename, str) else ""
            request_id = out.request.get("requestId") if out else None  # 2.0.1: echoed later
            ticket.request_id = request_id if isinstance(request_id, int) else None
            ticket.settled.set()
        return True

    # ---- receiving -------------------------------------------------------------------------

    def check(self, token: str, path_name: str, content_length: int | None) -> Ticket:
        """Everything that can be refused before a byte is read (nothing is written)."""
        ticket = self.tickets.get(token)
        if path_name:
            check_name(path_name)
        if content_length is not None and content_length > self.max_bytes:
            raise UploadRefused(413, f"the upload is larger than {self.max_bytes} bytes")
        return ticket

    async def receive(
        self,
        token: str,
        path_name: str,
        content_type: str,
        content_length: int | None,
        chunks: AsyncIterator[bytes],
        remote: str,
    ) -> ev.UploadReceived:
        """Take one upload; UploadRefused (and nothing kept, the ticket still good) if not."""
        ticket = self.check(token, path_name, content_length)
        try:
            boundary = boundary_of(content_type)
        except MultipartError as exc:
            raise UploadRefused(400, str(exc)) from None
        ticket.state = BUSY
        try:
            event = await self._receive(ticket, path_name, content_type, boundary, chunks, remote)
        except BaseException:
            self.tickets.set_state(token, FREE)  # the charger may retry (1.6 `retries`)
            raise
        self.tickets.set_state(token, USED)
        return event

    async def _receive(
        self,
        ticket: Ticket,
        path_name: str,
        content_type: str,
        boundary: str | None,
        chunks: AsyncIterator[bytes],
        remote: str,
    ) -> ev.UploadReceived:
        folder = self.root / charger_dir(ticket.charger_id)
        fd, tmp = await asyncio.to_thread(self._partial, folder)
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:

                def write(data: bytes) -> None:
                    nonlocal size
                    out.write(data)
                    digest.update(data)
                    size += len(data)

                parser = None if boundary is None else Multipart(boundary, write, check_name)
                total = 0
                async for chunk in chunks:
                    total += len(chunk)
                    if total > self.max_bytes:
                        raise UploadRefused(
                            413, f"the upload is larger than {self.max_bytes} bytes"
                        )
                    if parser is not None:
                        parser.feed(chunk)
                    else:
                        write(chunk)
                if parser is not None:
                    parser.finish()
                out.flush()  # writes are inline: page-cache writes of one chunk are short
                await asyncio.to_thread(os.fsync, out.fileno())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ticket.settled.wait(), SETTLE_WAIT_S)
            given = path_name or (parser.filename if parser is not None else "") or ticket.filename
            final = await asyncio.to_thread(self._place, tmp, folder, given or DEFAULT_NAME)
        except MultipartError as exc:
            raise UploadRefused(400, str(exc)) from None
        except OSError as exc:
            log.error("%s: could not store an upload: %s", ticket.charger_id, exc)
            raise UploadRefused(507, "ChargeWatch could not store the file") from None
        finally:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
        event = ev.UploadReceived(
            ticket.charger_id,
            time.time(),
            command=ticket.command,
            filename=given,
            stored=final.name,
            bytes=size,
            sha256=digest.hexdigest(),
            content_type=content_type.split(";")[0].strip().lower(),
            request_id=ticket.request_id,
            remote=remote,
            by=ticket.by,
        )
        try:
            await self.journal.commit([event])
        except JournalError:
            await asyncio.to_thread(final.unlink, missing_ok=True)
            raise UploadRefused(503, "ChargeWatch could not record the upload: retry") from None
        log.info("%s: received %s (%d bytes)", ticket.charger_id, final.name, size)
        return event

    @staticmethod
    def _partial(folder: Path) -> tuple[int, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=PARTIAL, dir=folder)
        return fd, Path(name)

    @staticmethod
    def _place(tmp: Path, folder: Path, name: str) -> Path:
        """Link the received file to `<UTC time>-<name>`, never over another; fsync the dir."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = f"{stamp}-{disk_name(name)}"
        for n in range(1, 1000):
            final = folder / (base if n == 1 else f"{base}-{n}")
            try:
                os.link(tmp, final)
            except FileExistsError:
                continue
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
            return final
        raise OSError(f"too many uploads named {base}")

    # ---- reading ---------------------------------------------------------------------------

    def files(self, charger_id: str) -> list[StoredFile] | None:
        """A charger's uploads, newest first; None when it has no upload directory."""
        folder = self.root / charger_dir(charger_id)
        try:
            if not folder.is_dir():
                return None
        except OSError:  # a charger id no file system takes
            return None
        out = []
        for entry in os.scandir(folder):
            if entry.is_file() and not entry.name.startswith("."):
                st = entry.stat()
                out.append(StoredFile(entry.name, st.st_size, st.st_mtime))
        return sorted(out, key=lambda f: (f.received, f.name), reverse=True)

    def path_of(self, charger_id: str, name: str) -> Path | None:
        """The file of that exact listed name, or None (no name reaches outside the dir)."""
        for stored in self.files(charger_id) or ():
            if stored.name == name:
                return self.root / charger_dir(charger_id) / name
        return None


def public_url(http: HttpConfig, port: int, tls: bool) -> str:
    """The base URL chargers upload to: `http.public_url`, or else this server's address
    (with a warning when it listens on every interface: chargers need a name they reach)."""
    if http.public_url:
        return http.public_url
    host = http.host
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
        log.warning(
            "http.public_url is not set: chargers are told to upload diagnostics to %s:%d; "
            "set it to the URL chargers reach this API at",
            host,
            port,
        )
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    return f"{'https' if tls else 'http'}://{host}:{port}"
