"""Reading OCPP-J 1.6 message logs exported by another central system: CSV or JSON Lines.

Every line is checked here (shape, timestamp, charger id, direction, JSON frame, OCPP-J
framing) and comes out as a LogLine or a BadLine naming its line number, so one broken line
never stops an import. Payload schemas are checked later, in replay.py, by the same adapter
the live collector runs. A file that cannot be read at all (missing, no usable header)
raises UnusableInput before anything is imported.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from collector import framing
from collector.handshake import MAX_CHARGER_ID, valid_charger_id
from collector.v16.adapter import ERROR_CODES

FORMATS = ("csv", "jsonl")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REQUIRED = ("timestamp", "charger_id", "message")
ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "time", "ts"),
    "charger_id": ("charger_id", "charge_point_id", "chargeBoxId", "charger", "identity"),
    "direction": ("direction", "dir", "message_type", "type"),
    "message": ("message", "frame", "raw", "payload"),
}
MIN_TS, MAX_TS = 946684800.0, 4102444800.0  # 2000-01-01 .. 2100-01-01 UTC: anything else is a typo
EPOCH_MS_ABOVE = 1e11  # a number this large is milliseconds (1e11 s is the year 5138)
JSONL_PROBE_LINES = 100  # a .jsonl without a JSON object in its first lines is not JSON Lines

# direction column: who sent the frame (1: the charger, 0: the central system) ...
INBOUND, OUTBOUND, UNKNOWN = 1, 0, -1
_DIRECTIONS = {
    **dict.fromkeys(
        ("in", "inbound", "incoming", "received", "recv", "rx", "cs->csms", "cp->cs", "cp->csms"),
        INBOUND,
    ),
    **dict.fromkeys(
        ("out", "outbound", "outgoing", "sent", "send", "tx", "csms->cs", "cs->cp", "csms->cp"),
        OUTBOUND,
    ),
}
# ... or only the message type: then the frame types it allows
_TYPES = {
    "call": {2},
    "2": {2},
    "request": {2},
    "callresult": {3},
    "3": {3},
    "callerror": {4},
    "4": {4},
    "response": {3, 4},
}
_TYPE_NAMES = {2: "a Call", 3: "a CallResult", 4: "a CallError"}
_MTYPE = {framing.Call: 2, framing.CallResult: 3, framing.CallError: 4}
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


class UnusableInput(Exception):
    """A file that cannot be imported at all: nothing of it is read."""


class LogLine(NamedTuple):
    """One checked line: an OCPP-J frame of one charger at one time."""

    src: int  # index of the file in the import
    line: int
    ts: float
    charger_id: str
    inbound: int  # INBOUND / OUTBOUND; UNKNOWN only for answers given without a direction
    mtype: int  # 2 Call, 3 CallResult, 4 CallError
    uid: str
    action: str | None  # Calls only
    frame: str  # the frame's JSON text


class BadLine(NamedTuple):
    src: int
    line: int
    reason: str


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


_ALIAS = {_norm(a): name for name, names in ALIASES.items() for a in names}


def expected_columns() -> str:
    return "; ".join(f"{name} ({'|'.join(ALIASES[name])})" for name in ALIASES) + (
        " — direction is optional"
    )


def map_columns(names: list[str], what: str) -> dict[str, int]:
    """Column name -> field; raises UnusableInput naming what was found and what is expected."""
    mapping: dict[str, int] = {}
    for i, name in enumerate(names):
        field = _ALIAS.get(_norm(name))
        if field is None:
            continue  # extra columns (a sequence number, a session id, ...) are ignored
        if field in mapping:
            raise UnusableInput(
                f"{what} {names[mapping[field]]!r} and {name!r} both mean {field}; keep one"
            )
        mapping[field] = i
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        found = ", ".join(repr(n) for n in names) or "none"
        hint = ""
        if names and _looks_like_time(names[0]):
            hint = " (the first line looks like data: a header row is needed)"
        raise UnusableInput(
            f"missing {what}(s) {', '.join(missing)}{hint}; {what}s found: {found}; "
            f"expected: {expected_columns()}"
        )
    return mapping


def _looks_like_time(text: str) -> bool:
    try:
        parse_timestamp(text)
    except ValueError:
        return False
    return True


def parse_timestamp(value: Any) -> float:
    """ISO 8601 (Z, offset, or naive = UTC) or epoch seconds / milliseconds, as epoch seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"timestamp must be ISO 8601 or epoch seconds/ms, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            value = float(text)
        else:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                reason = f"timestamp {value!r} is not ISO 8601 or epoch seconds/ms"
                raise ValueError(reason) from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            value = parsed.timestamp()
    try:
        ts = float(value)
    except OverflowError:  # an integer beyond any float
        raise ValueError(f"timestamp {value!r} is out of range") from None
    if not math.isfinite(ts):
        raise ValueError(f"timestamp {value!r} is not a finite number")
    if abs(ts) >= EPOCH_MS_ABOVE:
        ts /= 1000.0
    if not MIN_TS <= ts < MAX_TS:
        raise ValueError(f"timestamp {value!r} is outside 2000-2100")
    return ts


