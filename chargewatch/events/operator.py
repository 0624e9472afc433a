"""What operators and ChargeWatch itself did: acknowledgements, silences, drivers,
exclusions, alert transitions, reports, commands, self-healing and uploads. None of it is
a charger's own state (chargewatch/projection_rows.py keeps their rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from chargewatch.events.base import Event


@dataclass(slots=True, frozen=True)
class AlertAcknowledged(Event):
    """Someone took an alert on. Not a charger's event: `charger_id` is ""."""

    kind: ClassVar[str] = "alert_ack"
    fingerprint: str = ""
    by: str = ""
    comment: str = ""


@dataclass(slots=True, frozen=True)
class AlertUnacknowledged(Event):
    """Someone gave an alert back: repeats and escalation resume. `charger_id` is ""."""

    kind: ClassVar[str] = "alert_unack"
    fingerprint: str = ""
    by: str = ""


@dataclass(slots=True, frozen=True)
class SilenceSet(Event):
    """A silence was created, changed or expired (an expired one ends at or before `ts`).
    Journaled so the notifier sees silences in order with the alerts. `charger_id` is ""."""

    kind: ClassVar[str] = "silence"
    id: str = ""
    matchers: list[str] = field(default_factory=list)
    starts_at: float = 0.0
    ends_at: float = 0.0
    created_by: str = ""
    comment: str = ""


@dataclass(slots=True, frozen=True)
class DriverSet(Event):
    """A driver was registered or changed through the API (`removed`: unregistered).
    Journaled so the notifier's registry survives restarts. `charger_id` is ""."""

    kind: ClassVar[str] = "driver"
    id_tag: str = ""
    name: str = ""
    targets: list[str] = field(default_factory=list)
    notify: list[str] = field(default_factory=list)
    removed: bool = False


EXCLUSION_CATEGORIES = (
    "utility_outage",
    "vehicle_caused",
    "vandalism",
    "natural_disaster",
    "scheduled_maintenance",
    "other_outside_control",
)


@dataclass(slots=True, frozen=True)
class OutageExcluded(Event):
    """An operator declared a stretch of a charger's downtime outside their control (NEVI
    T_excluded), or withdrew it (`removed`). `charger_id` is the charger concerned."""

    kind: ClassVar[str] = "exclusion"
    id: str = ""
    connector_id: int = 0  # 0: every port of the charger
    starts_at: float = 0.0
    ends_at: float = 0.0
    category: str = ""
    note: str = ""
    created_by: str = ""
    removed: bool = False


@dataclass(slots=True, frozen=True)
class AlertChanged(Event):
    """An alert transition, journaled so the InfluxDB shipper and the notifier follow it.

    Not a charger's event: `charger_id` is ""; the alert's labels name its charger.
    """

    kind: ClassVar[str] = "alert"
    fingerprint: str = ""
    rule: str = ""
    severity: str = ""
    state: str = ""
    previous: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    value: float | None = None
    active_since: float | None = None
    fired_at: float | None = None
    explained_by: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    runbook_url: str | None = None


@dataclass(slots=True, frozen=True)
class ReportPublished(Event):
    """A monthly report was written (reports/scheduler.py): the notifier sends it to
    `receivers`, and the store's report_runs row says `done` in the same transaction, so
    it is never produced twice. Not a charger's event: `charger_id` is ""."""

    kind: ClassVar[str] = "report"
    month: str = ""  # "2026-11"
    site: str | None = None  # None: the whole network
    files: list[str] = field(default_factory=list)  # absolute paths, report.html first
    summary: str = ""  # a few plain-text lines
    receivers: list[str] = field(default_factory=list)  # notifications.receivers names


@dataclass(slots=True, frozen=True)
class CommandSent(Event):
    """An operator's remote command (collector/commands.py) sent to a charger, and how it
    ended: durable history of who reset or unlocked what. Not a message of the charger: it
    changes nothing of its state (no last_seen), and the rules ignore it."""

    kind: ClassVar[str] = "command"
    command: str = ""  # version-neutral name: "reset", "unlock-connector", ...
    action: str = ""  # the OCPP action sent: "Reset", "RequestStartTransaction", ...
    message_id: str = ""
    request: dict[str, Any] = field(default_factory=dict)  # the OCPP payload sent
    outcome: str = ""  # answered, call_error, invalid_answer, timeout, disconnected
    status: str | None = None  # the answer's `status`, when it has one
    result: dict[str, Any] | None = None  # the charger's payload (CallResult)
    error: str | None = None  # CallError code and description, or what went wrong
    elapsed_ms: float | None = None
    by: str = ""  # who asked, when known


@dataclass(slots=True, frozen=True)
class RemediationTried(Event):
    """What a rule's self-healing action tried for an alert, and how the charger answered
    (rules/healer.py): the alert's record of what was done. Skipped attempts are journaled
    too, with the reason. Not a message of the charger: it changes nothing of its state."""

    kind: ClassVar[str] = "remediation"
    connector_id: int | None = None
    rule: str = ""
    fingerprint: str = ""  # the alert's
    alert_state: str = ""  # pending or firing: the transition that asked for it
    action: str = ""  # the rule's action: trigger-status, soft-reset
    command: str = ""  # the remote command sent: trigger-message, reset
    outcome: str = ""  # accepted, rejected, timeout, failed, skipped, dry_run
    status: str | None = None  # the charger's answer status, when it answered
    reason: str | None = None  # why it was skipped, or what went wrong
    spent: bool = False  # counts against the charger's daily budget (sent, or a dry run)
    summary: str = ""  # "soft reset — Accepted", as notifications show it
    by: str = ""  # "self-heal:<rule>", as the command event says


@dataclass(slots=True, frozen=True)
class UploadReceived(Event):
    """A file a charger uploaded to ChargeWatch's upload endpoint (chargewatch/uploads.py)
    with the single-use ticket of a get-diagnostics / get-log command. History of what was
    received and where it is kept; not a message over OCPP, so it changes no charger state."""

    kind: ClassVar[str] = "upload"
    command: str = ""  # the command the ticket was issued for: "get-diagnostics", "get-log"
    filename: str = ""  # the name the charger gave (URL path or multipart filename)
    stored: str = ""  # the file's name under <data_dir>/uploads/<charger>/
    bytes: int = 0
    sha256: str = ""
    content_type: str = ""  # of the request: application/octet-stream, multipart/form-data
    request_id: int | None = None  # the 2.0.1 GetLog requestId the ticket was issued for
    remote: str = ""  # the uploader's address
    by: str = ""  # who asked for the command
