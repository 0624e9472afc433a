"""The same plan, spoken in OCPP 2.0.1: a pure translator from 1.6-shaped steps to 2.0.1 ones.

The planner stays version-free in substance (it decides *what* happens, in 1.6 vocabulary
because that came first); this module decides *how a 2.0.1 station says it*, so a 1.6 and a
2.0.1 charger with the same (seed, index) live through the same scenario:

    1.6 step                              2.0.1 steps
    BootNotification                      BootNotification{chargingStation, reason} and
                                          SecurityEventNotification StartupOfTheDevice /
                                          ResetOrReboot (the security events 2.0.1 requires)
    StatusNotification 0 (the charger)    nothing: 2.0.1 reports connectors only
    StatusNotification Available          StatusNotification Available (+ NotifyEvent cleared
                                          when a fault was active)
    Preparing (plug-in)                   StatusNotification Occupied
    Charging / SuspendedEV(SE)            TransactionEvent Updated, ChargingStateChanged
    Finishing                             nothing: Ended left the EVSE Occupied
    Faulted + error code                  NotifyEvent{component, Problem|Tripped, techCode}
                                          then StatusNotification Faulted
    Authorize(idTag)                      Authorize(idToken ISO14443)
    StartTransaction                      TransactionEvent Started, Authorized, seqNo 0,
                                          EVConnected, Transaction.Begin register
    MeterValues                           TransactionEvent Updated, MeterValuePeriodic, numbers
                                          with unitOfMeasure; Temperature (no longer a
                                          measurand) as a Delta-monitor NotifyEvent
    StopTransaction(reason)               TransactionEvent Ended, stoppedReason, Transaction.End

Queued (offline) steps get `offline: true`, as 2.0.1 asks. Transaction ids are the
station's own (2.0.1): a digest of a per-run nonce and the planner's session reference, so
a run is reproducible given the nonce and two runs never reuse an id.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any, Final

from ocpp.v201 import call

from collector.simulator.profiles import CHARGEX_CODES
from collector.simulator.steps import CALL, SessionRef, Step

SUBPROTOCOL: Final = "ocpp2.0.1"
CHARGING_STATES: Final = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE"})
IN_USE: Final = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
TEMPERATURE_DELTA_C: Final = 5.0  # the station's Delta monitor on its temperature variable
CONNECTOR_ON_EVSE: Final = 1  # the simulator's EVSEs have one connector each

# A plain 1.6 error code as a 2.0.1 device-model component and its boolean variable.
# Codes without a component of their own (HighTemperature, Over/UnderVoltage, ...) are a
# Problem of the EVSE; the ChargeX code (techCode) or the techInfo says what it is.
FAULT_COMPONENTS: Final[dict[str, tuple[str, str]]] = {
    "GroundFailure": ("RCD", "Tripped"),
    "OverCurrentFailure": ("OverCurrentProtection", "Problem"),
    "PowerSwitchFailure": ("PowerContactor", "Problem"),
    "ConnectorLockFailure": ("ConnectorPlugRetentionLock", "Problem"),
    "ReaderFailure": ("TokenReader", "Problem"),
}
DEFAULT_FAULT_COMPONENT: Final = ("EVSE", "Problem")
CHARGEX_COMPONENT: Final = ("Connector", "Problem")

# 1.6 StopTransaction reason -> the 2.0.1 triggerReason of the Ended event
STOP_TRIGGERS: Final[dict[str, str]] = {
    "Local": "StopAuthorized",
    "EVDisconnected": "EVDeparted",
    "Reboot": "AbnormalCondition",
    "Other": "AbnormalCondition",
}
# 1.6 units the planner uses -> (2.0.1 unit, multiplier): 2.0.1 scales with a power of ten
UNITS: Final[dict[str, tuple[str, int]]] = {"kWh": ("Wh", 3), "kW": ("W", 3)}
TEMPERATURE: Final = "Temperature"


def transaction_id(nonce: str, ref: SessionRef) -> str:
    """A UUID-shaped id (max 36 chars) derived from the run's nonce and the session."""
    digest = hashlib.sha1(f"{nonce}:{ref[0]}:{ref[1]}".encode(), usedforsecurity=False).hexdigest()
    return str(uuid.UUID(digest[:32]))


def evse_of(connector: int) -> dict[str, int]:
    return {"id": connector, "connector_id": CONNECTOR_ON_EVSE}


def sampled_value(sv: dict[str, Any]) -> dict[str, Any]:
    """A 1.6 sampled value (string value, unit) as 2.0.1's (number, unitOfMeasure)."""
    unit, multiplier = UNITS.get(sv["unit"], (sv["unit"], 0))
    uom: dict[str, Any] = {"unit": unit}
    if multiplier:
        uom["multiplier"] = multiplier
    out = {
        "value": float(sv["value"]),
        "context": sv["context"],
        "measurand": sv["measurand"],
        "unit_of_measure": uom,
    }
    for key in ("phase", "location"):
        if key in sv:
            out[key] = sv[key]
    return out


