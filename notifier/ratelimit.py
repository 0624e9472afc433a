"""Rate limits per receiver: at most `count` notifications per `per` seconds. What goes
beyond is held back and summarised in one notification as soon as the window has room, so
an alert storm sends a handful of SMS and a summary, not five hundred."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from notifier.model import SUMMARY, Notification


@dataclass(frozen=True, slots=True)
class ReceiverPolicy:
    send_resolved: bool = True
    rate_count: int | None = None  # at most this many notifications ...
    rate_per: float = 0.0  # ... per this many seconds


@dataclass(slots=True)
class RateWindow:
    sent: deque[float] = field(default_factory=deque)
    held: int = 0  # notifications held back since the last summary
    held_firing: Counter[str] = field(default_factory=Counter)  # alertname -> alerts
    held_resolved: int = 0

    def slide(self, now: float, per: float) -> None:
        while self.sent and self.sent[0] <= now - per:
            self.sent.popleft()


class RateLimiter:
    def __init__(self, policies: Mapping[str, ReceiverPolicy]) -> None:
        self.policies = policies
        self.windows: dict[str, RateWindow] = {}

    def admit(self, n: Notification) -> tuple[bool, float | None]:
        """Whether `n` may go out now; when not, when to try sending its summary."""
        policy = self.policies.get(n.receiver)
        if policy is None or policy.rate_count is None:
            return True, None
        w = self.windows.setdefault(n.receiver, RateWindow())
        w.slide(n.at, policy.rate_per)
        if len(w.sent) < policy.rate_count:
            w.sent.append(n.at)
            return True, None
        w.held += 1
        w.held_firing.update(a.alertname for a in n.firing)
        w.held_resolved += len(n.resolved)
        return False, w.sent[0] + policy.rate_per

    def summary(self, receiver: str, at: float) -> tuple[Notification | None, float | None]:
        """The summary of what was held back, if the window has room at `at`; else when
        to try again."""
        w, policy = self.windows.get(receiver), self.policies.get(receiver)
        if w is None or policy is None or policy.rate_count is None or not w.held:
            return None, None
        w.slide(at, policy.rate_per)
        if len(w.sent) >= policy.rate_count:
            return None, w.sent[0] + policy.rate_per
        names = ", ".join(f"{name} x{n}" for name, n in w.held_firing.most_common())  # GSM-7
        held = "1 notification was" if w.held == 1 else f"{w.held} notifications were"
        text = (
            f"{held} held back by the rate limit of {receiver}: "
            f"{sum(w.held_firing.values())} firing alerts ({names or 'none'}), "
            f"{w.held_resolved} resolved. See the alert list for details."
        )
        n = Notification(
            receiver, f"summary:{receiver}", {}, SUMMARY, at, held_back=w.held, text=text
        )
        w.sent.append(at)
        w.held, w.held_firing, w.held_resolved = 0, Counter(), 0
        return n, None

    def snapshot(self) -> dict[str, Any]:
        return {
            r: {
                "sent": list(w.sent),
                "held": w.held,
                "held_firing": dict(w.held_firing),
                "held_resolved": w.held_resolved,
            }
            for r, w in self.windows.items()
        }

    def restore(self, data: Mapping[str, Any], now: float) -> dict[str, float]:
        """Continue from a snapshot; returns the summaries due, by receiver."""
        self.windows, due = {}, {}
        for receiver, w in data.items():
            self.windows[receiver] = RateWindow(
                deque(w["sent"]), w["held"], Counter(w["held_firing"]), w["held_resolved"]
            )
            policy = self.policies.get(receiver)
            if w["held"] and policy is not None and policy.rate_count is not None:
                due[receiver] = (w["sent"][0] if w["sent"] else now) + policy.rate_per
        return due