def _direction(value: Any) -> tuple[int, set[int] | None]:
    """(INBOUND/OUTBOUND/UNKNOWN, the frame types a message-type value allows)."""
    if value is None:
        return UNKNOWN, None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"direction must be a string, got {value!r}")
    text = re.sub(r"[\s_]", "", value.replace("→", "->")).lower()
    if text == "":
        return UNKNOWN, None
    if text in _DIRECTIONS:
        return _DIRECTIONS[text], None
    types = _TYPES.get(text.replace("-", ""))
    if types is None:
        raise ValueError(
            f"direction {value!r} is not in/out, received/sent, rx/tx, cs->csms/csms->cs, "
            "CALL/CALLRESULT/CALLERROR or 2/3/4"
        )
    return UNKNOWN, types


class LineChecker:
    """Turns the four raw fields of a line into a LogLine, or says precisely what is wrong."""

    def __init__(self, charger_actions: frozenset[str], max_frame_bytes: int = 65536) -> None:
        self._charger_actions = charger_actions
        self._max_frame = max_frame_bytes

    def check(
        self, src: int, line: int, ts_raw: Any, cid_raw: Any, dir_raw: Any, frame_raw: Any
    ) -> LogLine | BadLine:
        try:
            ts = parse_timestamp(ts_raw)
            charger_id = _charger_id(cid_raw)
            inbound, types = _direction(dir_raw)
            text = _frame_text(frame_raw)
        except ValueError as exc:
            return BadLine(src, line, str(exc))
        if not text.isascii():
            try:
                size = len(text.encode())
            except UnicodeEncodeError:  # a lone surrogate, e.g. from a "\ud800" JSON escape
                return BadLine(src, line, "frame is not valid Unicode (a lone surrogate)")
        else:
            size = len(text)
        if size > self._max_frame:
            reason = f"frame is {size} bytes, over ocpp.max_frame_bytes"
            return BadLine(src, line, f"{reason} ({self._max_frame})")
        try:
            msg = framing.parse(text)
        except framing.FrameError as exc:
            return BadLine(src, line, f"{exc.description} ({ERROR_CODES[exc.kind]})")
        mtype = _MTYPE[type(msg)]
        if types is not None and mtype not in types:
            reason = f"direction column says {dir_raw!r} but the frame is {_TYPE_NAMES[mtype]}"
            return BadLine(src, line, reason)
        action = msg.action if isinstance(msg, framing.Call) else None
        if mtype == 2 and inbound == UNKNOWN:
            # only the message type is known: a charger-initiated action comes from the charger
            inbound = INBOUND if action in self._charger_actions else OUTBOUND
        return LogLine(src, line, ts, charger_id, inbound, mtype, msg.message_id, action, text)


def _charger_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"charger id must be a string, got {value!r}")
    cid = value.strip()
    if not valid_charger_id(cid):
        raise ValueError(f"charger id {value!r} must be 1 to {MAX_CHARGER_ID} printable characters")
    return cid


def _frame_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    raise ValueError(
        f"message must be an OCPP-J frame (a JSON array, or its text), got {type(value).__name__}"
    )


def detect_format(path: Path, given: str | None) -> str:
    if given is not None:
        return given
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise UnusableInput(
            f"cannot tell the format from the extension {path.suffix!r}: name it .csv, .jsonl "
            "or .ndjson, or pass --format csv|jsonl"
        )
    return fmt


