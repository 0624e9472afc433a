"""The report as one self-contained HTML page: inline CSS, charts as inline SVG
(matplotlib), tables from the frames. No scripts, no external resources — it opens the
same from an e-mail attachment, a file share or a browser offline."""

from __future__ import annotations

import html
import io
import time
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt

from reports import html_tables as tables
from reports.html_tables import table
from reports.periods import iso_local

if TYPE_CHECKING:
    from reports.monthly import Report

MAX_BARS = 60  # ports in the uptime chart (the lowest first)
MAX_TIMELINE = 40  # ports in the outage timeline

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#1d2330;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:2px solid #e3e7ee}
.meta{color:#5b6475}.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{border:1px solid #dde2ea;border-radius:8px;padding:.7em 1em;min-width:150px}
.card b{display:block;font-size:1.5em}.bad{color:#b3261e}.good{color:#1e7b34}
table{border-collapse:collapse;width:100%;font-size:.86em;margin:.6em 0}
th,td{border-bottom:1px solid #e3e7ee;padding:.3em .5em;text-align:left}
th{background:#f4f6f9}td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#5b6475;font-size:.85em}svg{max-width:100%;height:auto}
"""


def render(report: Report) -> str:
    scope = f"site {report.site}" if report.site else "whole network"
    z = report.zone
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>ChargeWatch report {report.month} — {html.escape(scope)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Monthly SLA report {report.month}</h1>",
        f"<p class=meta>{html.escape(scope)} · {iso_local(report.start, report.zone)} to "
        f"{iso_local(report.end, report.zone)} ({report.zone}) · generated "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}</p>",
        _cards(report),
        "<h2>Uptime</h2>",
        "<p class=note>NEVI formula: μ = (T − (T<sub>outage</sub> − T<sub>excluded</sub>)) / T"
        " × 100 in minutes. A port is up when its charger is connected and neither the port "
        "nor the charger reports Faulted or Unavailable. Ports in service for less than a year "
        "are listed but left out of the 97 % statistic.</p>",
        _uptime_chart(report),
        table(report.sites, "Sites", z, tables.SITES),
        table(
            report.ports.sort_values("uptime_pct"), "Ports, lowest uptime first", z, tables.PORTS
        ),
        "<h2>Outages</h2>",
        _timeline_chart(report),
        table(report.outages, "Outages", z, tables.OUTAGES),
        "<h2>Incidents and response</h2>",
        table(report.incidents_by_severity, "By severity", z),
        table(
            report.incidents[
                report.incidents["ack_breached"].eq(True)
                | report.incidents["resolve_breached"].eq(True)
            ],
            "Response-time breaches",
            z,
            tables.BREACHES,
        ),
        "<h2>Sessions</h2>",
        table(report.kpis_network, "Network", z, tables.KPIS),
        table(report.kpis_sites, "Per site", z, tables.KPIS),
        table(report.failures, "Failed sessions by reason", z),
        "<h2>Revenue</h2>",
        f"<p class=note>{report.unpriced} sessions had no tariff and are not priced.</p>"
        if report.unpriced
        else "",
        table(report.revenue_sites, "Per site", z),
        table(report.revenue_chargers, "Per charger", z),
        "<p class=note>Every table in full, the invoices per idTag and the EV-ChART files "
        "(modules 2, 3, 4) are the CSV files beside this page.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _cards(report: Report) -> str:
    uptime = report.uptime
    meeting, eligible = report.ports_above_target
    k = report.kpis_network.iloc[0] if not report.kpis_network.empty else None
    cards = [
        ("Uptime this month", "n/a" if uptime is None else f"{uptime:.2f} %",
         uptime is not None and uptime > report.target),
        ("Ports above target (a year)", f"{meeting} / {eligible}" if eligible else
         "none a year in service yet", meeting == eligible if eligible else None),
        ("Outages", str(len(report.outages)), None),
        ("Incidents", str(len(report.incidents)), None),
        ("Sessions", str(int(k["sessions"])) if k is not None else "0", None),
        ("Energy", f"{float(k['energy_kwh']):.1f} kWh" if k is not None else "0 kWh", None),
    ]  # fmt: skip
    for row in report.revenue_sites.itertuples(index=False):
        if isinstance(row.currency, str):
            cards.append(
                (f"Revenue {getattr(row, 'site', None) or ''}", f"{row.total} {row.currency}", None)
            )
    out = ["<div class=cards>"]
    for title, value, good in cards:
        cls = "" if good is None else (" class=good" if good else " class=bad")
        out.append(f"<div class=card>{html.escape(title)}<b{cls}>{html.escape(value)}</b></div>")
    return "".join(out) + "</div>"


def _svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog: inline in HTML


def _uptime_chart(report: Report) -> str:
    ports = report.ports.dropna(subset=["uptime_pct"]).sort_values("uptime_pct").head(MAX_BARS)
    if ports.empty:
        return "<p class=note>No port was in service this month.</p>"
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.22 * len(ports) + 1)))
    colors = ["#b3261e" if u <= report.target else "#2f6fdb" for u in ports["uptime_pct"]]
    ax.barh(ports["port_id"], ports["uptime_pct"], color=colors)
    ax.axvline(report.target, color="#1d2330", linestyle="--", linewidth=1)
    ax.text(report.target, -0.9, f" target {report.target:g} %", fontsize=8)
    low = max(0.0, min(float(ports["uptime_pct"].min()) - 2, report.target - 5))
    ax.set_xlim(low, 100)
    ax.invert_yaxis()
    ax.set_xlabel("uptime this month (%)")
    ax.tick_params(axis="y", labelsize=7)
    title = "Uptime per port" + (
        f" (the {MAX_BARS} lowest)" if len(report.ports) > MAX_BARS else ""
    )
    ax.set_title(title)
    return _svg(fig)


def _timeline_chart(report: Report) -> str:
    outages = report.outages
    if outages.empty:
        return "<p class=note>No outages this month.</p>"
    worst = (
        outages.groupby("port_id")["duration_minutes"].sum().sort_values(ascending=False)
    ).head(MAX_TIMELINE)
    # from the month's start, or from when its first port went into service
    begin = max(report.start, float(report.ports["in_service_since"].min()))
    span = max(report.end - begin, 60.0)
    unit, size = next((u, s) for u, s in _UNITS if span >= 3 * s or s == 60)
    fig, ax = plt.subplots(figsize=(10, max(2.0, 0.25 * len(worst) + 1)))
    palette = {"offline": "#6b7280", "faulted": "#b3261e", "unavailable": "#e8a33d"}
    least = span / size / 400  # a one-minute outage still shows as a tick
    for i, port in enumerate(worst.index):
        rows = outages[outages["port_id"] == port]
        bars = [((r.start - begin) / size, max((r.end - r.start) / size, least))
                for r in rows.itertuples()]  # fmt: skip
        colors = [palette.get(k, "#2f6fdb") for k in rows["cause_kind"]]
        ax.broken_barh(bars, (i - 0.4, 0.8), facecolors=colors)
    ax.set_yticks(range(len(worst)), worst.index, fontsize=7)
    ax.set_xlim(0, span / size)
    ax.invert_yaxis()
    ax.set_xlabel(f"{unit} since {iso_local(begin, report.zone).replace('T', ' ')} ({report.zone})")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in palette.values()]
    ax.legend(handles, list(palette), fontsize=7, loc="lower right")
    ax.set_title("Outage timeline (ports with the most downtime)")
    return _svg(fig)


_UNITS = (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0))
