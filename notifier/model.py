"""What flows through the notifier: alerts as receivers see them, notifications about a
group of alerts, and the rendered messages the channels deliver.

The dispatcher (pure) turns alert changes into `Notification`s; templates turn a
notification into one `Message` per channel kind; the outbox stores the message and the
delivery worker hands it to a `Channel`. Messages are rendered before they are stored, so
what a receiver gets after a restart is exactly what was decided before it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final, Protocol

# channel kinds: each has its own template (SMS short, e-mail rich, push titled)
EMAIL: Final = "email"
SMS: Final = "sms"
PUSH: Final = "push"  # apprise push and chat services, JSON webhooks
FILE: Final = "file"  # JSON lines appended to a local file (the demo's default receiver)
CONSOLE: Final = "console"  # a line in the log (stderr)
CHANNEL_KINDS: Final = (EMAIL, SMS, PUSH, FILE, CONSOLE)

# why a notification was sent
NEW: Final = "new"  # a group's first notification
UPDATE: Final = "update"  # alerts joined or resolved since the last one
REPEAT: Final = "repeat"  # nothing changed, still firing, repeat_interval elapsed
ESCALATION: Final = "escalation"  # not acknowledged in time: the next receiver hears it
SUMMARY: Final = "summary"  # rate limit reached: what was held back, summarised
TEST: Final = "test"  # `chargewatch notify test RECEIVER`
DRIVER: Final = "driver"  # a driver's own session
REPORT: Final = "report"  # a monthly report (reports/scheduler.py journals it)


@dataclass(frozen=True, slots=True)
class AlertInfo:
    """One alert as a notification shows it (a copy; never changes after it is made)."""

    fingerprint: str
    alertname: str
    severity: str  # "critical" | "warning" | "info" (anything else renders as given)
    state: str  # "firing" | "resolved"
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: float = 0.0  # when it fired (Unix time)
    ends_at: float | None = None  # when it resolved
    value: float | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    runbook_url: str | None = None
    source: str = "rules"  # "rules" | "alertmanager"
    explained_by: str | None = None  # a wider alert (a site outage) that explains this one

    def to_dict(self) -> dict[str, Any]:
        # shallow, not dataclasses.asdict: snapshots copy every active alert, and asdict's
        # deep copy was most of their cost (the label dicts are never changed in place)
        return {name: getattr(self, name) for name in _ALERT_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertInfo:
        return cls(**data)


_ALERT_FIELDS = tuple(f.name for f in fields(AlertInfo))


@dataclass(frozen=True, slots=True)
class Notification:
    """One message's worth of news for one receiver about one group of alerts."""

    receiver: str
    group_key: str  # stable text, e.g. 'route.routes[0]{alertname="X",site="north"}'
    group_labels: dict[str, str]
    reason: str  # NEW, UPDATE, REPEAT, ESCALATION, SUMMARY, TEST, DRIVER, REPORT
    at: float  # when the dispatcher decided it (Unix time)
    firing: tuple[AlertInfo, ...] = ()
    resolved: tuple[AlertInfo, ...] = ()
    escalation_level: int = 0  # 1 for the first escalation step, ...
    held_back: int = 0  # SUMMARY: how many notifications the rate limit held back
    text: str = ""  # SUMMARY, TEST, DRIVER, REPORT: the news itself when not about alerts
    files: tuple[str, ...] = ()  # REPORT: its files (paths), the HTML report first

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["firing"] = [a.to_dict() for a in self.firing]
        data["resolved"] = [a.to_dict() for a in self.resolved]
        data["files"] = list(self.files)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        data = dict(data)
        data["firing"] = tuple(AlertInfo.from_dict(a) for a in data.get("firing", ()))
        data["resolved"] = tuple(AlertInfo.from_dict(a) for a in data.get("resolved", ()))
        data["files"] = tuple(data.get("files", ()))
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Message:
    """A notification rendered for one channel kind. Fields a kind does not use are empty:
    SMS uses `text` only; e-mail `title` (subject), `text` and `html`; push `title`,
    `text` and `priority`. E-mail only: `attachments` are paths read when it is sent (a
    report's files stay on disk, not in the outbox), and `html_file` is an HTML file sent
    as the body instead of `html` when it is small enough to read in a mail client."""

    kind: str
    title: str
    text: str
    html: str = ""
    priority: str = "normal"  # "low" | "normal" | "high" | "emergency", from the severity
    notify_type: str = "info"  # apprise's: "info" | "success" | "warning" | "failure"
    attachments: list[str] = field(default_factory=list)
    html_file: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(**data)


class DeliveryError(Exception):
    """A channel could not deliver. `permanent`: retrying cannot help (a refused number,
    a malformed address); otherwise the outbox retries with backoff."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Channel(Protocol):
    """Delivers messages to targets of one kind. `send` blocks (apprise and the Twilio SDK
    are synchronous); the delivery worker runs it in a thread, one target at a time."""

    kind: str

    def send(self, target: str, message: Message) -> str:
        """Deliver or raise DeliveryError; returns a short receipt for the log (e.g. the
        provider's message id, or "" when there is none). Must not log secrets."""
        ...
