"""`chargewatch report monthly`: one month's SLA, KPI and revenue report, for the network
or one site — an HTML page (self-contained, with charts) and the CSV files behind it,
including the EV-ChART uploads (modules 2, 3 and 4).

Each port is judged in its site's calendar (reports.periods); sessions belong to the month
in which they started, in their site's time zone, and carry their whole energy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from chargewatch.config import Config
from reports import evchart, incidents, kpis, sla, tariffs
from reports.dataset import load, open_store
from reports.html import render
from reports.periods import month_period, parse_month
from reports.uptime import nevi_uptime

Progress = Callable[[str], None]


@dataclass(slots=True)
class ReportResult:
    month: str
    site: str | None
    out_dir: Path
    files: list[Path]  # report.html first, then the CSVs
    summary: str  # a few plain-text lines: uptime, outages, sessions, revenue


@dataclass(slots=True)
class Report:
    """Every table of the report, as frames (the HTML and the CSVs are views of these)."""

    month: str
    site: str | None
    zone: str
    start: float
    end: float  # the month's end, or the report's `now` for a month not over yet
    target: float
    ports: pd.DataFrame
    chargers: pd.DataFrame
    sites: pd.DataFrame
    outages: pd.DataFrame
    incidents: pd.DataFrame
    incidents_by_severity: pd.DataFrame
    sessions: pd.DataFrame  # classified and priced
    kpis_network: pd.DataFrame
    kpis_sites: pd.DataFrame
    kpis_chargers: pd.DataFrame
    failures: pd.DataFrame
    revenue_sites: pd.DataFrame
    revenue_chargers: pd.DataFrame
    revenue_month: pd.DataFrame
    invoice_lines: pd.DataFrame
    invoice_totals: pd.DataFrame
    unpriced: int
    evchart: dict[int, pd.DataFrame] = field(default_factory=dict)

    @property
    def uptime(self) -> float | None:
        """The scope's NEVI uptime this month: every port's minutes pooled (None: none)."""
        s = self.sites
        if s.empty:
            return None
        return nevi_uptime(
            float(s["port_minutes"].sum()),
            float(s["outage_minutes"].sum()),
            float(s["excluded_minutes"].sum()),
        )

    @property
    def ports_above_target(self) -> tuple[int, int]:
        """(ports above the target over their year, ports in service a whole year)."""
        eligible = self.ports[self.ports["nevi_eligible"].eq(True)]
        return int(eligible["meets_target"].eq(True).sum()), len(eligible)


def build_report(
    config: Config,
    month: str,
    site: str | None = None,
    progress: Progress | None = None,
    now: float | None = None,
) -> Report:
    """Read the store and compute every table of one month's report."""
    say = progress or (lambda _text: None)
    parse_month(month)
    site_ids = [s.id for s in config.sites]
    if site is not None and site not in site_ids:
        known = ", ".join(site_ids) or "none are configured"
        raise ValueError(f"unknown site {site!r} (sites: {known})")
    now = time.time() if now is None else now
    zone = sla.zone_of(config, site)
    window = sla.load_window(config, month)
    started = time.perf_counter()
    say(f"reading the history of {month} and the 11 months before from {config.data_dir}")
    conn = open_store(config.data_dir)
    try:
        data = load(conn, window.start - 86400, window.end + 86400, config.site_of(), site)
    finally:
        conn.close()
    say(
        f"read {len(data.ports)} ports, {sum(map(len, data.statuses.values()))} status changes,"
        f" {len(data.sessions)} sessions in {time.perf_counter() - started:.1f} s"
    )
    r = config.reports
    ports = sla.compute(config, data, month, now)
    say(f"uptime and outages of {len(ports)} ports computed")
    period = month_period(month, zone)
    if now < period.start:
        raise ValueError(f"{month} has not begun yet")
    sessions = _in_month(data.sessions, "started_at", config, month)
    plug_ins = _in_month(data.plug_ins, "ts", config, month)
    classified = kpis.classify_sessions(sessions, r.session_success)
    priced = tariffs.price_sessions(sessions, r.tariffs, config.tz_of_site(), default_tz=r.timezone)
    lines, totals = tariffs.invoices(priced)
    frame = incidents.incidents(data.alert_rows, period.start, period.end, r.response_targets, now)
    say(f"{len(sessions)} sessions priced, {len(frame)} incidents")
    uptime = sla.uptime_frame(ports, r.uptime_target)
    outage_list = sla.outage_frame(ports)
    report = Report(
        month=month,
        site=site,
        zone=zone,
        start=period.start,
        end=min(period.end, now),
        target=r.uptime_target,
        ports=uptime,
        chargers=sla.pooled_frame(ports, "charger_id"),
        sites=sla.pooled_frame(ports, "site"),
        outages=outage_list,
        incidents=frame,
        incidents_by_severity=incidents.by_severity(frame),
        sessions=classified.merge(
            priced.drop(
                columns=[c for c in priced.columns if c in classified.columns and c != "session_id"]
            ),
            on="session_id",
            how="left",
        ),
        kpis_network=kpis.session_kpis(sessions, plug_ins, r.session_success, "network"),
        kpis_sites=kpis.session_kpis(sessions, plug_ins, r.session_success, "site"),
        kpis_chargers=kpis.session_kpis(sessions, plug_ins, r.session_success, "charger"),
        failures=kpis.failure_breakdown(classified),
        revenue_sites=tariffs.revenue_summary(priced, "site"),
        revenue_chargers=tariffs.revenue_summary(priced, "charger"),
        revenue_month=tariffs.revenue_summary(priced, "month"),
        invoice_lines=lines,
        invoice_totals=totals,
        unpriced=tariffs.unpriced_count(priced),
    )
    report.evchart = {
        2: evchart.module2_frame(sessions, r.evchart, r.session_success),
        3: evchart.module3_frame(uptime),
        4: evchart.module4_frame(outage_list),
    }
    return report


