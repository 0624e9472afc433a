"""The HTML body of a notification e-mail: one self-contained document with inline styles
only (mail clients drop <style> sheets and never load external CSS).

Every text in it comes from chargers, rule files or an external Alertmanager, so every
text goes through html.escape, and only http(s) URLs become links (a `javascript:` runbook
URL stays text).
"""

from __future__ import annotations

from html import escape
from typing import NamedTuple

_COLOUR = {"critical": "#b71c1c", "major": "#d84315", "warning": "#b26a00", "info": "#1565c0"}
_RESOLVED, _OTHER = "#2e7d32", "#57606a"
_MUTED = "color:#57606a;"
_CELL = "padding:2px 12px 2px 0;vertical-align:top;"


class Row(NamedTuple):
    """One fact about an alert: `Since`, `2024-03-31 14:05:12 CEST`; `href` makes it a link."""

    name: str
    text: str
    href: str | None = None


class AlertView(NamedTuple):
    """An alert as the e-mail shows it; the text and the HTML body render the same views."""

    state: str  # "firing" | "resolved"
    severity: str
    heading: str
    description: str
    rows: list[Row]


def colour(view: AlertView) -> str:
    return _RESOLVED if view.state == "resolved" else _COLOUR.get(view.severity, _OTHER)


def _text(text: str) -> str:
    return escape(text).replace("\n", "<br>")


def _link(text: str, href: str | None) -> str:
    if href is None or not href.lower().startswith(("https://", "http://")):
        return _text(text)
    return f'<a href="{escape(href, quote=True)}" style="color:#0969da;">{_text(text)}</a>'


def _rows(rows: list[Row]) -> str:
    cells = "".join(
        f'<tr><td style="{_CELL}{_MUTED}white-space:nowrap;">{_text(r.name)}</td>'
        f'<td style="{_CELL}word-break:break-word;">{_link(r.text, r.href)}</td></tr>'
        for r in rows
    )
    return (
        '<table role="presentation" style="border-collapse:collapse;font-size:13px;">'
        f"{cells}</table>"
    )


def _alert(view: AlertView) -> str:
    description = (
        f'<p style="margin:0 0 6px;{_MUTED}">{_text(view.description)}</p>'
        if view.description
        else ""
    )
    return (
        f'<div style="border-left:4px solid {colour(view)};padding:4px 0 4px 12px;'
        'margin:0 0 12px;">'
        f'<p style="margin:0 0 4px;font-weight:bold;">{_text(view.heading)}</p>'
        f"{description}{_rows(view.rows)}</div>"
    )


def _section(title: str, views: list[AlertView]) -> str:
    if not views:
        return ""
    heading = f'<h2 style="font-size:15px;margin:16px 0 8px;color:{colour(views[0])};">'
    return f"{heading}{_text(title)} ({len(views)})</h2>" + "".join(_alert(v) for v in views)


def html_document(
    title: str,
    intro: list[str],
    firing: list[AlertView],
    resolved: list[AlertView],
    footer: str,
) -> str:
    """The whole e-mail body: title, the lines saying what happened, firing alerts, resolved
    alerts, and a footer saying who sent it to whom and when."""
    lines = "".join(f'<p style="margin:0 0 8px;">{_text(line)}</p>' for line in intro if line)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{_text(title)}</title></head>"
        '<body style="margin:0;padding:16px;background:#f4f5f7;'
        'font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#1f2328;">'
        '<div style="max-width:680px;margin:0 auto;background:#ffffff;'
        'border:1px solid #d0d7de;border-radius:6px;padding:16px;">'
        f'<h1 style="font-size:18px;margin:0 0 12px;">{_text(title)}</h1>{lines}'
        f"{_section('Firing', firing)}{_section('Resolved', resolved)}"
        f'<p style="margin:16px 0 0;padding-top:8px;border-top:1px solid #d0d7de;'
        f'font-size:12px;{_MUTED}">{_text(footer)}</p>'
        "</div></body></html>"
    )
