"""Notification templates: one `Message` per channel kind from a `Notification`.

Each kind is written for how it is read: an SMS is one line on a technician's lock screen
(one GSM-7 segment when it can be), an e-mail is what NOC staff file and search (a sortable
subject, every alert with its runbook and dashboard), a push message is a title and a few
lines with a priority that decides whether the phone rings. FILE and CONSOLE get the push
text, plain.

Rendering is pure: the same notification, zone and dashboard URL give the same message
(times come from the notification, never the clock), so a message stored in the outbox
before a restart is what the receiver gets after it.
"""

from __future__ import annotations

from notifier.model import (
    CHANNEL_KINDS,
    DRIVER,
    EMAIL,
    ESCALATION,
    REPEAT,
    REPORT,
    SMS,
    SUMMARY,
    TEST,
    AlertInfo,
    Message,
    Notification,
)
from notifier.templates_email import email, email_note
from notifier.templates_sms import sms_note, sms_segments, sms_text
from notifier.templates_text import (
    clock,
    dashboard_link,
    headline,
    known,
    lasted,
    ordered,
    reason_line,
    top_severity,
    where,
    zone,
)

__all__ = ["dashboard_link", "notify_type", "priority", "render", "sms_segments"]

_NOTES = (SUMMARY, TEST, DRIVER, REPORT)  # news that is not about alerts: `notification.text`
_PUSH_ALERTS = 5  # alerts listed in a push message; the rest is "+N more"
_PRIORITY = {"critical": "high", "major": "high", "warning": "normal", "info": "low"}
_NOTIFY_TYPE = {"critical": "failure", "major": "failure", "warning": "warning"}


def render(
    notification: Notification, kind: str, *, dashboard_url: str | None = None, tz: str = "UTC"
) -> Message:
    """The message for one channel kind; times are shown in `tz` (an IANA zone name)."""
    if kind not in CHANNEL_KINDS:
        raise ValueError(f"unknown channel kind {kind!r} (one of {', '.join(CHANNEL_KINDS)})")
    zone(tz)  # a wrong zone fails here, for every kind, not only where a time is shown
    n = notification
    extra = {"priority": priority(n), "notify_type": notify_type(n)}
    if n.reason in _NOTES or not (n.firing or n.resolved):
        return _note(n, kind, tz, extra)
    if kind == SMS:
        return Message(kind, "", sms_text(n, tz), **extra)
    if kind == EMAIL:
        title, text, html = email(n, tz, dashboard_url)
        return Message(kind, title, text, html, **extra)
    return Message(kind, push_title(n), push_text(n, tz, dashboard_url), **extra)


def priority(n: Notification) -> str:
    """How loudly a push message arrives, from the most severe firing alert. Only a critical
    alert nobody acknowledged in time (an escalation) is an emergency; good news is low."""
    if n.reason in _NOTES or not (n.firing or n.resolved):
        return "normal"
    if not n.firing:
        return "low"
    waiting = [a for a in n.firing if not a.acknowledged_by]
    if n.reason == ESCALATION and top_severity(waiting) == "critical":
        return "emergency"
    return _PRIORITY.get(top_severity(n.firing), "normal")


def notify_type(n: Notification) -> str:
    """apprise's notify type (the icon and colour of a push or chat message)."""
    if n.reason in _NOTES:
        return "info"
    if n.firing:
        return _NOTIFY_TYPE.get(top_severity(n.firing), "info")
    return "success" if n.resolved else "info"


def note_title(n: Notification) -> str:
    """The title of news that is not about alerts."""
    if n.reason == SUMMARY:
        plural = "" if n.held_back == 1 else "s"
        return f"[SUMMARY] {n.held_back} notification{plural} held back by the rate limit"
    if n.reason == TEST:
        return "ChargeWatch test notification"
    if n.reason == DRIVER:
        charger = n.group_labels.get("charger")
        return f"Your charging session at {charger}" if charger else "Your charging session"
    if n.reason == REPORT:
        site = n.group_labels.get("site")
        return f"ChargeWatch monthly report {n.group_labels.get('month', '')}" + (
            f" — site {site}" if site else ""
        )
    return "ChargeWatch notification"


