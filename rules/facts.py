"""What the engine knows about each charger and connector, updated once per event.

Conditions read these facts instead of each keeping its own copy. Updating them also yields
the *derived* events that count conditions count (a status change, a rejected tag, an
energy register going backwards, ...). Times are the collector's receive times; charger
timestamps are only used to order reports from the same charger (a late, older status
report or register reading does not overwrite a newer one). Orders compare the charger's
clock with itself, never with ours, so a clock hours off still orders correctly; a boot
forgets them, as the charger's clock is typically set anew then.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, NamedTuple

from chargewatch import events as ev

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
IDLE_STATUSES = frozenset({"SuspendedEV", "Finishing"})
REGISTER_TOLERANCE_WH = 0.5  # rounding between kWh and Wh reports is not "backwards"


class Derived(NamedTuple):
    """An event a count condition can count, with details for matching and annotations."""

    name: str
    charger: str
    connector: int | None
    details: dict[str, Any]


@dataclass(slots=True)
class ConnectorFacts:
    status: str | None = None
    error_code: str | None = None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    fault_category: str | None = None
    status_since: float | None = None  # when the current status began (receive time)
    status_charger_ts: float | None = None  # charger clock: orders the status reports
    charged: bool = False  # status Charging seen since the connector was last free
    idle_since: float | None = None  # charging ended, the car still occupies the bay
    session_id: str | None = None
    session_started: float | None = None
    id_tag: str | None = None
    meter_start_wh: float | None = None
    register_wh: float | None = None  # the newest energy register reading
    register_ts: float | None = None  # its charger timestamp (ordering only)
    power_w: float | None = None  # the newest active power import
    power_ts: float | None = None  # its charger timestamp (ordering only)


@dataclass(slots=True)
class ChargerFacts:
    last_seen: float | None = None
    connected: bool | None = None  # None: unknown (not seen yet, or ChargeWatch was down)
    disconnected_at: float | None = None
    heartbeat_interval: float | None = None
    vendor: str | None = None
    model: str | None = None
    booted_at: float | None = None  # receive time of the last boot: its clock may be reset
    connectors: dict[int, ConnectorFacts] = field(default_factory=dict)

    def connector(self, connector_id: int) -> ConnectorFacts:
        facts = self.connectors.get(connector_id)
        if facts is None:
            facts = self.connectors[connector_id] = ConnectorFacts()
        return facts


class Facts:
    def __init__(self, known_chargers: frozenset[str] | None = None) -> None:
        self.chargers: dict[str, ChargerFacts] = {}
        self.known = known_chargers  # None: the config lists no chargers, all are welcome

    def charger(self, charger_id: str) -> ChargerFacts:
        facts = self.chargers.get(charger_id)
        if facts is None:
            facts = self.chargers[charger_id] = ChargerFacts()
        return facts

    def apply(self, e: ev.Event) -> list[Derived]:
        """Update the facts with one event; return the derived events it produced."""
        unmonitored = _UNMONITORED.get(e.kind)
        if unmonitored is not None or getattr(e, "commissioning", False):
            # a charger pending commissioning, or a refused handshake: not (yet) one we
            # watch, so no facts (no offline or SLA alerts), only what the security rules count
            return unmonitored(e) if unmonitored is not None else []
        charger = self.charger(e.charger_id)
        charger.last_seen = e.ts if charger.last_seen is None else max(charger.last_seen, e.ts)
        handler = _HANDLERS.get(e.kind)
        return handler(self, charger, e) if handler else []

    # ---- handlers ----------------------------------------------------------------------
    def _connected(self, charger: ChargerFacts, e: ev.Connected) -> list[Derived]:
        charger.connected, charger.disconnected_at = True, None
        out = [Derived("connect", e.charger_id, None, {"remote": e.remote})]
        if self.known is not None and e.charger_id not in self.known:
            out.append(Derived("unknown_charger", e.charger_id, None, {"remote": e.remote}))
        return out

    def _disconnected(self, charger: ChargerFacts, e: ev.Disconnected) -> list[Derived]:
        if e.reason in ev.OUR_DISCONNECTS:
            # we closed it (stopping) or were not running to see it: not the charger's doing
            charger.connected, charger.disconnected_at = None, None
            return []
        charger.connected, charger.disconnected_at = False, e.ts
        return [Derived("disconnect", e.charger_id, None, {"reason": e.reason})]

    def _booted(self, charger: ChargerFacts, e: ev.Booted) -> list[Derived]:
        charger.vendor, charger.model = e.vendor, e.model
        if e.heartbeat_interval:
            charger.heartbeat_interval = float(e.heartbeat_interval)
        charger.connected, charger.disconnected_at, charger.booted_at = True, None, e.ts
        for c in charger.connectors.values():
            # the boot response sets the charger's clock: what it dates next may be earlier
            c.status_charger_ts = c.register_ts = c.power_ts = None
        return [Derived("boot", e.charger_id, None, {"reason": e.reason or ""})]

    def _status(self, charger: ChargerFacts, e: ev.StatusReported) -> list[Derived]:
        c = charger.connector(e.connector_id)
        if (
            e.charger_ts is not None
            and c.status_charger_ts is not None
            and e.charger_ts < c.status_charger_ts
        ):
            return []  # an older report arriving late: the newer one stands
        changed = e.status != c.status
        new_fault = (e.status, e.error_code, e.vendor_error_code) != (
            c.status,
            c.error_code,
            c.vendor_error_code,
        )
        if changed:
            c.status_since = e.ts
        c.status, c.error_code, c.info = e.status, e.error_code, e.info
        c.vendor_id, c.vendor_error_code = e.vendor_id, e.vendor_error_code
        c.fault_category, c.status_charger_ts = e.fault_category, e.charger_ts
        if e.status == "Charging":
            c.charged, c.idle_since = True, None
        elif e.status in IDLE_STATUSES:
            if c.charged and c.idle_since is None:
                c.idle_since = e.ts
        else:
            c.charged, c.idle_since = False, None
        details = {
            "status": e.status,
            "error_code": e.error_code or "",
            "vendor_error_code": e.vendor_error_code or "",
            "fault_category": e.fault_category or "",
        }
        out = []
        if changed:
            out.append(Derived("status_change", e.charger_id, e.connector_id, details))
        if e.fault_category is not None and new_fault:
            out.append(Derived("fault", e.charger_id, e.connector_id, details))
        return out

    def _meter(self, charger: ChargerFacts, e: ev.MeterValuesReported) -> list[Derived]:
        c = charger.connector(e.connector_id)
        out = []
        for s in e.samples:
            if s.value is None or s.phase is not None:
                continue
            # ordered by the charger's own clock, unclamped: clamping a clock that runs ahead
            # to our receive time would make a late, older reading look like the newest
            t = s.ts
            if s.measurand == ENERGY and s.location in (None, "Outlet"):
                if c.register_ts is not None and t < c.register_ts:
                    continue  # out of order: older than what we have
                previous = c.register_wh
                if previous is not None and s.value < previous - REGISTER_TOLERANCE_WH:
                    details = {"previous_wh": previous, "value_wh": s.value}
                    out.append(Derived("energy_backwards", e.charger_id, e.connector_id, details))
                c.register_wh, c.register_ts = s.value, t
            elif s.measurand == POWER and (c.power_ts is None or t >= c.power_ts):
                c.power_w, c.power_ts = s.value, t
        return out

    def _authorized(self, charger: ChargerFacts, e: ev.Authorized) -> list[Derived]:
        if e.status == "Accepted":
            return []
        return _rejected(e.charger_id, None, e.id_tag, e.status)

    def _session_started(self, charger: ChargerFacts, e: ev.SessionStarted) -> list[Derived]:
        c = charger.connector(e.connector_id)
        c.session_id, c.session_started, c.id_tag = e.session_id, e.started_at or e.ts, e.id_tag
        c.meter_start_wh = e.meter_start_wh
        if e.auth_status not in (None, "Accepted"):
            return _rejected(e.charger_id, e.connector_id, e.id_tag or "", e.auth_status)
        return []

    def _session_stopped(self, charger: ChargerFacts, e: ev.SessionStopped) -> list[Derived]:
        connector = e.connector_id or None  # 0: the stop did not say (OCPP 1.6 never does)
        for connector_id, c in charger.connectors.items():
            if c.session_id == e.session_id:
                c.session_id = c.session_started = c.id_tag = c.meter_start_wh = None
                connector = connector or connector_id
        if (
            e.meter_stop_wh is not None
            and e.meter_start_wh is not None
            and e.meter_stop_wh < e.meter_start_wh - REGISTER_TOLERANCE_WH
        ):
            details = {"previous_wh": e.meter_start_wh, "value_wh": e.meter_stop_wh}
            return [Derived("energy_backwards", e.charger_id, connector, details)]
        return []

    def _security(self, charger: ChargerFacts, e: ev.SecurityEventReported) -> list[Derived]:
        details = {"type": e.type, "tech_info": e.tech_info or ""}
        return [Derived("security_event", e.charger_id, None, details)]

    def resume(self, at: float) -> None:
        """ChargeWatch was not running until `at`: silence before then is ours, so every
        charger's silence counts from `at`."""
        for charger in self.chargers.values():
            if charger.last_seen is not None and charger.last_seen < at:
                charger.last_seen = at

    # ---- snapshot ----------------------------------------------------------------------
    # Rows of values in field order, not dicts: a 10,000-charger fleet snapshots in a
    # fraction of the time and size (bench/rules.py).
    def dump(self) -> dict[str, Any]:
        return {
            cid: [
                _charger_row(ch),
                {str(k): _connector_row(c) for k, c in ch.connectors.items()},
            ]
            for cid, ch in self.chargers.items()
        }

    def load(self, data: dict[str, Any]) -> None:
        for cid, (row, connectors) in data.items():
            ch = self.chargers[cid] = ChargerFacts(*row)
            for k, values in connectors.items():
                ch.connectors[int(k)] = ConnectorFacts(*values)


