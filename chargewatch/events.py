"""The version-free event model: what the collector journals and every consumer reads.

Only the protocol adapters know OCPP 1.6J vs 2.0.1; everything downstream sees these
types. Times are UTC epoch seconds (float) so they sort, subtract and serialise cheaply;
`ts` is always the collector's receive time, `charger_ts` what the charger claimed.
Values are in canonical units (W, Wh, A, V, degC, %, var, varh, VA, Hz).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
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


@dataclass(slots=True, frozen=True)
class Connected(Event):
    kind: ClassVar[str] = "connected"
    remote: str = ""
    protocol: str = ""
    # an unknown charger admitted only to be commissioned (ocpp.security.unknown_chargers:
    # pending): its BootNotification is answered Pending and nothing else is accepted
    commissioning: bool = False


# Disconnect reasons of ChargeWatch's own making: the charger did nothing wrong.
REASON_COLLECTOR_STOPPING = "collector stopping"
REASON_COLLECTOR_RESTARTED = "collector restarted"  # it was not running to see the close
REASON_COMMISSIONED = "commissioned"  # registered while pending: it reconnects and signs in
OUR_DISCONNECTS = frozenset(
    {REASON_COLLECTOR_STOPPING, REASON_COLLECTOR_RESTARTED, REASON_COMMISSIONED}
)


@dataclass(slots=True, frozen=True)
class Disconnected(Event):
    kind: ClassVar[str] = "disconnected"
    code: int | None = None
    reason: str = ""
    commissioning: bool = False  # the connection was one pending commissioning


@dataclass(slots=True, frozen=True)
class Booted(Event):
    kind: ClassVar[str] = "booted"
    vendor: str = ""
    model: str = ""
    serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    reason: str | None = None
    heartbeat_interval: int = 0


@dataclass(slots=True, frozen=True)
class HeartbeatReceived(Event):
    kind: ClassVar[str] = "heartbeat"


@dataclass(slots=True, frozen=True)
class StatusReported(Event):
    """A connector (or, for connector 0, the whole charger) reported its status."""

    kind: ClassVar[str] = "status"
    connector_id: int = 0
    status: str = ""
    error_code: str | None = None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    fault_category: str | None = None
    charger_ts: float | None = None


@dataclass(slots=True, frozen=True)
class MeterValuesReported(Event):
    kind: ClassVar[str] = "meter"
    connector_id: int = 0
    session_id: str | None = None
    samples: tuple[Sample, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # asdict() would recurse into every sample; samples encode as JSON arrays as they are.
        return {
            "charger_id": self.charger_id,
            "ts": self.ts,
            "connector_id": self.connector_id,
            "session_id": self.session_id,
            "samples": self.samples,
        }


@dataclass(slots=True, frozen=True)
class Authorized(Event):
    kind: ClassVar[str] = "authorized"
    id_tag: str = ""
    status: str = ""


@dataclass(slots=True, frozen=True)
class SessionStarted(Event):
    kind: ClassVar[str] = "session_started"
    session_id: str = ""
    transaction_id: str = ""
    connector_id: int = 0
    id_tag: str | None = None
    meter_start_wh: float | None = None
    started_at: float = 0.0
    reservation_id: int | None = None
    auth_status: str | None = None


@dataclass(slots=True, frozen=True)
class SessionStopped(Event):
    """The end of a session, carrying what consumers need without looking up its start."""

    kind: ClassVar[str] = "session_stopped"
    session_id: str = ""
    meter_stop_wh: float | None = None
    stopped_at: float = 0.0
    reason: str | None = None
    id_tag: str | None = None
    energy_wh: float | None = None
    connector_id: int = 0  # 0 when the start was never seen
    started_at: float | None = None
    meter_start_wh: float | None = None


@dataclass(slots=True, frozen=True)
class DataTransferred(Event):
    kind: ClassVar[str] = "data_transfer"
    vendor_id: str = ""
    message_id: str | None = None
    data: str | None = None


@dataclass(slots=True, frozen=True)
class DiagnosticsStatusReported(Event):
    kind: ClassVar[str] = "diagnostics_status"
    status: str = ""


@dataclass(slots=True, frozen=True)
class FirmwareStatusReported(Event):
    kind: ClassVar[str] = "firmware_status"
    status: str = ""
    request_id: int | None = None


@dataclass(slots=True, frozen=True)
class LogStatusReported(Event):
    kind: ClassVar[str] = "log_status"
    status: str = ""
    request_id: int | None = None


@dataclass(slots=True, frozen=True)
class SecurityEventReported(Event):
    kind: ClassVar[str] = "security_event"
    type: str = ""
    charger_ts: float | None = None
    tech_info: str | None = None


@dataclass(slots=True, frozen=True)
class DeviceEventReported(Event):
    """One OCPP 2.0.1 NotifyEvent eventData item as sent (component, variable, value).

    Kept raw beside the StatusReported it may cause (a fault), so operators and dashboards
    see every monitor the charger fires; it is not charger state.
    """

    kind: ClassVar[str] = "device_event"
    connector_id: int = 0  # the component's EVSE id; 0: the charging station itself
    component: str = ""
    component_instance: str | None = None
    variable: str = ""
    variable_instance: str | None = None
    trigger: str = ""  # Alerting, Delta, Periodic
    actual_value: str = ""
    cleared: bool = False
    tech_code: str | None = None
    tech_info: str | None = None
    event_id: int = 0
    cause: int | None = None
    notification_type: str | None = None
    transaction_id: str | None = None
    charger_ts: float | None = None


@dataclass(slots=True, frozen=True)
class CommissioningRequested(Event):
    """An unknown charger admitted as "pending commissioning" sent a BootNotification: it
    was answered Pending and waits for an operator to register it. Carries what it says it
    is, so the alert can name it; nothing of it is charger state."""

    kind: ClassVar[str] = "commissioning"
    vendor: str = ""
    model: str = ""
    serial_number: str | None = None
    firmware_version: str | None = None
    remote: str = ""


@dataclass(slots=True, frozen=True)
class AuthLockedOut(Event):
    """Too many failed authentications at the OCPP handshake locked a source address or a
    charger id out (collector/auth.py). `charger_id` is the id that was tried."""

    kind: ClassVar[str] = "auth_lockout"
    address: str = ""  # the source IP address
    locked: str = ""  # "address" or "charger_id": which one is locked
    failures: int = 0
    window_s: float = 0.0
    lockout_s: float = 0.0
    reason: str = ""  # the last refusal: unauthorized, unknown_charger, ...


@dataclass(slots=True, frozen=True)
class TransactionGapDetected(Event):
    """Messages of a transaction never arrived (OCPP 2.0.1 seqNo skipped numbers): its
    meter data, and so its energy and peak power, may be incomplete."""

    kind: ClassVar[str] = "transaction_gap"
    session_id: str = ""
    connector_id: int = 0
    expected_seq_no: int = 0
    received_seq_no: int = 0
    missing: int = 0


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


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        Connected,
        Disconnected,
        Booted,
        HeartbeatReceived,
        StatusReported,
        MeterValuesReported,
        Authorized,
        SessionStarted,
        SessionStopped,
        DataTransferred,
        DiagnosticsStatusReported,
        FirmwareStatusReported,
        LogStatusReported,
        SecurityEventReported,
        DeviceEventReported,
        CommissioningRequested,
        AuthLockedOut,
        TransactionGapDetected,
        AlertAcknowledged,
        AlertUnacknowledged,
        SilenceSet,
        DriverSet,
        OutageExcluded,
        AlertChanged,
        ReportPublished,
        CommandSent,
        UploadReceived,
        RemediationTried,
    )
}


def event_from_dict(kind: str, data: dict[str, Any]) -> Event:
    """Rebuild an event read back from the journal."""
    cls = EVENT_TYPES[kind]
    if cls is MeterValuesReported:
        data = dict(data)
        data["samples"] = tuple(Sample(*row) for row in data["samples"])
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True, frozen=True)
class RawMessage:
    """An entry of the raw message log (bounded retention, for forensics and retry dedup)."""

    charger_id: str
    ts: float
    message_id: str | None
    action: str | None
    request: str
    response: str | None
    ok: bool
