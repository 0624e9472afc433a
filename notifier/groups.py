"""An aggregation group: the alerts one route notifies together, and what it last told.

Kept apart from the dispatcher that drives it: this is the part a snapshot stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Group:
    key: str
    route: str  # the route's path in the config
    labels: dict[str, str]
    members: dict[str, None] = field(default_factory=dict)  # fingerprints, in arrival order
    next_flush: float = 0.0
    last_sent_at: float | None = None
    sent_firing: set[str] = field(default_factory=set)  # firing in the last notification
    told_at: dict[str, float] = field(default_factory=dict)  # first notified (escalation clock)
    escalated: dict[str, int] = field(default_factory=dict)  # fingerprint -> steps taken
    escalation_hold: float = 0.0  # muted by a time interval: no escalation before this
    escalate_at: float | None = None  # the escalation timer (kept in snapshots as it is)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "route": self.route,
            "labels": self.labels,
            "members": list(self.members),
            "next_flush": self.next_flush,
            "last_sent_at": self.last_sent_at,
            "sent_firing": sorted(self.sent_firing),
            "escalated": dict(self.escalated),  # copies: encoded in another thread
            "escalation_hold": self.escalation_hold,
            "escalate_at": self.escalate_at,
            "told_at": dict(self.told_at),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Group:
        return cls(
            **{
                **d,
                "members": dict.fromkeys(d["members"]),
                "sent_firing": set(d["sent_firing"]),
            }
        )
