"""Incidents and response: each alert that fired in the period, how long until someone
acknowledged it and until it resolved, against the response-time targets per severity.
One that resolved before anyone acknowledged it waited for an acknowledgement until then.

An incident is one firing episode of an alert (its fingerprint): from the transition into
`firing` to the next `resolved`. It is acknowledged at its first transition carrying an
acknowledger. One still open when the report runs is judged at the report's `now`: it
breaches a target only once that much time has really passed.
"""

from __future__ import annotations

import math

import pandas as pd

from reports.config import ResponseTarget

COLUMNS = [
    "fingerprint", "rule", "severity", "charger_id", "connector_id", "site", "fired_at",
    "acknowledged_at", "acknowledged_by", "resolved_at", "minutes_to_ack", "minutes_to_resolve",
    "ack_target_minutes", "resolve_target_minutes", "ack_breached", "resolve_breached",
]  # fmt: skip


def incidents(
    rows: list[dict], start: float, end: float, targets: dict[str, ResponseTarget], now: float
) -> pd.DataFrame:
    """One row per incident that fired in [start, end); `rows` sorted by fingerprint, time."""
    out = []
    by_alert: dict[str, list[dict]] = {}
    for row in rows:
        by_alert.setdefault(row["fingerprint"], []).append(row)
    for history in by_alert.values():
        for i, row in enumerate(history):
            if row["state"] != "firing" or row["previous"] == "firing":
                continue
            if not start <= row["at"] < end:
                continue
            out.append(_incident(row, history[i + 1 :], targets, now))
    frame = pd.DataFrame(out, columns=COLUMNS)
    return frame.sort_values(["fired_at", "fingerprint"], ignore_index=True)


def _incident(fired: dict, later: list[dict], targets, now: float) -> dict:
    ack_at = ack_by = resolved_at = None
    if fired.get("acknowledged_by"):
        ack_at, ack_by = fired["at"], fired["acknowledged_by"]
    for row in later:
        if ack_at is None and row.get("acknowledged_by"):
            ack_at, ack_by = row["at"], row["acknowledged_by"]
        if row["state"] == "resolved":
            resolved_at = row["at"]
            break
        if row["state"] == "firing" and row["previous"] != "firing":
            break  # a new episode began without a resolution in between
    target = targets.get(fired["severity"], ResponseTarget())
    labels = fired["labels"]
    connector = labels.get("connector")
    return {
        "fingerprint": fired["fingerprint"],
        "rule": fired["rule"],
        "severity": fired["severity"],
        "charger_id": labels.get("charger"),
        "connector_id": int(connector) if connector and connector.isdigit() else None,
        "site": labels.get("site"),
        "fired_at": fired["at"],
        "acknowledged_at": ack_at,
        "acknowledged_by": ack_by,
        "resolved_at": resolved_at,
        "minutes_to_ack": _minutes(fired["at"], ack_at),
        "minutes_to_resolve": _minutes(fired["at"], resolved_at),
        "ack_target_minutes": _minutes(0, target.acknowledge),
        "resolve_target_minutes": _minutes(0, target.resolve),
        # an incident that resolved unacknowledged waited for someone until it resolved
        "ack_breached": _breached(fired["at"], ack_at or resolved_at, target.acknowledge, now),
        "resolve_breached": _breached(fired["at"], resolved_at, target.resolve, now),
    }


def _minutes(a: float, b: float | None) -> float:
    return math.nan if b is None else round((b - a) / 60, 2)


def _breached(fired: float, done: float | None, target: float | None, now: float) -> bool | None:
    if target is None:
        return None
    return (done if done is not None else now) - fired > target


def by_severity(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts, median and 90th-percentile response times and breaches per severity."""
    if frame.empty:
        return pd.DataFrame(
            columns=["severity", "incidents", "acknowledged", "resolved", "median_minutes_to_ack",
                     "p90_minutes_to_ack", "median_minutes_to_resolve", "p90_minutes_to_resolve",
                     "ack_breaches", "resolve_breaches"]
        )  # fmt: skip
    g = frame.groupby("severity")
    return pd.DataFrame(
        {
            "incidents": g.size(),
            "acknowledged": g["acknowledged_at"].count(),
            "resolved": g["resolved_at"].count(),
            "median_minutes_to_ack": g["minutes_to_ack"].median().round(2),
            "p90_minutes_to_ack": g["minutes_to_ack"].quantile(0.9).round(2),
            "median_minutes_to_resolve": g["minutes_to_resolve"].median().round(2),
            "p90_minutes_to_resolve": g["minutes_to_resolve"].quantile(0.9).round(2),
            "ack_breaches": g["ack_breached"].apply(lambda s: int((s == True).sum())),  # noqa: E712
            "resolve_breaches": g["resolve_breached"].apply(lambda s: int((s == True).sum())),  # noqa: E712
        }
    ).reset_index()
