"""OCPP 2.0.1 NotifyEvent: raw device events, faults, and temperatures.

2.0.1 has no error code in StatusNotification: a fault is a monitored variable going bad
(`Problem`, `Tripped` or `Operated` true, `AvailabilityState` Faulted, or any item with a
techCode; a techCode naming a 1.6 error code, e.g. "HighTemperature", is that fault), and
its clearing is the same component/variable reported `cleared` or back to false. ChargeX
MREC codes arrive as techCode "CX0nn" and are recorded under ChargeX's vendor id, exactly as a
1.6 charger sends them, so fault categories, rules and reports treat both alike. Temperature,
no longer a 2.0.1 measurand, arrives as a monitored variable and becomes a meter sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from chargewatch import events as ev
from chargewatch.faults import CHARGEX_CODES, CHARGEX_VENDOR_ID, OCPP16_ERROR_CATEGORIES
from collector.adapter import parse_time
from collector.v201.evse import Fault

# boolean "something is wrong" variables (OverCurrentProtection reports "Operated")
FAULT_VARIABLES = frozenset({"Problem", "Tripped", "Operated"})
FALSE_VALUES = frozenset({"false", "0", "", "no", "off"})
# components of the 2.0.1 device model whose trouble has a 1.6 error code of its own
COMPONENT_CODES = {
    "RCD": "GroundFailure",
    "OverCurrentProtection": "OverCurrentFailure",
    "PowerContactor": "PowerSwitchFailure",
    "ConnectorPlugRetentionLock": "ConnectorLockFailure",
    "TokenReader": "ReaderFailure",
}
_OCPP16_NAMES = {name.upper(): name for name in OCPP16_ERROR_CATEGORIES}
INFO_LIMIT = 500
TRIGGER_CONTEXT = {"Periodic": "Sample.Periodic"}  # Alerting / Delta: a Trigger reading


@dataclass(slots=True, frozen=True)
class FaultChange:
    """One eventData item's effect on a fault: `fault` None clears the key."""

    evse_id: int
    key: tuple[Any, ...]
    fault: Fault | None
    charger_ts: float


def device_event(cid: str, now: float, item: dict[str, Any], i: int) -> ev.DeviceEventReported:
    """The raw record of one (schema-checked) eventData item."""
    component, variable = item["component"], item["variable"]
    return ev.DeviceEventReported(
        cid,
        now,
        connector_id=(component.get("evse") or {}).get("id", 0),
        component=component["name"],
        component_instance=component.get("instance"),
        variable=variable["name"],
        variable_instance=variable.get("instance"),
        trigger=item["trigger"],
        actual_value=item["actualValue"],
        cleared=bool(item.get("cleared", False)),
        tech_code=item.get("techCode"),
        tech_info=item.get("techInfo"),
        event_id=item["eventId"],
        cause=item.get("cause"),
        notification_type=item["eventNotificationType"],
        transaction_id=item.get("transactionId"),
        charger_ts=parse_time(item["timestamp"], f"eventData[{i}].timestamp"),
    )


def fault_change(e: ev.DeviceEventReported, vendor: str | None) -> FaultChange | None:
    """How a device event sets or clears a fault; None when it says nothing about one."""
    name, value = e.variable, e.actual_value.strip()
    if name == "AvailabilityState":
        active = value == "Faulted"
    elif name in FAULT_VARIABLES or e.tech_code:
        active = value.lower() not in FALSE_VALUES
    else:
        return None
    key = (e.component, e.component_instance, e.variable, e.variable_instance)
    ts = e.charger_ts if e.charger_ts is not None else e.ts
    if e.cleared or not active:
        return FaultChange(e.connector_id, key, None, ts)
    code = (e.tech_code or "").strip().upper()
    info = f"{e.component}.{e.variable}={value}"
    if e.tech_info:
        info = f"{info}: {e.tech_info}"
    info = info[:INFO_LIMIT]
    if code in CHARGEX_CODES:
        cx_name = CHARGEX_CODES[code][0]
        error = cx_name if cx_name in OCPP16_ERROR_CATEGORIES else "OtherError"
        fault = Fault(error, info, CHARGEX_VENDOR_ID, code)
    else:
        # a techCode that is a 1.6 error code's name ("HighTemperature") means that fault
        error = COMPONENT_CODES.get(e.component) or _OCPP16_NAMES.get(code, "OtherError")
        # a vendor's techCode is identified by (vendor, code), as 1.6 vendorId/vendorErrorCode
        fault = Fault(error, info, vendor if e.tech_code else None, e.tech_code)
    return FaultChange(e.connector_id, key, fault, ts)


def temperature(e: ev.DeviceEventReported) -> ev.Sample | None:
    """A Temperature variable (degrees Celsius in the 2.0.1 device model) as a meter sample."""
    if e.variable != "Temperature" or e.cleared:
        return None
    try:
        value = float(e.actual_value)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    ts = e.charger_ts if e.charger_ts is not None else e.ts
    location = "Cable" if "Cable" in e.component else ("EV" if e.component == "EV" else "Body")
    context = TRIGGER_CONTEXT.get(e.trigger, "Trigger")
    return ev.Sample(ts, "Temperature", value, "degC", None, context, location, None)
