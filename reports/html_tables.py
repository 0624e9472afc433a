"""The report page's tables: which columns a reader sees, under which names, formatted.

The CSV files keep every column under its machine name; the page shows the few that answer
a manager's question, with times in the site's zone and shares as percentages.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

from reports.periods import iso_local

MAX_ROWS = 200  # rows of a long table in the page (the CSV has all)

NAMES = {
    "port_id": "Port", "charger_id": "Charger", "connector_id": "Port no.", "site": "Site",
    "ports": "Ports", "port_minutes": "Port-minutes", "minutes": "Minutes in service",
    "outage_minutes": "Outage min", "excluded_minutes": "Excluded min",
    "uptime_pct": "Uptime %", "year_uptime_pct": "12-month uptime %",
    "in_service_since": "In service since", "nevi_eligible": "In service a year",
    "meets_target": "Above target", "nevi_eligible_ports": "Ports in service a year",
    "start": "Start", "end": "End", "duration_minutes": "Minutes", "cause": "Cause",
    "excluded": "Excluded", "exclusion_categories": "Exclusion",
    "severity": "Severity", "incidents": "Incidents", "acknowledged": "Acknowledged",
    "resolved": "Resolved", "median_minutes_to_ack": "Median min to ack",
    "p90_minutes_to_ack": "p90 min to ack", "median_minutes_to_resolve": "Median min to resolve",
    "p90_minutes_to_resolve": "p90 min to resolve", "ack_breaches": "Ack breaches",
    "resolve_breaches": "Resolve breaches", "rule": "Alert", "fired_at": "Fired",
    "minutes_to_ack": "Min to ack", "ack_target_minutes": "Ack target",
    "minutes_to_resolve": "Min to resolve", "resolve_target_minutes": "Resolve target",
    "sessions": "Sessions", "successful": "Successful", "failed": "Failed", "open": "Open",
    "energy_kwh": "kWh", "peak_kw": "Peak kW", "mean_duration_min": "Mean minutes",
    "idle_min_mean": "Mean idle min", "charge_start_s_median": "Median start s",
    "session_success": "Session success", "charge_start_success": "Charge start success",
    "failure_reason": "Reason", "currency": "Currency", "unpriced": "Unpriced",
    "energy_cost": "Energy", "time_cost": "Time", "parked_cost": "Parking", "idle_cost": "Idle",
    "session_fee": "Session fees", "subtotal": "Net", "tax": "Tax", "total": "Total",
}  # fmt: skip
TIMES = {"period_start", "period_end", "year_start", "in_service_since", "start", "end",
         "fired_at", "acknowledged_at", "resolved_at"}  # fmt: skip
SHARES = {"session_success", "charge_start_success"}

SITES = ["site", "ports", "port_minutes", "outage_minutes", "excluded_minutes", "uptime_pct",
         "year_uptime_pct", "nevi_eligible_ports"]  # fmt: skip
PORTS = ["port_id", "site", "minutes", "outage_minutes", "excluded_minutes", "uptime_pct",
         "year_uptime_pct", "in_service_since", "nevi_eligible", "meets_target"]  # fmt: skip
OUTAGES = ["port_id", "start", "end", "duration_minutes", "cause", "excluded_minutes",
           "excluded", "exclusion_categories"]  # fmt: skip
BREACHES = ["rule", "severity", "charger_id", "fired_at", "minutes_to_ack",
            "ack_target_minutes", "minutes_to_resolve", "resolve_target_minutes"]  # fmt: skip
KPIS = ["site", "sessions", "successful", "failed", "open", "energy_kwh", "peak_kw",
        "mean_duration_min", "idle_min_mean", "charge_start_s_median", "session_success",
        "charge_start_success"]  # fmt: skip


def table(
    frame: pd.DataFrame,
    title: str,
    zone: str = "UTC",
    columns: Sequence[str] | None = None,
) -> str:
    """An HTML table of `frame` (the `columns` it has, in that order), at most MAX_ROWS."""
    if frame.empty:
        return f"<h3>{html.escape(title)}</h3><p class=note>None.</p>"
    cols = [c for c in columns if c in frame.columns] if columns else list(frame.columns)
    shown = frame[cols].head(MAX_ROWS).astype(object)
    for col in cols:
        shown[col] = [_cell(col, v, zone) for v in shown[col]]
    shown.columns = [NAMES.get(c, c.replace("_", " ")) for c in cols]
    more = (
        f"<p class=note>{len(frame) - MAX_ROWS} more rows in the CSV.</p>"
        if len(frame) > MAX_ROWS
        else ""
    )
    body = shown.to_html(index=False, border=0, escape=True)
    return f"<h3>{html.escape(title)}</h3>{body}{more}"


def _cell(col: str, value: object, zone: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if col in TIMES:
        return iso_local(float(value), zone).replace("T", " ")
    if col in SHARES:
        return f"{float(value) * 100:.1f} %"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)
