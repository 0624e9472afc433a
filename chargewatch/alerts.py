"""Alerts and their transitions: what the engine gives the rest of ChargeWatch.

An alert is identified by its labels (Prometheus style): the fingerprint is a hash of the
sorted labels, so the same fault on the same connector is the same alert across restarts.
States: pending (condition true, `for` not yet elapsed), firing, resolved; a pending alert
whose condition clears before `for` ends becomes inactive (it never fired).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Final

PENDING: Final = "pending"
FIRING: Final = "firing"
RESOLVED: Final = "resolved"
INACTIVE: Final = "inactive"  # a pending alert that never fired
ACTIVE_STATES: Final = (PENDING, FIRING)

Key = tuple[Any, ...]  # (charger, connector) | (charger,) | (site,) | () | (fingerprint,)


def fingerprint(labels: dict[str, str]) -> str:
    """A stable id of an alert: 16 hex digits of SHA-256 over the sorted labels."""
    text = "\x1f".join(f"{k}\x1e{labels[k]}" for k in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Alert:
    """One alert; the engine mutates its own copies and hands out frozen snapshots."""

    fingerprint: str
    rule: str
    severity: str
    labels: dict[str, str]
    state: str
    active_since: float  # when the condition became true
    fired_at: float | None = None
    resolved_at: float | None = None
    value: float | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    runbook_url: str | None = None
    explained_by: str | None = None  # fingerprint of a wider alert that explains this one
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    clear_since: float | None = None  # firing but condition false since (keep_firing_for)

    def copy(self) -> Alert:
        return Alert(**{k: getattr(self, k) for k in self.__slots__})  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert changed: `previous` -> `alert.state` at `at`.

    `previous == alert.state` means the alert stayed in its state but something a receiver
    cares about changed (it was acknowledged, or a site alert now explains it).
    """

    at: float
    previous: str | None
    alert: Alert

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "previous": self.previous, "alert": self.alert.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transition:
        return cls(data["at"], data["previous"], Alert.from_dict(data["alert"]))
