"""The e-mail template: a subject NOC staff can sort and filter by (Alertmanager's
`[FIRING:2] ConnectorFaulted site=north`), and a plain-text and an HTML body listing every
alert with what is needed to act on it without opening another tool: what and where,
since when, who is on it, the runbook and the charger's dashboard.
"""

from __future__ import annotations

from notifier.model import DRIVER, ESCALATION, REPEAT, AlertInfo, Notification
from notifier.templates_html import AlertView, Row, html_document
from notifier.templates_text import (
    alertnames,
    dashboard_link,
    fmt_value,
    headline,
    known,
    lasted,
    ordered,
    reason_line,
    span,
    stamp,
    top_severity,
)

_NOT_LABELS = ("alertname", "severity")  # shown in the subject and the `Alert` row already
_ROW_NAME_WIDTH = 11


def _names(n: Notification) -> str:
    names = alertnames(n) or ["ChargeWatch"]
    if len(names) <= 2:
        return ", ".join(names)
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


def subject(n: Notification) -> str:
    """`[FIRING:2] ConnectorFaulted site=north (critical)`, `[RESOLVED] ...`; one line even
    when a label holds a line break (a header must not)."""
    alerts = n.firing or n.resolved
    tag = f"[FIRING:{len(n.firing)}]" if n.firing else "[RESOLVED]"
    labels = [f"{k}={v}" for k, v in n.group_labels.items() if k not in _NOT_LABELS]
    text = " ".join([tag, _names(n), *labels])
    severity = top_severity(alerts)
    text += f" ({severity})" if severity else ""
    if n.reason == REPEAT and n.firing:
        text += " — still firing"
    elif n.reason == ESCALATION:
        text += " — escalated" + (f" (level {n.escalation_level})" if n.escalation_level else "")
    return " ".join(text.split())


def _times(alert: AlertInfo, n: Notification, tz: str) -> list[Row]:
    if not known(alert.starts_at):
        return []
    since = stamp(alert.starts_at, tz)
    if alert.state != "resolved":
        return [Row("Since", f"{since} ({span(n.at - alert.starts_at)} ago)")]
    end = alert.ends_at if known(alert.ends_at) else n.at
    return [
        Row("Started", since),
        Row("Resolved", f"{stamp(end, tz)} (lasted {lasted(alert, n.at)})"),
    ]


def _ack(alert: AlertInfo, tz: str) -> list[Row]:
    if not alert.acknowledged_by:
        return []
    at = f" at {stamp(alert.acknowledged_at, tz)}" if known(alert.acknowledged_at) else ""
    return [Row("Ack by", f"{alert.acknowledged_by}{at}")]


def _links(alert: AlertInfo, dashboard_url: str | None) -> list[Row]:
    rows = [Row("Runbook", alert.runbook_url, alert.runbook_url)] if alert.runbook_url else []
    charger = alert.labels.get("charger")
    if dashboard_url and charger:
        link = dashboard_link(dashboard_url, charger)
        rows.append(Row("Dashboard", link, link))
    return rows


def rows(alert: AlertInfo, n: Notification, tz: str, dashboard_url: str | None) -> list[Row]:
    """The facts listed under an alert, in the order a technician asks for them."""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in _NOT_LABELS)
    value = [Row("Value", fmt_value(alert.value))] if alert.value is not None else []
    # what self-healing tried (notifier/runner.py sets it from the journal)
    tried = alert.annotations.get("remediation", "").removeprefix("tried: ")
    return [
        Row("Alert", f"{alert.alertname} ({alert.severity})"),
        *_times(alert, n, tz),
        *value,
        *_ack(alert, tz),
        *([Row("Tried", tried)] if tried else []),
        *([Row("Labels", labels)] if labels else []),
        *_links(alert, dashboard_url),
    ]


def views(
    alerts: tuple[AlertInfo, ...], n: Notification, tz: str, dashboard_url: str | None
) -> list[AlertView]:
    return [
        AlertView(
            a.state,
            a.severity,
            headline(a),
            a.annotations.get("description", "").strip(),
            rows(a, n, tz, dashboard_url),
        )
        for a in ordered(alerts, unacked_first=n.reason == ESCALATION)
    ]


def _intro(n: Notification) -> list[str]:
    counts = [f"{len(n.firing)} firing"] if n.firing else []
    counts += [f"{len(n.resolved)} resolved"] if n.resolved else []
    labels = " ".join(f"{k}={v}" for k, v in n.group_labels.items() if k != "alertname")
    what = " ".join(filter(None, (_names(n), labels)))
    return [f"{what}: {', '.join(counts)}.", reason_line(n)]


def footer(n: Notification, tz: str) -> str:
    """Who sent it to whom, when: the receiver's name helps NOC staff fix a route; a driver
    is not shown the internal name."""
    to = "" if n.reason == DRIVER else f" to receiver {n.receiver}"
    return f"Sent by ChargeWatch{to} at {stamp(n.at, tz)}."


def _text_view(view: AlertView) -> list[str]:
    lines = ["", f"* {view.heading}"]
    lines += [f"  {line}" for line in view.description.splitlines() if line.strip()]
    return lines + [f"  {r.name + ':':<{_ROW_NAME_WIDTH}}{r.text}" for r in view.rows]


def text_body(intro: list[str], sections: dict[str, list[AlertView]], footer: str) -> str:
    lines = [line for line in intro if line]
    for title, section in sections.items():
        if section:
            lines += ["", f"{title.upper()} ({len(section)})"]
            lines += [line for view in section for line in _text_view(view)]
    return "\n".join([*lines, "", "-- ", footer])


def email(n: Notification, tz: str, dashboard_url: str | None) -> tuple[str, str, str]:
    """Subject, plain-text body and HTML body of a notification about alerts."""
    firing = views(n.firing, n, tz, dashboard_url)
    resolved = views(n.resolved, n, tz, dashboard_url)
    title, intro, end = subject(n), _intro(n), footer(n, tz)
    text = text_body(intro, {"Firing": firing, "Resolved": resolved}, end)
    return title, text, html_document(title, intro, firing, resolved, end)


def email_note(n: Notification, title: str, tz: str) -> tuple[str, str]:
    """Plain-text and HTML body of news that is not about alerts (summary, test, driver)."""
    lines = n.text.strip().splitlines() or [title]
    end = footer(n, tz)
    return "\n".join([*lines, "", "-- ", end]), html_document(title, lines, [], [], end)