def _in_month(frame: pd.DataFrame, column: str, config: Config, month: str) -> pd.DataFrame:
    """Rows whose time falls in the month of their own site's calendar."""
    if frame.empty:
        return frame.reset_index(drop=True)
    bounds = {}
    for site in frame["site"].unique():
        p = month_period(month, sla.zone_of(config, site))
        bounds[site] = (p.start, p.end)
    lo = frame["site"].map(lambda s: bounds[s][0])
    hi = frame["site"].map(lambda s: bounds[s][1])
    return frame[(frame[column] >= lo) & (frame[column] < hi)].reset_index(drop=True)


CSV_FILES = {
    "uptime_ports.csv": "ports",
    "uptime_chargers.csv": "chargers",
    "uptime_sites.csv": "sites",
    "outages.csv": "outages",
    "incidents.csv": "incidents",
    "incidents_by_severity.csv": "incidents_by_severity",
    "sessions.csv": "sessions",
    "kpis_network.csv": "kpis_network",
    "kpis_sites.csv": "kpis_sites",
    "kpis_chargers.csv": "kpis_chargers",
    "session_failures.csv": "failures",
    "revenue_sites.csv": "revenue_sites",
    "revenue_chargers.csv": "revenue_chargers",
    "revenue_month.csv": "revenue_month",
    "invoice_lines.csv": "invoice_lines",
    "invoice_totals.csv": "invoice_totals",
}
TIME_COLUMNS = ("period_start", "period_end", "year_start", "in_service_since", "start", "end",
                "fired_at", "acknowledged_at", "resolved_at", "started_at", "stopped_at",
                "first_power_at", "last_power_at")  # fmt: skip


def write_monthly_report(
    config: Config,
    month: str,
    out_dir: Path,
    site: str | None = None,
    progress: Progress | None = None,
    now: float | None = None,
) -> ReportResult:
    """Build the report and write report.html, the CSVs and the EV-ChART files."""
    say = progress or (lambda _text: None)
    report = build_report(config, month, site, say, now)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / "report.html"
    html.write_text(render(report), encoding="utf-8")
    files = [html]
    for name, attr in CSV_FILES.items():
        path = out_dir / name
        _with_iso_times(getattr(report, attr)).to_csv(path, index=False)
        files.append(path)
    for module, frame in report.evchart.items():
        path = out_dir / f"evchart_module{module}.csv"
        evchart.write_csv(frame, path, module)
        files.append(path)
    invoices = write_invoices(report.invoice_lines, out_dir / "invoices")
    say(f"wrote {len(files)} files and {invoices} invoices (invoices/) to {out_dir}")
    return ReportResult(month, site, out_dir, files, summary(report))


def write_invoices(lines: pd.DataFrame, directory: Path) -> int:
    """One CSV per idTag (its lines of the month), named after the tag. Not among the
    files a scheduled report attaches: a network has thousands of tags."""
    count = 0
    used: set[str] = set()
    for tag, rows in lines.groupby("id_tag", sort=True):
        name = _UNSAFE.sub("_", str(tag)) or "_"
        while name.lower() in used:  # tags differing only in case or in unsafe characters
            name += "_"
        used.add(name.lower())
        directory.mkdir(parents=True, exist_ok=True)
        rows.to_csv(directory / f"{name}.csv", index=False)
        count += 1
    return count


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _with_iso_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Epoch columns as ISO 8601 UTC for people and spreadsheets."""
    out = frame.copy()
    for col in TIME_COLUMNS:
        if col in out.columns:
            out[col] = pd.to_datetime(out[col], unit="s", utc=True).dt.strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
    return out


def summary(report: Report) -> str:
    """The few lines an e-mail or SMS carries."""
    scope = f"site {report.site}" if report.site else "network"
    uptime = report.uptime if report.uptime is not None else float("nan")
    meeting, eligible = report.ports_above_target
    k = report.kpis_network.iloc[0] if not report.kpis_network.empty else None
    breaches = report.incidents["ack_breached"].eq(True).sum()
    breaches += report.incidents["resolve_breached"].eq(True).sum()
    lines = [
        f"ChargeWatch monthly report {report.month} ({scope})",
        f"Uptime {uptime:.2f} % over {len(report.ports)} ports; {len(report.outages)} outages; "
        + (
            f"{meeting} of {eligible} ports in service a year above {report.target:g} %"
            if eligible
            else "no port in service a full year yet (NEVI's 97 % rule)"
        ),
        f"Incidents {len(report.incidents)}; response-time breaches {int(breaches)}",
    ]
    if k is not None:
        lines.append(
            f"Sessions {int(k['sessions'])}, {k['energy_kwh']:.1f} kWh, session success "
            f"{_share(k.get('session_success'))}"
        )
    for row in report.revenue_sites.itertuples(index=False):
        if isinstance(row.currency, str):
            lines.append(
                f"Revenue {getattr(row, 'site', '') or 'no site'}: {row.total} {row.currency}"
            )
    return "\n".join(lines)


def _share(value: object) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value) * 100:.1f} %"