class V201Translator:
    """Per charger: the state a 2.0.1 station keeps that 1.6 has no words for (seqNo,
    open transactions, announced faults, monitor values, event ids)."""

    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        self.boots = 0
        self._event_id = 0
        self._seq: dict[SessionRef, int] = {}
        self._open: dict[int, SessionRef] = {}  # connector -> its transaction
        self._state: dict[int, str] = {}  # connector -> last chargingState sent
        self._fault: dict[int, dict[str, Any]] = {}  # connector -> announced fault event
        self._temperature: dict[int, float] = {}  # connector -> last temperature reported

    def steps(self, plan: Iterable[Step]) -> Iterator[Step]:
        for step in plan:
            yield from self.translate(step)

    def translate(self, step: Step) -> list[Step]:
        if step.op != CALL:
            return [step]
        handler = getattr(self, f"_{step.action}", None)
        if handler is None:  # Heartbeat, and anything spelled the same in both versions
            return [step]
        return handler(step)

    # -- boot ---------------------------------------------------------------------------
    def boot(self, step: Step, reason: str | None = None) -> list[Step]:
        """BootNotification plus the security event a 2.0.1 station logs for a (re)start."""
        self.boots += 1
        reason = reason or ("PowerUp" if self.boots == 1 else "Watchdog")
        d = step.data
        station = {
            "vendor_name": d["charge_point_vendor"],
            "model": d["charge_point_model"],
            "serial_number": d.get("charge_point_serial_number"),
            "firmware_version": d.get("firmware_version"),
        }
        data = {"charging_station": station, "reason": reason}
        kind = "StartupOfTheDevice" if reason == "PowerUp" else "ResetOrReboot"
        security = {"type": kind, "tech_info": f"boot reason {reason}"}
        return [
            replace(step, action="BootNotification", data=data),
            replace(step, action="SecurityEventNotification", data=security),
        ]

    _BootNotification = boot

    # -- statuses and faults --------------------------------------------------------------
    def _StatusNotification(self, step: Step) -> list[Step]:
        d, connector = step.data, step.connector
        if connector == 0:
            return []
        status = d["status"]
        out: list[Step] = []
        if status == "Faulted":
            out += self._announce(step)
            out.append(self._connector_status(step, "Faulted"))
            return out
        ref = self._open.get(connector)
        if status in CHARGING_STATES and ref is not None:
            if step.session is None:  # a resend after a reconnect: the connector's status
                out.append(self._connector_status(step, "Occupied"))
            if self._state.get(connector) != status:
                out.append(self._event(step, ref, "Updated", "ChargingStateChanged", status))
            return out
        if status in IN_USE:
            return [] if step.session is not None else [self._connector_status(step, "Occupied")]
        out.append(self._connector_status(step, status))  # Available, Unavailable, Reserved
        out += self._clear(step)
        return out

    def _connector_status(self, step: Step, status: str) -> Step:
        data = {
            "connector_status": status,
            "evse_id": step.connector,
            "connector_id": CONNECTOR_ON_EVSE,
        }
        return replace(step, action="StatusNotification", data=data, session=None)

    def _announce(self, step: Step) -> list[Step]:
        """NotifyEvent for a fault, unless this very fault is already announced."""
        d, connector = step.data, step.connector
        cx = d.get("vendor_error_code") if d.get("vendor_id") else None
        if cx in CHARGEX_CODES:
            component, variable = CHARGEX_COMPONENT
            tech_code = cx
        else:
            component, variable = FAULT_COMPONENTS.get(d["error_code"], DEFAULT_FAULT_COMPONENT)
            # no device-model component for it (HighTemperature, OverVoltage, ...): the
            # techCode names the fault, as stations commonly do
            default = None if d["error_code"] in FAULT_COMPONENTS else d["error_code"]
            tech_code = d.get("vendor_error_code") or default
        item = {
            "component": {"name": component, "evse": evse_of(connector)},
            "variable": {"name": variable},
            "trigger": "Alerting",
            "event_notification_type": "HardWiredNotification",
            "tech_info": f"{d['error_code']}: {d['info']}" if d.get("info") else d["error_code"],
        }
        if tech_code:
            item["tech_code"] = tech_code
        previous = self._fault.get(connector)
        same = ("component", "variable", "tech_code")
        if previous is not None and all(previous.get(k) == item.get(k) for k in same):
            return []  # this very fault is already announced (a resend after a reconnect)
        out = self._clear(step) if previous is not None else []
        self._fault[connector] = item
        out.append(self._notify(step, {**item, "actual_value": "true"}))
        return out

    def _clear(self, step: Step) -> list[Step]:
        item = self._fault.pop(step.connector, None)
        if item is None:
            return []
        return [self._notify(step, {**item, "actual_value": "false", "cleared": True})]

    def _notify(self, step: Step, item: dict[str, Any]) -> Step:
        self._event_id += 1
        data = {"seq_no": 0, "event_data": [{"event_id": self._event_id, **item}]}
        return replace(step, action="NotifyEvent", data=data, session=None, send=None)

    # -- transactions -------------------------------------------------------------------
    def _Authorize(self, step: Step) -> list[Step]:
        token = {"id_token": step.data["id_tag"], "type": "ISO14443"}
        return [replace(step, data={"id_token": token})]

    def _StartTransaction(self, step: Step) -> list[Step]:
        assert step.session is not None
        d, ref = step.data, step.session
        self._open[step.connector] = ref
        self._seq[ref] = 0
        begin = {
            "value": float(d["meter_start"]),
            "context": "Transaction.Begin",
            "measurand": "Energy.Active.Import.Register",
            "location": "Outlet",
            "unit_of_measure": {"unit": "Wh"},
        }
        extra = {
            "id_token": {"id_token": d["id_tag"], "type": "ISO14443"},
            "evse": evse_of(step.connector),
            "meter_value": [{"sampled_value": [begin]}],
        }
        return [self._event(step, ref, "Started", "Authorized", "EVConnected", **extra)]

    def _MeterValues(self, step: Step) -> list[Step]:
        ref = step.session
        assert ref is not None
        values = step.data["meter_value"][0]["sampled_value"]
        kept = [sampled_value(sv) for sv in values if sv["measurand"] != TEMPERATURE]
        meter_value = [{"sampled_value": kept}]
        out = [self._event(step, ref, "Updated", "MeterValuePeriodic", meter_value=meter_value)]
        if step.send is None:  # a monitor's events are not queued while offline
            out += self._temperatures(step, values)
        return out

    def _temperatures(self, step: Step, values: list[dict[str, Any]]) -> list[Step]:
        out = []
        for sv in values:
            if sv["measurand"] != TEMPERATURE:
                continue
            value = float(sv["value"])
            last = self._temperature.get(step.connector)
            if last is not None and abs(value - last) < TEMPERATURE_DELTA_C:
                continue
            self._temperature[step.connector] = value
            item = {
                "component": {"name": "EVSE", "evse": {"id": step.connector}},
                "variable": {"name": TEMPERATURE},
                "trigger": "Delta",
                "event_notification_type": "HardWiredMonitor",
                "actual_value": sv["value"],
            }
            # kept with its session: a session the central system refused sends nothing
            out.append(replace(self._notify(step, item), session=step.session))
        return out

    def _StopTransaction(self, step: Step) -> list[Step]:
        ref = step.session
        assert ref is not None
        d = step.data
        reason = d["reason"]
        end = sampled_value(d["transaction_data"][0]["sampled_value"][0])
        extra: dict[str, Any] = {"meter_value": [{"sampled_value": [end]}]}
        if reason == "Local":
            extra["id_token"] = {"id_token": d["id_tag"], "type": "ISO14443"}
        # the EV stays plugged in after a local or fault stop; it left with EVDisconnected
        state = "Idle" if reason == "EVDisconnected" else "EVConnected"
        trigger = STOP_TRIGGERS.get(reason, "AbnormalCondition")
        # a reboot ended it while the station was down: reported as an offline event
        offline = reason == "Reboot"
        out = self._event(step, ref, "Ended", trigger, state, reason, offline=offline, **extra)
        if self._open.get(step.connector) == ref:
            del self._open[step.connector]
        self._state.pop(step.connector, None)
        self._seq.pop(ref, None)
        return [out]

    def _event(
        self,
        step: Step,
        ref: SessionRef,
        event_type: str,
        trigger: str,
        charging_state: str | None = None,
        stopped_reason: str | None = None,
        offline: bool = False,
        **extra: Any,
    ) -> Step:
        seq_no = self._seq.get(ref, 0)
        self._seq[ref] = seq_no + 1
        info: dict[str, Any] = {"transaction_id": transaction_id(self.nonce, ref)}
        if charging_state is not None:
            info["charging_state"] = charging_state
            self._state[step.connector] = charging_state
        if stopped_reason is not None:
            info["stopped_reason"] = stopped_reason
        data: dict[str, Any] = {
            "event_type": event_type,
            "trigger_reason": trigger,
            "seq_no": seq_no,
            "transaction_info": info,
            **extra,
        }
        if offline or step.send is not None:
            data["offline"] = True
        return replace(step, action="TransactionEvent", data=data, session=ref)


_TIMESTAMPED: Final = frozenset(
    {"StatusNotification", "TransactionEvent", "SecurityEventNotification"}
)


def build_call_v201(step: Step, timestamp: str) -> Any:
    """Turn a translated CALL step into an `ocpp.v201.call.<Action>` with its timestamps."""
    kwargs = copy.deepcopy(dict(step.data))
    if step.action in _TIMESTAMPED:
        kwargs["timestamp"] = timestamp
    for meter_value in kwargs.get("meter_value") or ():
        meter_value["timestamp"] = timestamp
    if step.action == "NotifyEvent":
        kwargs["generated_at"] = timestamp
        for item in kwargs["event_data"]:
            item["timestamp"] = timestamp
    if step.action == "BootNotification":
        station = kwargs["charging_station"]
        kwargs["charging_station"] = {k: v for k, v in station.items() if v is not None}
    return getattr(call, step.action)(**kwargs)
