"""Silences: label matchers with a start and an end, who set them and why.

A silence mutes every alert its matchers all match while `starts_at <= now < ends_at`.
It is set and expired through the API or the CLI; both journal a `SilenceSet` event, so
the notifier sees silences in the same order as the alerts, and a restart replays them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from notifier.matchers import Matcher, matches_all, parse


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[str, ...]  # as written: 'site="north"', 'alertname=~"Charger.*"'
    starts_at: float
    ends_at: float
    created_by: str
    comment: str = ""
    parsed: tuple[Matcher, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed", tuple(parse(m) for m in self.matchers))

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.active(now) and matches_all(self.parsed, labels)

    def state(self, now: float) -> str:
        """As Alertmanager names them: pending, active, expired."""
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": list(self.matchers),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "comment": self.comment,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Silence:
        return cls(
            data["id"],
            tuple(data["matchers"]),
            float(data["starts_at"]),
            float(data["ends_at"]),
            data["created_by"],
            data.get("comment", ""),
        )
