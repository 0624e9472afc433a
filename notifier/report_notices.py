"""Monthly reports as notifications: the journal's ReportPublished events (written by
reports/scheduler.py, which the notifier never imports) become one notification per
receiver the report names, rendered per target like the rest (e-mail: the report with
its files attached; SMS and push: the summary) and delivered from the same outbox."""

from __future__ import annotations

from chargewatch import events as ev
from notifier.model import REPORT, Notification


def report_notifications(e: ev.ReportPublished) -> list[Notification]:
    """One notification per receiver of a published report: no routing, grouping,
    silences or rate limits (it was asked for by name, once a month)."""
    labels = {"month": e.month, **({"site": e.site} if e.site else {})}
    key = f"report:{e.month}:{e.site or ''}"
    return [
        Notification(r, key, labels, REPORT, e.ts, text=e.summary, files=tuple(e.files))
        for r in e.receivers
    ]
