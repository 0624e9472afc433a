"""What an OCPP 2.0.1 EVSE is doing, and the 1.6-style status it implies.

2.0.1 reports a connector as only Available / Occupied / Reserved / Unavailable / Faulted,
sends no StatusNotification when charging starts or pauses (that is TransactionEvent's
chargingState), and reports faults as NotifyEvent. Downstream (rules, reports, dashboards)
reasons in 1.6's operative statuses, so the adapter keeps this model per EVSE and emits a
StatusReported whenever the status it implies changes:

    active fault (NotifyEvent)           -> Faulted, with its codes
    Faulted / Unavailable / Reserved     -> the same
    open transaction, chargingState      -> Charging / SuspendedEV / SuspendedEVSE,
                                            else (EVConnected, Idle, none) Preparing
    Occupied, transaction ended          -> Finishing
    Occupied, no transaction yet         -> Preparing
    Available (or nothing known)         -> Available

The model changes when a handler decides to answer (before the commit), like LiveState.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chargewatch import events as ev
from chargewatch.faults import fault_category
from chargewatch.state import LiveState

CHARGING_STATES = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE"})  # same names in 1.6
# when one EVSE has several connectors, the one most in use speaks for the port
CONNECTOR_PRIORITY = ("Occupied", "Reserved", "Available", "Unavailable", "Faulted")
NOT_OPERATIVE = frozenset({"Faulted", "Unavailable", "Reserved"})
IN_USE = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
RESTORED = ("restored",)  # a fault known only from the store after a restart
SEEDED = -1  # connector key of a status known only from the store (dropped at the next report)


@dataclass(slots=True, frozen=True)
class Fault:
    """An active fault: what the StatusReported carries while it lasts."""

    error_code: str
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None


@dataclass(slots=True)
class Evse:
    evse_id: int
    connectors: dict[int, str] = field(default_factory=dict)  # 2.0.1 status per connector
    transaction_id: str | None = None
    charging_state: str | None = None
    ended: bool = False  # a transaction ended and the EVSE has not been Available since
    faults: dict[tuple[Any, ...], Fault] = field(default_factory=dict)  # oldest first
    reported: tuple[Any, ...] | None = None  # the last (status, fault) emitted

    def raw(self) -> str | None:
        present = set(self.connectors.values())
        return next((s for s in CONNECTOR_PRIORITY if s in present), None)

    def derive(self) -> tuple[str, Fault | None]:
        """The 1.6 status this EVSE is in, and the fault that makes it Faulted (if one)."""
        if self.faults:
            return "Faulted", next(reversed(self.faults.values()))
        raw = self.raw()
        if raw in NOT_OPERATIVE:
            return raw, None
        if self.transaction_id is not None:
            state = self.charging_state
            return (state if state in CHARGING_STATES else "Preparing"), None
        if raw == "Occupied":
            return ("Finishing" if self.ended else "Preparing"), None
        return "Available", None

    def status_event(
        self, cid: str, now: float, charger_ts: float | None, force: bool = False
    ) -> ev.StatusReported | None:
        """A StatusReported when the implied status changed (always when `force`)."""
        status, fault = self.derive()
        if status == "Faulted" and fault is None and self.reported and self.reported[0] == status:
            # the fault's NotifyEvent cleared before the station's StatusNotification did:
            # still the same fault until the status itself changes
            fault = self.reported[1]
        if not force and self.reported == (status, fault):
            return None
        self.reported = (status, fault)
        if fault is None and status == "Faulted":  # a StatusNotification said so, no detail
            fault = Fault("OtherError")
        code = fault.error_code if fault else "NoError"
        vendor_id = fault.vendor_id if fault else None
        vendor_code = fault.vendor_error_code if fault else None
        return ev.StatusReported(
            cid,
            now,
            connector_id=self.evse_id,
            status=status,
            error_code=code,
            info=fault.info if fault else None,
            vendor_id=vendor_id,
            vendor_error_code=vendor_code,
            fault_category=fault_category(status, code, vendor_id, vendor_code),
            charger_ts=charger_ts,
        )


class Station:
    """The EVSEs of one charging station, seeded from the store's state after a restart."""

    def __init__(self, charger_id: str, state: LiveState) -> None:
        self.charger_id = charger_id
        self._state = state
        self.evses: dict[int, Evse] = {}

    def evse(self, evse_id: int) -> Evse:
        found = self.evses.get(evse_id)
        if found is None:
            found = self.evses[evse_id] = self._seed(evse_id)
        return found

    def _seed(self, evse_id: int) -> Evse:
        """What the last process knew: the status it reported and the open session."""
        evse = Evse(evse_id)
        charger = self._state.chargers.get(self.charger_id)
        conn = charger.connectors.get(evse_id) if charger else None
        if conn is None or conn.status is None:
            return evse
        session = self._state.sessions.get(conn.session_id) if conn.session_id else None
        if session is not None:
            evse.transaction_id = session.transaction_id
            evse.charging_state = conn.status if conn.status in CHARGING_STATES else None
        if conn.status in IN_USE:
            evse.connectors[SEEDED] = "Occupied"
            evse.ended = conn.status == "Finishing"
        elif conn.status == "Faulted":
            # the fault's NotifyEvent key is not stored: any clearing on this EVSE ends it
            evse.faults[RESTORED] = Fault(
                conn.error_code or "OtherError",
                conn.info,
                conn.vendor_id,
                conn.vendor_error_code,
            )
        else:
            evse.connectors[SEEDED] = conn.status
        evse.reported = evse.derive()
        return evse
