"""Projection rows of the events that are not a charger's own messages: alert transitions,
silences and outage exclusions (acknowledgements and driver changes have no row here).

Kept apart from state.py, which models the network; these are the operators' records.
"""

from __future__ import annotations

import json
from typing import Any

from chargewatch import events as ev

Upserts = dict[tuple[Any, ...], tuple[str, tuple[Any, ...]]]
Insert = tuple[str, tuple[Any, ...]]

# journal kinds whose charger_id is "" or that say nothing about the charger's own state
NOT_CHARGER_EVENTS = ev.OPERATOR_KINDS | {
    ev.AuthLockedOut.kind  # a refused handshake: any id can be tried, it is no charger's state
}


def project(event: ev.Event, up: Upserts, ins: list[Insert]) -> None:
    """Add the rows that persist one operator-side event."""
    if isinstance(event, ev.AlertChanged):
        _alert_rows(event, up, ins)
    elif isinstance(event, ev.SilenceSet):
        up[("silences", event.id)] = ("silences", _silence_row(event))
    elif isinstance(event, ev.OutageExcluded):
        up[("exclusions", event.id)] = ("exclusions", _exclusion_row(event))
    elif isinstance(event, ev.ReportPublished):
        site = event.site or ""  # report_runs.site "" is the whole network
        files = json.dumps(list(event.files))
        up[("report_runs", event.month, site)] = (
            "report_runs",
            (event.month, site, event.ts, event.ts, files),
        )
    elif isinstance(event, ev.RemediationTried):
        ins.append(("remediations", _remediation_row(event)))
    # AlertAcknowledged / AlertUnacknowledged: the rule engine answers with an AlertChanged;
    # DriverSet: the notifier's registry (contacts are not state of the network)
    # CommandSent: history in the journal only; a command is not the charger speaking


def _remediation_row(e: ev.RemediationTried) -> tuple[Any, ...]:
    return (
        e.fingerprint,
        e.rule,
        e.charger_id,
        e.connector_id,
        e.ts,
        e.alert_state,
        e.action,
        e.command,
        e.outcome,
        e.status,
        e.reason,
        int(e.spent),
        e.summary,
    )


def _exclusion_row(e: ev.OutageExcluded) -> tuple[Any, ...]:
    return (
        e.id,
        e.charger_id,
        e.connector_id,
        e.starts_at,
        e.ends_at,
        e.category,
        e.note,
        e.created_by,
        int(e.removed),
        e.ts,
    )


def _silence_row(e: ev.SilenceSet) -> tuple[Any, ...]:
    return (
        e.id,
        json.dumps(list(e.matchers)),
        e.starts_at,
        e.ends_at,
        e.created_by,
        e.comment,
        e.ts,
    )


def _alert_rows(e: ev.AlertChanged, up: Upserts, ins: list[Insert]) -> None:
    """The alert's latest state (one row per fingerprint) and its history row."""
    labels = json.dumps(e.labels or {}, sort_keys=True)
    annotations = json.dumps(e.annotations or {}, sort_keys=True)
    up[("alerts", e.fingerprint)] = (
        "alerts",
        (
            e.fingerprint,
            e.rule,
            e.severity,
            e.state,
            labels,
            annotations,
            e.value,
            e.active_since,
            e.fired_at,
            e.ts if e.state == "resolved" else None,
            e.explained_by,
            e.acknowledged_by,
            e.acknowledged_at,
            e.runbook_url,
            e.ts,
        ),
    )
    ins.append(
        (
            "alert_history",
            (
                e.fingerprint,
                e.rule,
                e.severity,
                e.state,
                e.previous,
                e.ts,
                e.value,
                labels,
                annotations,
                e.explained_by,
                e.acknowledged_by,
            ),
        )
    )
