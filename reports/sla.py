"""The SLA part of the report: per-port NEVI uptime for the month and the trailing year,
pooled per charger and site, and the list of outages with what of each is excluded."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from chargewatch.config import Config
from chargewatch.timeintervals import spans_any
from reports import intervals as iv
from reports.availability import offline_spans, outages, port_down, status_spans
from reports.dataset import Dataset
from reports.periods import Period, local_midnight, month_period, trailing_year
from reports.uptime import PortPeriod, Tagged, judge, pooled

YEAR_S = 365 * 86400.0
MAINTENANCE = "scheduled_maintenance"
CLOSED = "outside_operating_hours"


@dataclass(slots=True)
class PortSla:
    charger_id: str
    connector_id: int
    site: str | None
    zone: str
    in_service: float
    year_from: float  # where the trailing year begins (before clipping to in_service)
    month: PortPeriod
    year: PortPeriod

    @property
    def port_id(self) -> str:
        return port_id(self.charger_id, self.connector_id)

    @property
    def nevi_eligible(self) -> bool:
        """In service for the whole trailing year: only then it counts for the 97 % rule."""
        return self.in_service <= self.year_from


def port_id(charger_id: str, connector_id: int) -> str:
    return f"{charger_id}-{connector_id}"


def zone_of(config: Config, site: str | None) -> str:
    for s in config.sites:
        if s.id == site:
            return s.timezone
    return config.reports.timezone


def load_window(config: Config, month: str) -> Period:
    """One window covering the trailing year in every site's time zone."""
    zones = {s.timezone for s in config.sites} | {config.reports.timezone}
    years = [trailing_year(month, z) for z in zones]
    return Period(min(p.start for p in years), max(p.end for p in years), month)


def compute(config: Config, data: Dataset, month: str, now: float) -> list[PortSla]:
    """Every port's month and trailing year; a month not over yet is judged up to `now`."""
    sites = {s.id: s for s in config.sites}
    maintenance = [ni for ni in config.notifications.time_intervals if ni.maintenance is not None]
    out: list[PortSla] = []
    for charger_id, connector in data.ports:
        site = data.site_of.get(charger_id)
        zone = zone_of(config, site)
        m, y = month_period(month, zone), trailing_year(month, zone)
        m = Period(m.start, min(m.end, now), m.label)
        y = Period(y.start, min(y.end, now), y.label)
        site_cfg = sites.get(site) if site else None
        first = data.first_seen.get(charger_id, y.start)
        in_service = (
            local_midnight(site_cfg.commissioned, zone)
            if site_cfg is not None and site_cfg.commissioned is not None
            else first
        )
        # minutes count from when ChargeWatch (or an imported log) first saw the charger:
        # before that its state is unknown, whatever the commissioning date says
        observed = max(first, in_service)
        if observed >= m.end:
            continue  # not in service yet in this month (seen only after it)
        offline = offline_spans(data.connections.get(charger_id, []), y.start, y.end)
        wide = status_spans(data.statuses.get((charger_id, 0), []), "charger", y.start, y.end)
        own = status_spans(data.statuses.get((charger_id, connector), []), "port", y.start, y.end)
        down = outages(port_down(offline, wide, own))
        excl = _exclusions(config, data, charger_id, connector, site, site_cfg, maintenance, y)
        ms, ys = max(m.start, observed), max(y.start, observed)
        out.append(
            PortSla(
                charger_id,
                connector,
                site,
                zone,
                in_service,
                y.start,
                judge(charger_id, connector, site, ms, max(ms, m.end), down, excl),
                judge(charger_id, connector, site, ys, max(ys, y.end), down, excl),
            )
        )
    return out


def _exclusions(
    config, data, charger_id, connector, site, site_cfg, maintenance, y
) -> list[Tagged]:
    tagged: list[Tagged] = []
    for x in data.exclusions:
        if x["charger_id"] == charger_id and x["connector_id"] in (0, connector):
            tagged.append((x["starts_at"], x["ends_at"], x["category"]))
    for named in maintenance:
        if named.maintenance.covers(charger_id, site):
            tagged.extend(
                (a, b, MAINTENANCE) for a, b in spans_any(named.time_intervals, y.start, y.end)
            )
    if site_cfg is not None and site_cfg.operating_hours:
        open_ = spans_any(site_cfg.operating_hours, y.start, y.end)
        tagged.extend((a, b, CLOSED) for a, b in iv.complement(open_, y.start, y.end))
    return tagged