BLOCKED_STATUSES = frozenset({"Blocked", "Expired"})  # a card the registry refuses by name


def _rejected(charger: str, connector: int | None, id_tag: str, status: str) -> list[Derived]:
    """auth_rejected, and tag_blocked too when the tag was known and refused."""
    details = {"id_tag": id_tag, "auth_status": status}
    out = [Derived("auth_rejected", charger, connector, details)]
    if status in BLOCKED_STATUSES:
        out.append(Derived("tag_blocked", charger, connector, details))
    return out


_CHARGER_FIELDS = tuple(f.name for f in fields(ChargerFacts) if f.name != "connectors")
_charger_row = attrgetter(*_CHARGER_FIELDS)
_connector_row = attrgetter(*(f.name for f in fields(ConnectorFacts)))


def _commissioning(e: ev.CommissioningRequested) -> list[Derived]:
    details = {"vendor": e.vendor, "model": e.model, "serial_number": e.serial_number or ""}
    return [Derived("pending_commissioning", e.charger_id, None, {**details, "remote": e.remote})]


def _auth_lockout(e: ev.AuthLockedOut) -> list[Derived]:
    details = {"address": e.address, "locked": e.locked, "failures": e.failures}
    return [Derived("auth_lockout", e.charger_id, None, {**details, "reason": e.reason})]


_UNMONITORED = {"commissioning": _commissioning, "auth_lockout": _auth_lockout}
_HANDLERS = {
    "connected": Facts._connected,
    "disconnected": Facts._disconnected,
    "booted": Facts._booted,
    "status": Facts._status,
    "meter": Facts._meter,
    "authorized": Facts._authorized,
    "session_started": Facts._session_started,
    "session_stopped": Facts._session_stopped,
    "security_event": Facts._security,
}
