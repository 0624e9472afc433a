"""Sample and Event: the base of every journal event."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NamedTuple


class Sample(NamedTuple):
    """One sampled value of a meter reading, already normalised to a canonical unit.

    A named tuple, not a dataclass: MeterValues carry many samples and this is the hottest
    path, where tuple construction and JSON encoding (as an array) cost a fraction.
    """

    ts: float
    measurand: str
    value: float | None  # None when the value is signed data or otherwise not numeric
    unit: str
    phase: str | None = None
    context: str | None = None
    location: str | None = None
    raw: str | None = None  # the original value when it could not be used as a number


@dataclass(slots=True, frozen=True)
class Event:
    """Base of all events: which charger, and when the collector received it."""

    kind: ClassVar[str] = "event"
    charger_id: str
    ts: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
