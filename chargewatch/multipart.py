"""A streaming multipart/form-data reader for uploads (chargewatch/uploads.py).

python-multipart (what FastAPI's UploadFile needs) is not a dependency, and the stdlib
`email` parser holds a whole body in memory; this one holds only a window of the
boundary's length, so a 100 MiB upload goes to disk as it arrives.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from collections.abc import Callable
from email.message import Message

MAX_PART_HEADERS = 16 * 1024  # bytes of one part's headers
BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")  # RFC 2046


class MultipartError(ValueError):
    """A multipart body that cannot be read (HTTP 400)."""


class Multipart:
    """A streaming multipart/form-data reader (RFC 7578): the bytes of its one file part
    go to `write`. The file part is the one with a filename (or else the one named file)."""

    def __init__(
        self, boundary: str, write: Callable[[bytes], None], check: Callable[[str], str]
    ) -> None:
        self._first = b"--" + boundary.encode("latin-1")
        self._next = b"\r\n" + self._first
        self._write, self._check = write, check
        self._buf = b""
        self._state = "preamble"
        self._in_file = False
        self.found = False
        self.filename = ""

    def feed(self, data: bytes) -> None:
        self._buf += data
        while self._step():
            pass

    def _step(self) -> bool:
        """One state transition on the buffer; False when more bytes are needed."""
        buf = self._buf
        if self._state == "preamble":
            i = buf.find(self._first)
            if i < 0:
                self._buf = buf[-len(self._first) :]
                return False
            self._buf, self._state = buf[i + len(self._first) :], "delimiter"
        elif self._state == "delimiter":
            if len(buf) < 2:
                return False
            if buf.startswith(b"--"):
                self._buf, self._state = b"", "epilogue"
                return False
            if not buf.startswith(b"\r\n"):
                raise MultipartError("malformed multipart body: no CRLF after a boundary")
            self._buf, self._state = buf[2:], "headers"
        elif self._state == "headers":
            i = 0 if buf.startswith(b"\r\n") else buf.find(b"\r\n\r\n")
            if i < 0:
                if len(buf) > MAX_PART_HEADERS:
                    raise MultipartError("malformed multipart body: part headers too long")
                return False
            self._start_part(buf[:i])
            self._buf, self._state = buf[i + (2 if i == 0 else 4) :], "body"
        elif self._state == "body":
            i = buf.find(self._next)
            if i < 0:
                keep = len(self._next) - 1
                if len(buf) > keep:
                    self._emit(buf[:-keep])
                    self._buf = buf[-keep:]
                return False
            self._emit(buf[:i])
            self._buf, self._state = buf[i + len(self._next) :], "delimiter"
        else:  # epilogue: ignored
            self._buf = b""
            return False
        return True

    def _start_part(self, raw: bytes) -> None:
        headers = email.parser.BytesHeaderParser(policy=email.policy.HTTP).parsebytes(
            raw + b"\r\n\r\n"
        )
        filename = headers.get_filename()
        field = headers.get_param("name", header="content-disposition")
        self._in_file = filename is not None or field == "file"
        if not self._in_file:
            return
        if self.found:
            raise MultipartError("the multipart body has more than one file: one per upload")
        self.found, self.filename = True, self._check(filename or "")

    def _emit(self, data: bytes) -> None:
        if self._in_file and data:
            self._write(data)

    def finish(self) -> None:
        if self._state != "epilogue":
            raise MultipartError("the multipart body ends before its closing boundary")
        if not self.found:
            raise MultipartError("the multipart body has no file part")


def boundary_of(content_type: str) -> str | None:
    """The multipart boundary of a multipart/form-data body; None for any other body."""
    header = Message()
    header["content-type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        return None
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not BOUNDARY.fullmatch(boundary):
        raise MultipartError(
            "multipart/form-data needs a boundary parameter of 1 to 70 characters (RFC 2046)"
        )
    return boundary
