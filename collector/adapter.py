"""What every protocol adapter offers the server, and helpers they share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from chargewatch.authorization import Authorizer
from chargewatch.events import Event
from chargewatch.state import LiveState
from collector.commands import Translator
from collector.validation import VALUE, PayloadError, SchemaSet


@dataclass(slots=True)
class AdapterContext:
    """What a handler may read to decide its answer (it never writes: it returns events)."""

    state: LiveState
    authorizer: Authorizer
    heartbeat_interval: int


class Adapter(Protocol):
    subprotocol: str
    schemas: SchemaSet
    handled: frozenset[str]  # charger-initiated actions this adapter answers
    commands: Translator  # operators' remote commands as this version's calls

    def error_code(self, kind: str) -> str:
        """The CallError code of this OCPP version for a framing or payload problem kind."""
        ...

    def handle(
        self, charger_id: str, action: str, payload: dict[str, Any], now: float
    ) -> tuple[dict[str, Any], list[Event]]:
        """Answer one validated call: (response payload, events to journal)."""
        ...


class HandlerError(Exception):
    """A handler's refusal with an explicit CallError code (e.g. NotSupported)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


# Charger times outside these years are refused: no clock is right there, and beyond them
# the API (Python datetimes end at 9999 UTC, "9999-12-31T23:59-23:59" is later) and the
# reports (pandas timestamps end in 2262) could not represent what was stored.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(2200, 1, 1, tzinfo=UTC).timestamp()


def parse_time(value: str, field: str) -> float:
    """An OCPP dateTime (schema-checked shape) as epoch seconds; impossible dates are refused."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(VALUE, f"{field}: {value!r} is not a valid date-time", field) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ts = parsed.timestamp()
    if not EARLIEST <= ts < LATEST:
        raise PayloadError(VALUE, f"{field}: {value!r} is not between 1970 and 2199", field)
    return ts


def parse_decimal(value: str, field: str) -> float:
    """A decimal carried as a string (OCPP 1.6 sampled values)."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise PayloadError(VALUE, f"{field}: {value!r} is not a decimal number", field)
    return number


def iso(ts: float) -> str:
    """Epoch seconds as the UTC ISO 8601 form OCPP expects (millisecond precision, 'Z')."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