# ---- frames ------------------------------------------------------------------------------
def uptime_frame(ports: list[PortSla], target: float) -> pd.DataFrame:
    rows = []
    for p in ports:
        rows.append(
            {
                "port_id": p.port_id,
                "charger_id": p.charger_id,
                "connector_id": p.connector_id,
                "site": p.site,
                "period_start": p.month.start,
                "period_end": p.month.end,
                "minutes": round(p.month.minutes, 2),
                "outage_minutes": round(p.month.outage_minutes, 2),
                "excluded_minutes": round(p.month.excluded_minutes, 2),
                "uptime_pct": _pct(p.month.uptime),
                "year_start": p.year.start,
                "year_uptime_pct": _pct(p.year.uptime),
                "year_outage_minutes": round(p.year.outage_minutes, 2),
                "year_excluded_minutes": round(p.year.excluded_minutes, 2),
                "in_service_since": p.in_service,
                "nevi_eligible": p.nevi_eligible,
                "meets_target": (p.year.uptime or 0) > target if p.nevi_eligible else None,
            }
        )
    return pd.DataFrame(rows, columns=_UPTIME_COLUMNS)


_UPTIME_COLUMNS = [
    "port_id", "charger_id", "connector_id", "site", "period_start", "period_end", "minutes",
    "outage_minutes", "excluded_minutes", "uptime_pct", "year_start", "year_uptime_pct",
    "year_outage_minutes", "year_excluded_minutes", "in_service_since", "nevi_eligible",
    "meets_target",
]  # fmt: skip


def pooled_frame(ports: list[PortSla], by: str) -> pd.DataFrame:
    """Uptime of each charger or site ('charger_id' / 'site'): its ports' minutes pooled."""
    groups: dict[str, list[PortSla]] = {}
    for p in ports:
        groups.setdefault(getattr(p, by) or "(no site)", []).append(p)
    rows = []
    for key, members in sorted(groups.items()):
        minutes, outage, excluded, uptime = pooled([p.month for p in members])
        y_up = pooled([p.year for p in members])[3]
        eligible = [p for p in members if p.nevi_eligible]
        rows.append(
            {
                by: key,
                "ports": len(members),
                "port_minutes": round(minutes, 2),
                "outage_minutes": round(outage, 2),
                "excluded_minutes": round(excluded, 2),
                "uptime_pct": _pct(uptime),
                "year_uptime_pct": _pct(y_up),
                "nevi_eligible_ports": len(eligible),
            }
        )
    return pd.DataFrame(rows)


def outage_frame(ports: list[PortSla]) -> pd.DataFrame:
    rows = []
    for p in ports:
        excluded = p.month.excluded
        for o, categories in zip(p.month.outages, p.month.categories, strict=True):
            part = iv.total(iv.intersect([(o.start, o.end)], excluded)) / 60
            rows.append(
                {
                    "port_id": p.port_id,
                    "charger_id": p.charger_id,
                    "connector_id": p.connector_id,
                    "site": p.site,
                    "start": o.start,
                    "end": o.end,
                    "duration_minutes": round((o.end - o.start) / 60, 2),
                    "cause": o.cause.label,
                    "cause_kind": o.cause.kind,
                    "error_code": o.cause.vendor_error_code or o.cause.error_code,
                    "fault_category": o.cause.fault_category,
                    "excluded_minutes": round(part, 2),
                    "excluded": "fully"
                    if part * 60 >= o.end - o.start - 1e-6
                    else ("partly" if part > 0 else "no"),
                    "exclusion_categories": ",".join(sorted(categories)),
                }
            )
    columns = [
        "port_id", "charger_id", "connector_id", "site", "start", "end", "duration_minutes",
        "cause", "cause_kind", "error_code", "fault_category", "excluded_minutes", "excluded",
        "exclusion_categories",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).sort_values(["start", "port_id"], ignore_index=True)


def _pct(value: float | None) -> float:
    return float("nan") if value is None else round(value, 3)