def _note(n: Notification, kind: str, tz: str, extra: dict[str, str]) -> Message:
    title = note_title(n)
    if kind == SMS:
        said = n.reason == DRIVER or n.text.lstrip().startswith(title)  # a report's heading
        return Message(kind, "", sms_note("" if said else title, n.text), **extra)
    if kind == EMAIL:
        text, html = email_note(n, title, tz)
        if n.reason == REPORT:  # the report is the body (the channel reads it), all attached
            report = n.files[0] if n.files and n.files[0].endswith(".html") else ""
            files = list(n.files)
            return Message(kind, title, text, html, **extra, attachments=files, html_file=report)
        return Message(kind, title, text, html, **extra)
    return Message(kind, title, n.text.strip() or title, **extra)


def push_title(n: Notification) -> str:
    """`FIRING ConnectorFaulted CP-0042/2 (+2 more)`: status, what, where; short enough for
    a lock screen."""
    alerts = ordered(n.firing, unacked_first=n.reason == ESCALATION) or ordered(n.resolved)
    status = {REPEAT: "STILL FIRING", ESCALATION: "ESCALATED"}.get(n.reason, "FIRING")
    first = alerts[0]
    title = " ".join(filter(None, (status if n.firing else "RESOLVED", first.alertname)))
    title = " ".join(filter(None, (title, where(first))))
    return f"{title} (+{len(alerts) - 1} more)" if len(alerts) > 1 else title


def _meta(alert: AlertInfo, n: Notification, tz: str) -> str:
    """`critical, since 14:05 CEST, ack by alice` or `resolved, lasted 1h12m`."""
    if alert.state == "resolved":
        took = lasted(alert, n.at)
        return f"resolved, lasted {took}" if took else "resolved"
    parts = [alert.severity]
    if known(alert.starts_at):
        parts.append(f"since {clock(alert.starts_at, tz, n.at, abbrev=True)}")
    if alert.acknowledged_by:
        parts.append(f"ack by {alert.acknowledged_by}")
    return ", ".join(filter(None, parts))


def _single(alert: AlertInfo, n: Notification, tz: str, dashboard_url: str | None) -> list[str]:
    """One alert: what, why, since when, and where to look. A resolved alert's summary is
    in the present tense ("is faulted"), so it is told as what it was."""
    if alert.state == "resolved":
        took = lasted(alert, n.at)
        lines = [f"Resolved{f' after {took}' if took else ''}.", f"Was: {headline(alert)}"]
    else:
        description = alert.annotations.get("description", "").strip()
        lines = [headline(alert), description, _meta(alert, n, tz)]
    # what self-healing tried: "tried: soft reset — Accepted" (notifier/runner.py)
    lines.append(alert.annotations.get("remediation", ""))
    if alert.runbook_url:
        lines.append(f"Runbook: {alert.runbook_url}")
    charger = alert.labels.get("charger")
    if dashboard_url and charger:
        lines.append(f"Dashboard: {dashboard_link(dashboard_url, charger)}")
    return lines


def push_text(n: Notification, tz: str, dashboard_url: str | None = None) -> str:
    """A few lines: why (repeat, escalation), then the alerts, most severe first."""
    escalation = n.reason == ESCALATION
    alerts = [*ordered(n.firing, unacked_first=escalation), *ordered(n.resolved)]
    lines = [reason_line(n)]
    if len(alerts) == 1:
        lines += _single(alerts[0], n, tz, dashboard_url)
    else:
        lines += [f"- {headline(a)} ({_meta(a, n, tz)})" for a in alerts[:_PUSH_ALERTS]]
        if len(alerts) > _PUSH_ALERTS:
            lines.append(f"+{len(alerts) - _PUSH_ALERTS} more")
    return "\n".join(line for line in lines if line)
