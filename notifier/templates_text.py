"""What every notification template shares: times in the receiver's zone, rounded
durations, where an alert is (charger/connector or site), its fault, the order alerts are
listed in and the line that says why a notification was sent.

Everything here depends on its arguments only (the notification's `at`, never the wall
clock), so a message rendered again after a restart is the same message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chargewatch.durations import format_duration
from notifier.model import ESCALATION, REPEAT, AlertInfo, Notification

# most severe first; a severity the rule engine does not know sorts last and shows as given
SEVERITY_RANK = {"critical": 0, "major": 1, "warning": 2, "info": 3}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# labels and annotations that name the fault itself (Alertmanager alerts often carry them)
FAULT_KEYS = ("fault", "error_code")


def zone(tz: str) -> ZoneInfo:
    """The IANA zone, or a ValueError a config check can show (ZoneInfo raises KeyError)."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {tz!r} (write an IANA name, e.g. Europe/Berlin)"
        raise ValueError(msg) from None


def local(ts: float, tz: str) -> datetime:
    return datetime.fromtimestamp(ts, zone(tz))


def known(ts: float | None) -> bool:
    """0 is AlertInfo's default for "not known"; no alert fired in 1970."""
    return ts is not None and ts > 0


def clock(ts: float, tz: str, ref: float, *, abbrev: bool = False) -> str:
    """`14:05`, or `2 Mar 14:05` when `ref` (the notification's time) is another local day:
    short for SMS and push, unambiguous in every locale (no strftime %b)."""
    when, now = local(ts, tz), local(ref, tz)
    text = f"{when:%H:%M}"
    if when.date() != now.date():
        text = f"{when.day} {_MONTHS[when.month - 1]} {text}"
    return f"{text} {when:%Z}" if abbrev else text


def stamp(ts: float, tz: str) -> str:
    """`2024-03-31 14:05:12 CEST`: the full time with the zone's abbreviation (e-mail)."""
    return f"{local(ts, tz):%Y-%m-%d %H:%M:%S %Z}"


def span(seconds: float) -> str:
    """A duration people read: whole seconds under ten minutes, whole minutes under a day,
    whole hours beyond (`45s`, `5m30s`, `1h12m`, `2d3h`)."""
    seconds = max(0.0, seconds)
    step = 1.0 if seconds < 600 else 60.0 if seconds < 86400 else 3600.0
    return format_duration(round(seconds / step) * step)


def lasted(alert: AlertInfo, at: float) -> str:
    """How long a resolved alert was firing (until `at` when its end is not known)."""
    end = alert.ends_at if known(alert.ends_at) else at
    return span(end - alert.starts_at) if known(alert.starts_at) else ""


def where(alert: AlertInfo) -> str:
    """`CP-0042/2` for a connector, `CP-0042` for a charger (connector 0 is the whole
    charger), the site for a site alert, "" for anything else."""
    labels = alert.labels
    charger, connector = labels.get("charger", ""), labels.get("connector", "")
    if charger:
        return f"{charger}/{connector}" if connector not in ("", "0") else charger
    return labels.get("site", "")


def fault(alert: AlertInfo) -> str:
    """The fault in a few words: a `fault`/`error_code` label or annotation, else what the
    summary says after its colon (`... is faulted: GroundFailure CX002`), else ""."""
    for key in FAULT_KEYS:
        value = alert.labels.get(key) or alert.annotations.get(key)
        if value:
            return value
    _, colon, rest = alert.annotations.get("summary", "").partition(": ")
    return " ".join(rest.split()) if colon else ""


def headline(alert: AlertInfo) -> str:
    """The alert in one line: its summary, or its name and place when it has none."""
    summary = " ".join(alert.annotations.get("summary", "").split())
    return summary or " ".join(filter(None, (alert.alertname, where(alert))))


def rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, len(SEVERITY_RANK))


def ordered(alerts: Iterable[AlertInfo], unacked_first: bool = False) -> list[AlertInfo]:
    """Most severe first, then those nobody acknowledged, then oldest: the alert a short
    message names is the one to act on. An escalation is about the unacknowledged ones,
    so `unacked_first` puts them before every acknowledged one."""

    def key(a: AlertInfo) -> tuple[bool, int, bool, float, str, str]:
        acked = bool(a.acknowledged_by)
        return (
            unacked_first and acked,
            rank(a.severity),
            acked,
            a.starts_at,
            where(a),
            a.fingerprint,
        )

    return sorted(alerts, key=key)


def top_severity(alerts: Iterable[AlertInfo]) -> str:
    return min((a.severity for a in alerts), key=rank, default="")


def alertnames(n: Notification) -> list[str]:
    """The group's alert name, or the names of its alerts when it is grouped otherwise."""
    if n.group_labels.get("alertname"):
        return [n.group_labels["alertname"]]
    return list(dict.fromkeys(a.alertname for a in ordered((*n.firing, *n.resolved))))


def fmt_value(value: float) -> str:
    """312.0 -> `312`, 0.41666 -> `0.417`: a reading, not a float's repr."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def waited(n: Notification) -> str:
    """How long the oldest unacknowledged firing alert has waited, for the escalation line."""
    waiting = [a for a in n.firing if not a.acknowledged_by] or n.firing
    starts = [a.starts_at for a in waiting if known(a.starts_at)]
    return span(n.at - min(starts)) if starts else ""


def reason_line(n: Notification, dash: str = "—") -> str:
    """Why this was sent when it is not plain news: a repeat or an escalation."""
    if n.reason == REPEAT:
        return "Still firing: nothing changed since the last notification."
    if n.reason == ESCALATION:
        after = waited(n)
        level = f" (level {n.escalation_level})" if n.escalation_level else ""
        return f"Not acknowledged{f' after {after}' if after else ''} {dash} escalated{level}."
    return ""


def dashboard_link(dashboard_url: str, charger: str) -> str:
    """The Grafana dashboard of one charger: `{dashboard_url}?var-charger=<quoted id>`.
    Charger ids come from the chargers themselves, so every character is quoted."""
    sep = "&" if "?" in dashboard_url else "?"
    return f"{dashboard_url}{sep}var-charger={quote(charger, safe='')}"
