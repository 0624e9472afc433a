"""HTTP API (FastAPI, OpenAPI at /openapi.json, docs at /docs) and the /metrics endpoint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Response
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field

from chargewatch import __version__
from chargewatch.access import Access
from chargewatch.access_api import AccessMiddleware, access_router
from chargewatch.alerts_api import AlertSource, alerts_router
from chargewatch.faults import chargex_code
from chargewatch.journal import Journal
from chargewatch.state import ChargerState, ConnectorState, LiveState, SessionState
from chargewatch.timestamps import utc_datetime


class SessionOut(BaseModel):
    session_id: str
    transaction_id: str
    connector_id: int
    id_tag: str | None
    auth_status: str | None
    started_at: datetime | None
    meter_start_wh: float | None
    meter_last_wh: float | None
    energy_wh: float | None

    @classmethod
    def of(cls, s: SessionState) -> SessionOut:
        energy = None
        if s.meter_last_wh is not None and s.meter_start_wh is not None:
            energy = s.meter_last_wh - s.meter_start_wh
        return cls(
            session_id=s.session_id,
            transaction_id=s.transaction_id,
            connector_id=s.connector_id,
            id_tag=s.id_tag,
            auth_status=s.auth_status,
            started_at=utc_datetime(s.started_at),
            meter_start_wh=s.meter_start_wh,
            meter_last_wh=s.meter_last_wh,
            energy_wh=energy,
        )


class ConnectorOut(BaseModel):
    connector_id: int
    status: str | None
    error_code: str | None
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    chargex_code: str | None
    fault_category: str | None
    since: datetime | None
    updated: datetime | None
    charger_timestamp: datetime | None
    open_session: SessionOut | None

    @classmethod
    def of(cls, c: ConnectorState, state: LiveState) -> ConnectorOut:
        session = state.sessions.get(c.session_id) if c.session_id else None
        return cls(
            connector_id=c.connector_id,
            status=c.status,
            error_code=c.error_code,
            info=c.info,
            vendor_id=c.vendor_id,
            vendor_error_code=c.vendor_error_code,
            chargex_code=chargex_code(c.vendor_id, c.vendor_error_code),
            fault_category=c.fault_category,
            since=utc_datetime(c.since),
            updated=utc_datetime(c.updated),
            charger_timestamp=utc_datetime(c.charger_ts),
            open_session=SessionOut.of(session) if session else None,
        )


class ChargerOut(BaseModel):
    charger_id: str
    site: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    charge_box_serial_number: str | None
    firmware_version: str | None
    iccid: str | None
    imsi: str | None
    meter_type: str | None
    meter_serial_number: str | None
    protocol: str | None
    connected: bool
    commissioning: bool = Field(
        description="connected only to be commissioned: an unknown charger, its data refused"
    )
    connected_since: datetime | None
    last_seen: datetime | None
    last_boot: datetime | None
    boot_count: int
    heartbeat_interval: int | None
    firmware_status: str | None
    diagnostics_status: str | None
    connectors: list[ConnectorOut]

    @classmethod
    def of(cls, ch: ChargerState, state: LiveState) -> ChargerOut:
        return cls(
            charger_id=ch.charger_id,
            site=ch.site,
            vendor=ch.vendor,
            model=ch.model,
            serial_number=ch.serial_number,
            charge_box_serial_number=ch.charge_box_serial_number,
            firmware_version=ch.firmware_version,
            iccid=ch.iccid,
            imsi=ch.imsi,
            meter_type=ch.meter_type,
            meter_serial_number=ch.meter_serial_number,
            protocol=ch.protocol,
            connected=ch.connected,
            commissioning=ch.commissioning,
            connected_since=utc_datetime(ch.connected_since),
            last_seen=utc_datetime(ch.last_seen),
            last_boot=utc_datetime(ch.last_boot),
            boot_count=ch.boot_count,
            heartbeat_interval=ch.heartbeat_interval,
            firmware_status=ch.firmware_status,
            diagnostics_status=ch.diagnostics_status,
            connectors=[ConnectorOut.of(c, state) for _, c in sorted(ch.connectors.items())],
        )


class ChargerList(BaseModel):
    count: int
    chargers: list[ChargerOut]


class Health(BaseModel):
    status: str
    version: str
    chargers_known: int
    chargers_connected: int
    journal: str


class Problem(BaseModel):
    detail: str


def create_api(
    state: LiveState,
    registry: CollectorRegistry,
    journal_ok: Callable[[], bool],
    alerts: AlertSource | None = None,
    journal: Journal | None = None,
    routers: list[APIRouter] | None = None,
    tokens: list[str] | None = None,
    access: Access | None = None,
    open_routers: list[APIRouter] | None = None,
) -> FastAPI:
    """The HTTP API over the live state.

    State endpoints are `async def`: they run on the event loop that mutates the state, so
    they never see it half-changed. Access (tokens, roles, audit) is the middleware's:
    `access`, or else just the config `tokens` (admin) without store or audit.
    `open_routers` are outside /api/v1 and carry their own credential (diagnostics uploads).
    """
    api = FastAPI(
        title="ChargeWatch",
        version=__version__,
        description="Monitoring and alerting for OCPP charging networks.",
    )
    # the middleware authenticates, authorises and audits; the dependency documents it
    protected = APIRouter(
        dependencies=[Depends(BEARER)],
        responses={  # the middleware's answers, documented on every operation it guards
            400: {"model": Problem, "description": "a body that is not UTF-8 JSON (FastAPI)"},
            401: {"model": Problem, "description": "missing or wrong API token"},
            403: {"model": Problem, "description": "the token's role may not do this"},
        },
    )
    api.add_middleware(AccessMiddleware, access=access or Access(tokens or []))

    @api.get(
        "/healthz", response_model=Health, tags=["operations"], responses={503: {"model": Health}}
    )
    async def healthz(response: Response) -> Health:
        """Liveness: the process serves and the journal writer is running."""
        ok = journal_ok()
        if not ok:
            response.status_code = 503
        return Health(
            status="ok" if ok else "degraded",
            version=__version__,
            chargers_known=len(state.chargers),
            chargers_connected=sum(c.connected for c in state.chargers.values()),
            journal="ok" if ok else "stopped",
        )

    @api.get("/metrics", tags=["operations"], response_class=Response)
    def metrics() -> Response:
        """Prometheus exposition of every ChargeWatch metric (see docs/metrics.md)."""
        # A plain def: FastAPI runs it in a worker thread, so rendering a large fleet never
        # stalls the OCPP event loop; the state collector iterates over snapshots (list()).
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @protected.get("/api/v1/chargers", response_model=ChargerList, tags=["chargers"])
    async def list_chargers(
        site: str | None = Query(None, description="only chargers of this site"),
        connected: bool | None = Query(None, description="only (dis)connected chargers"),
    ) -> ChargerList:
        """Every charger the collector knows, with its connectors and open sessions."""
        out = [
            ChargerOut.of(ch, state)
            for _, ch in sorted(state.chargers.items())
            if (site is None or ch.site == site)
            and (connected is None or ch.connected == connected)
        ]
        return ChargerList(count=len(out), chargers=out)

    @protected.get(
        "/api/v1/chargers/{charger_id}",
        response_model=ChargerOut,
        tags=["chargers"],
        responses={404: {"model": Problem}},
    )
    async def get_charger(charger_id: str) -> ChargerOut:
        """One charger: identity, connection, each connector's status and open session."""
        ch = state.chargers.get(charger_id)
        if ch is None:
            raise HTTPException(404, f"no charger {charger_id!r} has connected")
        return ChargerOut.of(ch, state)

    if alerts is not None and journal is not None:
        protected.include_router(alerts_router(alerts, journal))
    for router in routers or ():
        protected.include_router(router)  # the components' own endpoints (the notifier's)
    if access is not None:
        protected.include_router(access_router(access))  # /api/v1/tokens, /api/v1/audit
    api.include_router(protected)
    for router in open_routers or ():
        api.include_router(router)  # /uploads/{ticket}: the ticket is the credential
    return api


# OpenAPI's description of the bearer scheme; AccessMiddleware does the checking
BEARER = HTTPBearer(auto_error=False, description="an API token (chargewatch tokens create)")
