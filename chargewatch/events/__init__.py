"""The version-free event model: what the collector journals and every consumer reads.

Only the protocol adapters know OCPP 1.6J vs 2.0.1; everything downstream sees these
types. Times are UTC epoch seconds (float) so they sort, subtract and serialise cheaply;
`ts` is always the collector's receive time, `charger_ts` what the charger claimed.
Values are in canonical units (W, Wh, A, V, degC, %, var, varh, VA, Hz).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from chargewatch.events import operator as _operator
from chargewatch.events.base import Event, Sample
from chargewatch.events.charger import (
    OUR_DISCONNECTS,
    REASON_COLLECTOR_RESTARTED,
    REASON_COLLECTOR_STOPPING,
    REASON_COMMISSIONED,
    AuthLockedOut,
    Authorized,
    Booted,
    CommissioningRequested,
    Connected,
    DataTransferred,
    DeviceEventReported,
    DiagnosticsStatusReported,
    Disconnected,
    FirmwareStatusReported,
    HeartbeatReceived,
    LogStatusReported,
    MeterValuesReported,
    SecurityEventReported,
    SessionStarted,
    SessionStopped,
    StatusReported,
    TransactionGapDetected,
)
from chargewatch.events.operator import (
    EXCLUSION_CATEGORIES,
    AlertAcknowledged,
    AlertChanged,
    AlertUnacknowledged,
    CommandSent,
    DriverSet,
    OutageExcluded,
    RemediationTried,
    ReportPublished,
    SilenceSet,
    UploadReceived,
)

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

# what people and ChargeWatch itself did (events/operator.py): not a charger's own state,
# not a fact the rules reason about; consumers skip or project these by this set
OPERATOR_KINDS = frozenset(
    cls.kind for cls in EVENT_TYPES.values() if cls.__module__ == _operator.__name__
)


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


__all__ = [
    "EVENT_TYPES",
    "EXCLUSION_CATEGORIES",
    "OPERATOR_KINDS",
    "OUR_DISCONNECTS",
    "REASON_COLLECTOR_RESTARTED",
    "REASON_COLLECTOR_STOPPING",
    "REASON_COMMISSIONED",
    "AlertAcknowledged",
    "AlertChanged",
    "AlertUnacknowledged",
    "AuthLockedOut",
    "Authorized",
    "Booted",
    "CommandSent",
    "CommissioningRequested",
    "Connected",
    "DataTransferred",
    "DeviceEventReported",
    "DiagnosticsStatusReported",
    "Disconnected",
    "DriverSet",
    "Event",
    "FirmwareStatusReported",
    "HeartbeatReceived",
    "LogStatusReported",
    "MeterValuesReported",
    "OutageExcluded",
    "RawMessage",
    "RemediationTried",
    "ReportPublished",
    "Sample",
    "SecurityEventReported",
    "SessionStarted",
    "SessionStopped",
    "SilenceSet",
    "StatusReported",
    "TransactionGapDetected",
    "UploadReceived",
    "event_from_dict",
]
