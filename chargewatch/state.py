"""Live state: the current picture of every charger, connector and open session.

Applying an event mutates this in-memory model and returns the rows that persist the
change (snapshots taken at apply time, written by the journal in the same transaction as
the event). One projection logic therefore serves both the live view and the on-disk
tables, and a restart rebuilds the live view from those tables (see store.load_state).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

from chargewatch import events as ev
from chargewatch import projection_rows as rows

# Rows that persist applied events: upserts keyed by (table, primary key...) so a group
# commit writes each row once, whatever number of events touched it, and history inserts.
Upserts = dict[tuple[Any, ...], tuple[str, tuple[Any, ...]]]  # key -> (table, full row)
Insert = tuple[str, tuple[Any, ...]]  # (history table, row)

RECENT_SESSION_KEYS = 64  # per charger: StartTransaction retries are matched against these
RECENTLY_CLOSED = 4096  # session ids whose repeated StopTransaction is recognised


MEMORY_ONLY = {"persist": False}  # field metadata: lives in memory, never written to the store


@dataclass(slots=True)
class ConnectorState:
    charger_id: str
    connector_id: int
    status: str | None = None
    error_code: str | None = None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    fault_category: str | None = None
    since: float | None = None  # receive time of the last status *change*
    updated: float | None = None  # receive time of the last report
    charger_ts: float | None = None
    session_id: str | None = None  # the open session, if any
    # latest value per (measurand, phase, location): (value, unit, ts)
    readings: dict[tuple[str, str | None, str | None], tuple[float, str, float]] = field(
        default_factory=dict, metadata=MEMORY_ONLY, repr=False
    )


@dataclass(slots=True)
class ChargerState:
    charger_id: str
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    heartbeat_interval: int | None = None
    first_seen: float | None = None
    last_seen: float | None = None
    last_boot: float | None = None
    boot_count: int = 0
    connected: bool = False
    connected_since: float | None = None
    protocol: str | None = None
    remote: str | None = None
    firmware_status: str | None = None
    diagnostics_status: str | None = None
    connectors: dict[int, ConnectorState] = field(
        default_factory=dict, metadata=MEMORY_ONLY, repr=False
    )
    site: str | None = field(default=None, metadata=MEMORY_ONLY)
    messages: int = field(default=0, metadata=MEMORY_ONLY)
    # connected only to be commissioned (unknown, ocpp.security.unknown_chargers: pending);
    # memory only: a restart closes every connection anyway
    commissioning: bool = field(default=False, metadata=MEMORY_ONLY)
    sessions_started: int = field(default=0, metadata=MEMORY_ONLY)
    recent_starts: OrderedDict[tuple[Any, ...], str] = field(
        default_factory=OrderedDict, metadata=MEMORY_ONLY, repr=False
    )

    def connector(self, connector_id: int) -> ConnectorState:
        conn = self.connectors.get(connector_id)
        if conn is None:
            conn = self.connectors[connector_id] = ConnectorState(self.charger_id, connector_id)
        return conn


@dataclass(slots=True)
class SessionState:
    session_id: str
    transaction_id: str
    charger_id: str
    connector_id: int
    id_tag: str | None = None
    auth_status: str | None = None
    meter_start_wh: float | None = None
    meter_last_wh: float | None = None
    meter_stop_wh: float | None = None
    energy_wh: float | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    reservation_id: int | None = None
    received_at: float | None = None
    updated_at: float | None = None
    # from the meter samples, for the reports (charger's clock, like started_at)
    peak_power_w: float | None = None
    first_power_at: float | None = None  # energy first rose or power first flowed
    last_power_at: float | None = None  # ... and the last time: charging ended

    @property
    def is_open(self) -> bool:
        return self.stopped_at is None


def _persisted(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.metadata.get("persist", True))


TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "chargers": _persisted(ChargerState),
    "connectors": _persisted(ConnectorState),
    "sessions": _persisted(SessionState),
}
# A row snapshot is one C-level call per entity (this runs for every event).
_ROW_GETTERS = {
    cls: attrgetter(*TABLE_COLUMNS[table])
    for cls, table in (
        (ChargerState, "chargers"),
        (ConnectorState, "connectors"),
        (SessionState, "sessions"),
    )
}


def _row(obj: Any) -> tuple[Any, ...]:
    return _ROW_GETTERS[type(obj)](obj)


class LiveState:
    """Chargers, connectors and sessions as of the last applied event."""

    def __init__(self, site_of: dict[str, str] | None = None) -> None:
        self.chargers: dict[str, ChargerState] = {}
        self.sessions: dict[str, SessionState] = {}  # open sessions only
        self.next_transaction_id = 1
        self._site_of = site_of or {}
        self._closed: OrderedDict[str, None] = OrderedDict()

    # ---- reads -------------------------------------------------------------------------
    def charger(self, charger_id: str) -> ChargerState:
        charger = self.chargers.get(charger_id)
        if charger is None:
            charger = self.chargers[charger_id] = ChargerState(charger_id)
            charger.site = self._site_of.get(charger_id)
        return charger

    def find_session_start(self, charger_id: str, key: tuple[Any, ...]) -> str | None:
        """The session a repeated StartTransaction (same connector/tag/time/meter) created."""
        charger = self.chargers.get(charger_id)
        return charger.recent_starts.get(key) if charger else None

    def recently_closed(self, session_id: str) -> bool:
        return session_id in self._closed

    def allocate_transaction_id(self) -> int:
        txid = self.next_transaction_id
        self.next_transaction_id += 1
        return txid

    # ---- writes ------------------------------------------------------------------------
    def apply(self, event: ev.Event, upserts: Upserts, inserts: list[Insert]) -> None:
        """Apply one event; add the rows that persist it to `upserts` / `inserts`."""
        if event.kind in rows.NOT_CHARGER_EVENTS:
            rows.project(event, upserts, inserts)
            return
        charger = self.charger(event.charger_id)
        if charger.first_seen is None:
            charger.first_seen = event.ts
        if not isinstance(event, ev.Disconnected):
            charger.last_seen = event.ts
        handler = _APPLY.get(type(event))
        if handler is not None:
            handler(self, charger, event, upserts, inserts)
        upserts[("chargers", charger.charger_id)] = ("chargers", _row(charger))

    def _connected(self, charger, e: ev.Connected, up, ins) -> None:
        charger.connected, charger.connected_since = True, e.ts
        charger.protocol, charger.remote = e.protocol, e.remote
        charger.commissioning = e.commissioning
        ins.append(
            ("connection_history", (e.charger_id, e.ts, "up", e.remote, e.protocol, None, None))
        )

    def _disconnected(self, charger, e: ev.Disconnected, up, ins) -> None:
        charger.connected, charger.connected_since = False, None
        charger.commissioning = False
        ins.append(
            (
                "connection_history",
                (e.charger_id, e.ts, "down", charger.remote, charger.protocol, e.code, e.reason),
            )
        )

    def _booted(self, charger, e: ev.Booted, up, ins) -> None:
        for name in (
            "vendor",
            "model",
            "serial_number",
            "charge_box_serial_number",
            "firmware_version",
            "iccid",
            "imsi",
            "meter_type",
            "meter_serial_number",
        ):
            setattr(charger, name, getattr(e, name))
        charger.heartbeat_interval = e.heartbeat_interval
        charger.last_boot = e.ts
        charger.boot_count += 1

    def _status(self, charger, e: ev.StatusReported, up, ins) -> None:
        conn = charger.connector(e.connector_id)
        if conn.status != e.status:
            conn.since = e.ts
        conn.status, conn.error_code, conn.info = e.status, e.error_code, e.info
        conn.vendor_id, conn.vendor_error_code = e.vendor_id, e.vendor_error_code
        conn.fault_category, conn.charger_ts, conn.updated = e.fault_category, e.charger_ts, e.ts
        up[("connectors", e.charger_id, e.connector_id)] = ("connectors", _row(conn))
        ins.append(
            (
                "status_history",
                (
                    e.charger_id,
                    e.connector_id,
                    e.ts,
                    e.charger_ts,
                    e.status,
                    e.error_code,
                    e.info,
                    e.vendor_id,
                    e.vendor_error_code,
                    e.fault_category,
                ),
            )
        )

    def _meter(self, charger, e: ev.MeterValuesReported, up, ins) -> None:
        conn = charger.connector(e.connector_id)
        readings = conn.readings
        session = self.sessions.get(e.session_id) if e.session_id else None
        changed = False
        for s in e.samples:
            if s.value is None:
                continue
            readings[(s.measurand, s.phase, s.location)] = (s.value, s.unit, s.ts)
            if session is None or s.phase is not None:
                continue
            if s.measurand == "Energy.Active.Import.Register":
                last = session.meter_last_wh
                if last is not None and s.value > last:
                    _power_flowed(session, s.ts)
                session.meter_last_wh, changed = s.value, True
            elif s.measurand == "Power.Active.Import" and s.value > 0:
                if session.peak_power_w is None or s.value > session.peak_power_w:
                    session.peak_power_w = s.value
                _power_flowed(session, s.ts)
                changed = True
        if changed:
            session.updated_at = e.ts
            up[("sessions", session.session_id)] = ("sessions", _row(session))

    def _session_started(self, charger, e: ev.SessionStarted, up, ins) -> None:
        conn = charger.connector(e.connector_id)
        session = SessionState(
            session_id=e.session_id,
            transaction_id=e.transaction_id,
            charger_id=e.charger_id,
            connector_id=e.connector_id,
            id_tag=e.id_tag,
            auth_status=e.auth_status,
            meter_start_wh=e.meter_start_wh,
            meter_last_wh=e.meter_start_wh,
            started_at=e.started_at,
            reservation_id=e.reservation_id,
            received_at=e.ts,
            updated_at=e.ts,
        )
        self.sessions[e.session_id] = session
        conn.session_id = e.session_id
        charger.sessions_started += 1
        key = (e.connector_id, e.id_tag, e.started_at, e.meter_start_wh)
        charger.recent_starts[key] = e.session_id
        while len(charger.recent_starts) > RECENT_SESSION_KEYS:
            charger.recent_starts.popitem(last=False)
        # only ids we allocated (1.6: session id == transaction id) move our counter; a 2.0.1
        # charger's own id ("<charger>:<id>" sessions) is no claim on the 1.6 id space
        if e.transaction_id.isdigit() and e.session_id == e.transaction_id:
            self.next_transaction_id = max(self.next_transaction_id, int(e.transaction_id) + 1)
            up[("meta", "next_transaction_id")] = (
                "meta",
                ("next_transaction_id", str(self.next_transaction_id)),
            )
        up[("sessions", e.session_id)] = ("sessions", _row(session))
        up[("connectors", e.charger_id, e.connector_id)] = ("connectors", _row(conn))

    def _session_stopped(self, charger, e: ev.SessionStopped, up, ins) -> None:
        session = self.sessions.pop(e.session_id, None)
        self._closed[e.session_id] = None
        while len(self._closed) > RECENTLY_CLOSED:
            self._closed.popitem(last=False)
        table = "sessions"
        if session is None:
            # A stop for a session not open here: never seen, or closed before a restart.
            # Keep what we know without overwriting a row that already exists.
            table = "sessions_stub"
            session = SessionState(
                session_id=e.session_id,
                transaction_id=e.session_id,
                charger_id=e.charger_id,
                connector_id=0,
                received_at=e.ts,
            )
        else:
            conn = charger.connector(session.connector_id)
            if conn.session_id == e.session_id:
                conn.session_id = None
                up[("connectors", e.charger_id, conn.connector_id)] = ("connectors", _row(conn))
        session.meter_stop_wh, session.stopped_at = e.meter_stop_wh, e.stopped_at
        session.stop_reason, session.stop_id_tag = e.reason, e.id_tag
        if session.id_tag is None:  # 2.0.1: the idToken may first come after the start
            session.id_tag = e.id_tag
        session.energy_wh, session.updated_at = e.energy_wh, e.ts
        if e.meter_stop_wh is not None:
            session.meter_last_wh = e.meter_stop_wh
        up[(table, e.session_id)] = (table, _row(session))

    def _firmware(self, charger, e: ev.FirmwareStatusReported, up, ins) -> None:
        charger.firmware_status = e.status

    def _diagnostics(self, charger, e: ev.DiagnosticsStatusReported, up, ins) -> None:
        charger.diagnostics_status = e.status


def _power_flowed(session: SessionState, ts: float) -> None:
    if session.first_power_at is None or ts < session.first_power_at:
        session.first_power_at = ts
    if session.last_power_at is None or ts > session.last_power_at:
        session.last_power_at = ts


_APPLY = {
    ev.Connected: LiveState._connected,
    ev.Disconnected: LiveState._disconnected,
    ev.Booted: LiveState._booted,
    ev.StatusReported: LiveState._status,
    ev.MeterValuesReported: LiveState._meter,
    ev.SessionStarted: LiveState._session_started,
    ev.SessionStopped: LiveState._session_stopped,
    ev.FirmwareStatusReported: LiveState._firmware,
    ev.DiagnosticsStatusReported: LiveState._diagnostics,
}
