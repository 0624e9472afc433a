"""The composition root: the one place that wires collector, journal, API and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Iterator

import uvicorn
from prometheus_client import CollectorRegistry, ProcessCollector

from chargewatch import credentials, store
from chargewatch import events as ev
from chargewatch.access import Access
from chargewatch.alerts import Alert
from chargewatch.api import create_api
from chargewatch.authorization import Authorizer
from chargewatch.commands_api import commands_router
from chargewatch.config import Config
from chargewatch.credentials_api import credentials_router
from chargewatch.datadir import DataDirLock
from chargewatch.exclusions_api import exclusions_router
from chargewatch.http_security import tls_context, warn_if_readable
from chargewatch.idtags import TagRegistry
from chargewatch.journal import Journal
from chargewatch.metrics import JournalMetrics, SiteInfoCollector, StateCollector
from chargewatch.state import LiveState
from chargewatch.tags_api import tags_router
from chargewatch.tls import OCPP_TLS12_CIPHERS, server_context
from chargewatch.uploads import UploadStore, public_url
from chargewatch.uploads_api import upload_router, uploads_router
from collector.adapter import AdapterContext
from collector.auth import ChargerAuth
from collector.commander import Commander
from collector.local_list import SEND as SEND_LOCAL_LIST
from collector.local_list import LocalListSync, fill_from
from collector.metrics import OcppMetrics
from collector.server import OcppServer
from collector.sinks.shipper import InfluxShipper
from collector.v16 import V16Adapter
from collector.v201 import V201Adapter
from notifier.api import notifier_router
from notifier.channels import build_channels
from notifier.config import local_default
from notifier.runner import NotifierRunner
from reports.scheduler import ReportScheduler
from rules import loader
from rules.engine import Engine
from rules.healer import Healer
from rules.runner import RuleRunner
from rules.schema import RuleSpec

log = logging.getLogger(__name__)


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside our event loop: signals are ours to handle, not uvicorn's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _AllAlerts:
    """The rule engine's active alerts and the ones Alertmanager sent the notifier."""

    def __init__(self, rules: RuleRunner, notifier: NotifierRunner) -> None:
        self.rules, self.notifier = rules, notifier

    def active(self) -> list[Alert]:
        return self.rules.active() + self.notifier.external_alerts()


