"""Prometheus metrics of the core: the journal's own figures and the live state as gauges.

State metrics are rendered at scrape time from the live state (a custom collector), so
ingesting an event costs no metric updates and a restart restores them from the store.
Every metric is documented in docs/metrics.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chargewatch.state import ChargerState, LiveState

# `*_created` series double the exposition for no dashboard use.
disable_created_metrics()

# OCPP 1.6 ChargePointStatus plus OCPP 2.0.1's Occupied: one series per status.
STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEVSE",
    "SuspendedEV",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
    "Occupied",
)

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


class JournalMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "chargewatch_journal_events", "Events committed to the journal.", registry=registry
        )
        self.commits = Counter(
            "chargewatch_journal_commits", "Group commits of the journal.", registry=registry
        )
        self.commit_errors = Counter(
            "chargewatch_journal_commit_errors", "Group commits that failed.", registry=registry
        )
        self.commit_seconds = Histogram(
            "chargewatch_journal_commit_seconds",
            "Time to write and sync one group commit.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=registry,
        )
        self.batch_events = Histogram(
            "chargewatch_journal_batch_events",
            "Events per group commit.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
            registry=registry,
        )

    def observe(self, events: int, seconds: float) -> None:
        self.events.inc(events)
        self.commits.inc()
        self.commit_seconds.observe(seconds)
        self.batch_events.observe(events)


def _phase(phase: str | None) -> str:
    return phase or "none"


class SiteInfoCollector(Collector):
    """`chargewatch_site_info{site, name, timezone, latitude, longitude} 1` per configured
    site, as Prometheus' `*_info` convention has it: dashboards join it to place sites on a
    map and to name them."""

    def __init__(self, sites: list[dict[str, str]]) -> None:
        self._sites = sites

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "chargewatch_site_info",
            "Configured sites: name, time zone and coordinates as labels (value 1).",
            labels=["site", "name", "timezone", "latitude", "longitude"],
        )
        for site in self._sites:
            family.add_metric(
                [site["site"], site["name"], site["timezone"], site["latitude"], site["longitude"]],
                1.0,
            )
        yield family


class StateCollector(Collector):
    """Renders chargers and connectors of the live state as Prometheus series.

    Ghosts are left out, so dashboards do not show chargers that no longer exist: a charger
    that is not connected is exported only while it was seen within `forget_after_s` and,
    when the config lists chargers in its sites, only if it is still listed there.
    """

    def __init__(
        self,
        state: LiveState,
        forget_after_s: float = float("inf"),
        configured: frozenset[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._forget_after = forget_after_s
        self._configured = configured
        self._clock = clock

    def exported(self, charger: ChargerState, now: float) -> bool:
        if charger.commissioning:
            return False  # not one of ours yet: it would count as online on the dashboards
        if charger.connected:
            return True
        if self._configured is not None and charger.charger_id not in self._configured:
            return False
        return charger.last_seen is not None and now - charger.last_seen <= self._forget_after

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        c_labels = ["charger", "site"]
        k_labels = ["charger", "connector", "site"]
        connected = GaugeMetricFamily(
            "chargewatch_charger_connected",
            "1 while the charger holds an OCPP connection.",
            labels=c_labels,
        )
        last_seen = GaugeMetricFamily(
            "chargewatch_charger_last_seen_timestamp_seconds",
            "When the charger last sent a message (Unix time).",
            labels=c_labels,
        )
        heartbeat = GaugeMetricFamily(
            "chargewatch_charger_heartbeat_interval_seconds",
            "Heartbeat interval the charger was given at boot.",
            labels=c_labels,
        )
        boots = CounterMetricFamily(
            "chargewatch_charger_boots",
            "BootNotifications received from the charger.",
            labels=c_labels,
        )
        messages = CounterMetricFamily(
            "chargewatch_charger_messages", "OCPP calls received from the charger.", labels=c_labels
        )
        sessions = CounterMetricFamily(
            "chargewatch_charger_sessions",
            "Charging sessions started on the charger.",
            labels=c_labels,
        )
        info = GaugeMetricFamily(
            "chargewatch_charger_info",
            "Charger identity from its BootNotification (always 1).",
            labels=[*c_labels, "vendor", "model", "firmware"],
        )
        status = GaugeMetricFamily(
            "chargewatch_connector_status",
            "1 for the connector's current status, 0 for the others.",
            labels=[*k_labels, "status"],
        )
        since = GaugeMetricFamily(
            "chargewatch_connector_status_since_timestamp_seconds",
            "When the connector entered its current status (Unix time).",
            labels=k_labels,
        )
        fault = GaugeMetricFamily(
            "chargewatch_connector_error",
            "1 while the connector reports an error code other than NoError.",
            labels=[*k_labels, "error_code", "vendor_id", "vendor_error_code", "category"],
        )
        active = GaugeMetricFamily(
            "chargewatch_connector_session_active",
            "1 while a session is open on the connector.",
            labels=k_labels,
        )
        power = GaugeMetricFamily(
            "chargewatch_connector_power_watts",
            "Active power import, last reported.",
            labels=k_labels,
        )
        energy = GaugeMetricFamily(
            "chargewatch_connector_energy_active_import_register_watt_hours",
            "Energy.Active.Import.Register, last reported.",
            labels=k_labels,
        )
        current = GaugeMetricFamily(
            "chargewatch_connector_current_amperes",
            "Current.Import per phase, last reported.",
            labels=[*k_labels, "phase"],
        )
        voltage = GaugeMetricFamily(
            "chargewatch_connector_voltage_volts",
            "Voltage per phase, last reported.",
            labels=[*k_labels, "phase"],
        )
        soc = GaugeMetricFamily(
            "chargewatch_connector_soc_ratio",
            "Vehicle state of charge (0-1), last reported.",
            labels=k_labels,
        )
        temperature = GaugeMetricFamily(
            "chargewatch_connector_temperature_celsius",
            "Temperature per location, last reported.",
            labels=[*k_labels, "location"],
        )

        now = self._clock()
        for cid, ch in list(self._state.chargers.items()):
            if not self.exported(ch, now):
                continue
            site = ch.site or ""
            cl = [cid, site]
            connected.add_metric(cl, 1.0 if ch.connected else 0.0)
            if ch.last_seen is not None:
                last_seen.add_metric(cl, ch.last_seen)
            if ch.heartbeat_interval:
                heartbeat.add_metric(cl, ch.heartbeat_interval)
            boots.add_metric(cl, ch.boot_count)
            messages.add_metric(cl, ch.messages)
            sessions.add_metric(cl, ch.sessions_started)
            if ch.vendor is not None:
                info.add_metric([*cl, ch.vendor, ch.model or "", ch.firmware_version or ""], 1.0)
            for kid, conn in list(ch.connectors.items()):
                kl = [cid, str(kid), site]
                if conn.status is not None:
                    for s in STATUSES:
                        status.add_metric([*kl, s], 1.0 if s == conn.status else 0.0)
                    if conn.since is not None:
                        since.add_metric(kl, conn.since)
                if conn.error_code and conn.error_code != "NoError":
                    fault.add_metric(
                        [
                            *kl,
                            conn.error_code,
                            conn.vendor_id or "",
                            conn.vendor_error_code or "",
                            conn.fault_category or "",
                        ],
                        1,
                    )
                if kid:
                    active.add_metric(kl, 1.0 if conn.session_id else 0.0)
                power_total = energy_total = None
                power_phases = energy_phases = 0.0
                for (measurand, phase, location), (value, _unit, _ts) in list(
                    conn.readings.items()
                ):
                    if measurand == POWER:
                        if phase is None:
                            power_total = value
                        else:
                            power_phases += value
                    elif measurand == ENERGY:
                        if phase is None:
                            energy_total = value
                        else:
                            energy_phases += value
                    elif measurand == "Current.Import":
                        current.add_metric([*kl, _phase(phase)], value)
                    elif measurand == "Voltage":
                        voltage.add_metric([*kl, _phase(phase)], value)
                    elif measurand == "SoC":
                        soc.add_metric(kl, value / 100.0)
                    elif measurand == "Temperature":
                        temperature.add_metric([*kl, location or "none"], value)
                if power_total is not None or power_phases:
                    power.add_metric(kl, power_total if power_total is not None else power_phases)
                if energy_total is not None or energy_phases:
                    energy.add_metric(
                        kl, energy_total if energy_total is not None else energy_phases
                    )
        open_sessions = GaugeMetricFamily(
            "chargewatch_sessions_open", "Charging sessions currently open."
        )
        open_sessions.add_metric([], len(self._state.sessions))
        yield from (
            connected,
            last_seen,
            heartbeat,
            boots,
            messages,
            sessions,
            info,
            status,
            since,
            fault,
            active,
            power,
            energy,
            current,
            voltage,
            soc,
            temperature,
            open_sessions,
        )