class LogFile:
    """One input file, checked up front (readable, header / keys) so that a bad file stops the
    import before anything is written."""

    def __init__(self, path: Path, index: int, fmt: str | None, checker: LineChecker) -> None:
        self.path, self.index, self._checker = path, index, checker
        self.format = detect_format(path, fmt)
        try:
            self.size = path.stat().st_size
            if self.format == "csv":
                self._columns = self._csv_header()
            else:
                self._probe_jsonl()
        except OSError as exc:
            raise UnusableInput(f"cannot read: {exc.strerror or exc}") from None

    def _csv_header(self) -> dict[str, int]:
        with open(self.path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            try:
                header = next(csv.reader(fh), None)
            except csv.Error as exc:
                raise UnusableInput(f"the header row is not CSV: {exc}") from None
        if not header:
            reason = f"no header row (the file is empty); expected: {expected_columns()}"
            raise UnusableInput(reason)
        return map_columns([h.strip() for h in header], "column")

    def _probe_jsonl(self) -> None:
        with open(self.path, "rb") as fh:
            seen = 0
            for raw in fh:
                if not raw.strip():
                    continue
                seen += 1
                try:
                    obj = json.loads(raw.decode("utf-8-sig"))
                except (ValueError, RecursionError):
                    obj = None
                if isinstance(obj, dict):
                    map_columns(list(obj), "key")
                    return
                if seen >= JSONL_PROBE_LINES:
                    break
        what = "is empty" if seen == 0 else f"has no JSON object in its first {seen} lines"
        raise UnusableInput(f"{what}: is it JSON Lines?")

    def lines(self) -> Iterator[LogLine | BadLine]:
        return self._csv_lines() if self.format == "csv" else self._jsonl_lines()

    def _csv_lines(self) -> Iterator[LogLine | BadLine]:
        cols = self._columns
        width = max(cols.values()) + 1
        i_ts, i_cid, i_msg = cols["timestamp"], cols["charger_id"], cols["message"]
        i_dir = cols.get("direction")
        check, src = self._checker.check, self.index
        # surrogateescape: invalid UTF-8 shows up as lone surrogates, found per line below
        with open(self.path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            reader = csv.reader(fh, strict=True)
            after = 0
            while True:
                start = after + 1
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    after = reader.line_num
                    yield BadLine(src, start, f"not CSV: {exc}")
                    continue
                after = reader.line_num
                if start == 1 or not row or (len(row) == 1 and not row[0].strip()):
                    continue  # the header, blank lines
                if len(row) < width:
                    yield BadLine(src, start, f"{len(row)} fields, the header has {width}")
                    continue
                try:
                    "".join(row).encode("utf-8")
                except UnicodeEncodeError:
                    yield BadLine(src, start, "not valid UTF-8")
                    continue
                yield check(
                    src,
                    start,
                    row[i_ts],
                    row[i_cid],
                    None if i_dir is None else row[i_dir],
                    row[i_msg],
                )

    def _jsonl_lines(self) -> Iterator[LogLine | BadLine]:
        check, src = self._checker.check, self.index
        fields_of: dict[tuple[str, ...], dict[str, str] | str] = {}
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    yield BadLine(src, number, "not valid UTF-8")
                    continue
                try:
                    obj = json.loads(text)
                except (ValueError, RecursionError) as exc:
                    yield BadLine(src, number, f"not a JSON object: {exc}")
                    continue
                if not isinstance(obj, dict):
                    yield BadLine(src, number, f"not a JSON object: {type(obj).__name__}")
                    continue
                keys = tuple(obj)
                fields = fields_of.get(keys)
                if fields is None:
                    fields = fields_of[keys] = _key_fields(keys)
                if isinstance(fields, str):
                    yield BadLine(src, number, fields)
                    continue
                yield check(
                    src,
                    number,
                    obj[fields["timestamp"]],
                    obj[fields["charger_id"]],
                    obj[fields["direction"]] if "direction" in fields else None,
                    obj[fields["message"]],
                )


def _key_fields(keys: tuple[str, ...]) -> dict[str, str] | str:
    """Field -> key of one key set, or the reason it cannot be used."""
    try:
        mapping = map_columns(list(keys), "key")
    except UnusableInput as exc:
        return str(exc)
    return {field: keys[i] for field, i in mapping.items()}