class App:
    """A running ChargeWatch: OCPP endpoint, journal and HTTP API on one event loop."""

    def __init__(self, config: Config, report_clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._report_clock = report_clock  # the report scheduler's "now" (tests move it)
        self.registry = CollectorRegistry()
        self._lock = DataDirLock(config.data_dir)
        self.journal: Journal | None = None
        self.ocpp: OcppServer | None = None
        self.influx: InfluxShipper | None = None
        self.rules: RuleRunner | None = None
        self.notifier: NotifierRunner | None = None
        self.reports: ReportScheduler | None = None
        self._http: _EmbeddedUvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self.access: Access | None = None
        self.uploads: UploadStore | None = None  # diagnostics files chargers upload
        self.tags: TagRegistry | None = None  # the idTag registry (who may charge)
        self.local_lists: LocalListSync | None = None
        self.healer: Healer | None = None  # rules' self-healing actions (off by default)

    @property
    def ocpp_port(self) -> int:
        assert self.ocpp is not None
        return self.ocpp.port

    @property
    def http_port(self) -> int:
        assert self._http is not None
        return self._http.servers[0].sockets[0].getsockname()[1]

    @property
    def state(self) -> LiveState:
        assert self.journal is not None
        return self.journal.state

    async def start(self) -> None:
        self._lock.acquire()
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        cfg = self.config
        ProcessCollector(registry=self.registry)
        self.journal = Journal(
            cfg.data_dir / "chargewatch.db",
            cfg.site_of(),
            cfg.storage.journal_sync,
            cfg.storage.message_log_retention_hours * 3600,
            JournalMetrics(self.registry),
        )
        await self.journal.start()
        await self._close_stale_connections()
        self.tags = TagRegistry(self.journal.path)  # who may charge
        specs, overrides = loader.for_config(
            cfg.rules.builtin,
            cfg.rules.files,
            cfg.rules.disabled,
            [o.model_dump() for o in cfg.rules.overrides],
            cfg.base_dir,
            cfg.source,
        )
        engine = Engine(
            specs,
            site_of=cfg.site_of(),
            known_chargers=frozenset(cfg.site_of()) or None,
            overrides=overrides,
        )
        self.rules = RuleRunner(engine, self.journal, cfg.rules, self.registry)
        await self.rules.start()
        notify_cfg = cfg.notifications
        if not notify_cfg.receivers:
            notify_cfg = local_default(cfg.data_dir, notify_cfg)
        self.notifier = NotifierRunner(
            notify_cfg,
            self.journal,
            build_channels(notify_cfg, cfg.base_dir),
            self.registry,
            cfg.tz_of_site(),
            site_of=cfg.site_of(),
        )
        self.notifier.drivers.owner_of = self._owner_of  # a driver's cards notify the driver
        await self.notifier.start()
        if cfg.reports.schedule.active:  # last month's report, shortly after the 1st
            self.reports = ReportScheduler(
                cfg.reports.schedule, cfg, self.journal, self._report_clock, registry=self.registry
            )
            await self.reports.start()
        if cfg.influxdb is not None:
            self.influx = InfluxShipper(
                cfg.influxdb,
                self.journal,
                cfg.site_of(),
                cfg.data_dir / "influxdb-quarantine.lp",
                self.registry,
            )
            await self.influx.start()
        configured = frozenset(cfg.site_of()) or None  # None: the config lists no chargers
        self.registry.register(
            StateCollector(self.journal.state, cfg.metrics.forget_after_hours * 3600, configured)
        )
        self.registry.register(
            SiteInfoCollector(
                [
                    {
                        "site": s.id,
                        "name": s.name or s.id,
                        "timezone": s.timezone,
                        "latitude": "" if s.latitude is None else f"{s.latitude:g}",
                        "longitude": "" if s.longitude is None else f"{s.longitude:g}",
                    }
                    for s in cfg.sites
                ]
            )
        )
        ctx = AdapterContext(
            self.journal.state,
            Authorizer(cfg.ocpp.authorization, self.tags),
            cfg.ocpp.heartbeat_interval,
        )
        ocpp_metrics = OcppMetrics(self.registry)
        # in order of preference: a charger offering both gets 2.0.1 (websockets picks the
        # first of the server's list that the client offers)
        v201 = V201Adapter(ctx, ocpp_metrics)
        adapters = {v201.subprotocol: v201, V16Adapter.subprotocol: V16Adapter(ctx)}
        self.journal.on_rollback.append(v201.forget)  # it caches EVSE models and seqNos
        charger_auth = self._charger_auth()
        self.ocpp = OcppServer(
            cfg.ocpp, adapters, self.journal, ocpp_metrics, charger_auth, _ocpp_tls(cfg)
        )
        await self.ocpp.start(cfg.ocpp.host, cfg.ocpp.port)
        commander = Commander(self.ocpp, self.journal)
        commander.prepare[SEND_LOCAL_LIST] = fill_from(self.tags)  # no entries: the registry's
        if cfg.ocpp.authorization.sync_local_lists:
            self.local_lists = LocalListSync(
                self.tags, self.ocpp, self.journal, commander, self.journal.path
            )
            await self.local_lists.start()
        await self._start_healer(specs, commander)
        warn_if_readable(cfg)
        tls = tls_context(cfg)
        self.access = Access([t.get_secret_value() for t in cfg.http.api_tokens], self.journal.path)
        self.uploads = UploadStore(
            cfg.data_dir,
            self.journal,
            cfg.http.max_upload_bytes,
            cfg.http.upload_ticket_hours * 3600,
        )
        api = create_api(
            self.journal.state,
            self.registry,
            self._journal_ok,
            _AllAlerts(self.rules, self.notifier),
            self.journal,
            [
                notifier_router(self.notifier, self.journal),
                exclusions_router(self.journal),
                commands_router(commander, self.uploads),
                tags_router(self.tags, self._driver_name, self._is_driver),
                uploads_router(self.uploads, self.journal.state),
                credentials_router(charger_auth, self.ocpp, self.journal.path),
            ],
            access=self.access,
            open_routers=[upload_router(self.uploads)],
        )
        self._http = _EmbeddedUvicorn(
            uvicorn.Config(
                api,
                host=cfg.http.host,
                port=cfg.http.port,
                log_level="warning",
                lifespan="off",
                access_log=False,
                # uvicorn calls it with (config, its default factory): ours sets TLS ≥ 1.2
                ssl_context_factory=None if tls is None else (lambda _c, _d: tls),
            )
        )
        self._http_task = asyncio.create_task(self._http.serve(), name="http")
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()  # re-raises why uvicorn could not start
                raise RuntimeError(f"HTTP server could not listen on port {cfg.http.port}")
            await asyncio.sleep(0.01)
        self.uploads.public_url = public_url(cfg.http, self.http_port, tls is not None)
        log.info(
            "OCPP endpoint ws://%s:%d%s/<chargePointId>, HTTP API %s://%s:%d",
            cfg.ocpp.host,
            self.ocpp_port,
            cfg.ocpp.path_prefix,
            "http" if tls is None else "https",
            cfg.http.host,
            self.http_port,
        )
        if self.access.open:
            log.warning(
                "the HTTP API is open to anyone who can reach port %d: set http.api_tokens "
                "or create a token (chargewatch tokens create)",
                self.http_port,
            )

    async def _start_healer(self, specs: list[RuleSpec], commander: Commander) -> None:
        """Rules' actions run only when the operator switched self-healing on."""
        with_action = {s.name: s for s in specs if s.action is not None}
        if not self.config.rules.self_healing.enabled:
            if with_action:
                log.info(
                    "%d rules name an action (%s); rules.self_healing.enabled is off: none is run",
                    len(with_action),
                    ", ".join(sorted(with_action)),
                )
            return
        assert self.journal is not None
        self.healer = Healer(with_action, self.journal, commander, self.config.rules.self_healing)
        await self.healer.start()

    def _charger_auth(self) -> ChargerAuth:
        """Who must authenticate how (security profiles), from the config and the store."""
        cfg = self.config
        with contextlib.closing(store.open_reader(self.journal.path)) as conn:
            creds = credentials.load(conn)
        profiles = {s.id: s.security_profile for s in cfg.sites if s.security_profile}
        if cfg.ocpp.security.unknown_chargers == "reject" and not creds and not cfg.site_of():
            log.warning(
                "no charger is known (no sites[].chargers, none registered with `chargewatch "
                "chargers add`) and ocpp.security.unknown_chargers is reject: every charger "
                "will be refused (HTTP 404); set it to pending or accept to admit them"
            )
        return ChargerAuth(cfg.ocpp.security, creds, cfg.site_of(), profiles)

    def _driver_name(self, id_tag: str) -> str | None:
        driver = self.notifier.drivers.registered_as(id_tag) if self.notifier else None
        return driver.name if driver else None

    def _is_driver(self, id_tag: str) -> bool:
        return self.notifier is not None and self.notifier.drivers.registered_as(id_tag) is not None

    def _owner_of(self, id_tag: str) -> str | None:
        tag = self.tags.get(id_tag) if self.tags else None
        return tag.owner if tag else None

    def _journal_ok(self) -> bool:
        return self.journal is not None and self.journal.running

    async def _close_stale_connections(self) -> None:
        """Chargers still marked connected lost their socket when the last process died."""
        assert self.journal is not None
        stale = [c for c in self.journal.state.chargers.values() if c.connected]
        if stale:
            await self.journal.commit(
                [
                    ev.Disconnected(
                        c.charger_id,
                        c.last_seen or time.time(),
                        None,
                        ev.REASON_COLLECTOR_RESTARTED,
                    )
                    for c in stale
                ]
            )
            log.info("marked %d chargers disconnected after restart", len(stale))

    async def stop(self) -> None:
        """Stop accepting, close connections, flush the journal, release the data dir."""
        if self.reports is not None:
            await self.reports.stop()  # a report being made is redone at the next start
            self.reports = None
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(Exception):
                await self._http_task
            self._http_task = None
        if self.local_lists is not None:
            await self.local_lists.stop()
            self.local_lists = None
        if self.healer is not None:
            await self.healer.stop()  # before the OCPP stop: no command goes out after it
            self.healer = None
        if self.ocpp is not None:
            await self.ocpp.stop()
            self.ocpp = None
        if self.rules is not None:
            await self.rules.stop()  # after the OCPP stop: the disconnects are evaluated
            self.rules = None
        if self.notifier is not None:
            await self.notifier.stop()  # after the rules: their last transitions are decided
            self.notifier = None
        if self.influx is not None:
            await self.influx.stop()  # after the OCPP stop, so the disconnects are shipped too
            self.influx = None
        if self.access is not None:
            self.access.close()
            self.access = None
        if self.tags is not None:
            self.tags.close()
            self.tags = None
        if self.journal is not None:
            await self.journal.close()
            self.journal = None
        self._lock.release()


def _ocpp_tls(cfg: Config) -> ssl.SSLContext | None:
    """wss:// for the OCPP endpoint (security profiles 2 and 3), when configured."""
    tls = cfg.ocpp.security.tls
    if tls is None:
        return None
    return server_context(
        cfg.base_dir,
        cfg.source,
        "ocpp.security.tls",
        tls.cert_file,
        tls.key_file,
        tls.ca_file,
        OCPP_TLS12_CIPHERS,
    )
