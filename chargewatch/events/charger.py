"""What came over the OCPP port: the chargers' own messages, their connections, and the
handshakes ChargeWatch refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from chargewatch.events.base import Event, Sample


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
