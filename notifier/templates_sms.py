"""The SMS template: what a technician reads on a phone's lock screen, in one segment.

An SMS of GSM-7 characters (3GPP TS 23.038 default alphabet) holds 160 of them, or 153 per
segment once it is split; characters of the extension table (`[`, `€`, ...) take two. One
character outside the alphabet turns the whole text into UCS-2: 70 per message, 67 per
segment. Every segment is billed, and long texts arrive late or in pieces, so the text
is built from its parts in order of importance and shortened until it fits: first the
extra chargers it names go, then the fault is cut short, and only then does it take a
second segment (never more).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from notifier.model import ESCALATION, REPEAT, AlertInfo, Notification
from notifier.templates_text import clock, fault, known, lasted, ordered, span, where

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")  # sent as ESC + character: two septets
MAX_SEGMENTS = 2
_ELLIPSIS = "..."  # "…" is not GSM-7 and would make the whole text UCS-2
_MIN_FAULT = 12  # a fault cut shorter than this says nothing; take a second segment instead
_MAX_ALSO = 10  # other alerts named by place at most; the rest is "+N more"
_SEVERITY = {"critical": "crit", "major": "maj", "warning": "warn"}
# typography that has a GSM-7 spelling (a rule author's dash must not cost 90 characters)
_PLAIN = str.maketrans(
    {
        "…": "...",
        "–": "-",
        "—": "-",
        "‘": "'",
        "’": "'",
        "‚": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "\u00a0": " ",
        "\t": " ",
        "`": "'",
        "•": "-",
        "·": "-",
    }
)


def _units(text: str) -> tuple[list[int], int, int]:
    """Each character's size and the single/multi-segment limits of the text's encoding."""
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text):
        return [2 if c in GSM_EXTENSION else 1 for c in text], 160, 153
    return [2 if ord(c) > 0xFFFF else 1 for c in text], 70, 67  # UTF-16 code units


def sms_segments(text: str) -> int:
    """How many segments `text` is sent as (0 for no text). A character that takes two
    units (escape + character, a surrogate pair) is never split across segments."""
    units, single, multi = _units(text)
    if sum(units) <= single:
        return 1 if text else 0
    segments, used = 1, 0
    for size in units:
        if used + size > multi:
            segments, used = segments + 1, 0
        used += size
    return segments


def gsm_plain(text: str) -> str:
    """Typographic punctuation as GSM-7; letters stay as they are (a charger id is an id)."""
    return text.translate(_PLAIN)


def _shorten(text: str, fits: Callable[[str], bool]) -> str | None:
    """The longest `text[:i] + "..."` that fits (cut at a space when one is near),
    `text` itself when it fits, None when not even "..." does."""
    if fits(text):
        return text

    def cut(i: int) -> str:
        return text[:i].rstrip() + _ELLIPSIS

    if not fits(cut(0)):
        return None
    lo, hi = 0, len(text)  # fits(cut(lo)); the longest fitting cut is shorter than hi
    while lo < hi - 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(cut(mid)) else (lo, mid)
    space = text.rfind(" ", 0, lo + 1)
    return cut(space) if space > lo - 15 and space > 0 else cut(lo)


def truncate(text: str, segments: int = MAX_SEGMENTS) -> str:
    """`text` cut (with "...") to at most `segments` segments."""
    return _shorten(text, _within(segments)) or ""


def _within(segments: int) -> Callable[[str], bool]:
    return lambda text: sms_segments(text) <= segments


@dataclass(frozen=True, slots=True)
class _Parts:
    """An alert SMS in its parts, so it can be put together with less of them."""

    head: str  # FIRING crit ConnectorFaulted CP-0042/2
    detail: str  # the fault: GroundFailure
    tail: str  # since 14:05, ack by alice
    also: list[str]  # the group's other alerts by place: CP-0043/1
    note: str = ""  # 1 resolved

    def text(self, detail: str, k: int) -> str:
        """The SMS with `detail` for the fault and `k` of the other alerts named."""
        text = " ".join(filter(None, (self.head, detail, self.tail)))
        if k:
            text += ", also " + ", ".join(self.also[:k])
        hidden = len(self.also) - k
        notes = [f"+{hidden} more"] if hidden else []
        notes += [self.note] if self.note else []
        return f"{text} ({', '.join(notes)})" if notes else text

    def fit(self) -> str:
        """The richest version that fits one segment; else two; else cut to two."""
        one, two = _within(1), _within(MAX_SEGMENTS)
        for k in range(min(len(self.also), _MAX_ALSO), -1, -1):
            if one(self.text(self.detail, k)):
                return self.text(self.detail, k)
        short = _shorten(self.detail, lambda d: one(self.text(d, 0)))
        if short is not None and len(short) >= min(len(self.detail), _MIN_FAULT):
            return self.text(short, 0)
        short = _shorten(self.detail, lambda d: two(self.text(d, 0)))
        return self.text(short, 0) if short is not None else truncate(self.text("", 0))


def _ref(alert: AlertInfo, name: str) -> str:
    """Another alert of the group by place (and by name when it differs)."""
    place = where(alert) or alert.alertname
    return place if alert.alertname == name else f"{alert.alertname} {place}"


def _firing(n: Notification, tz: str) -> _Parts:
    alerts = ordered(n.firing, unacked_first=n.reason == ESCALATION)
    first = alerts[0]
    severity = _SEVERITY.get(first.severity, first.severity)
    head = " ".join(filter(None, ("FIRING", severity, first.alertname, where(first))))
    tail = [f"since {clock(first.starts_at, tz, n.at)}"] if known(first.starts_at) else []
    if first.acknowledged_by:
        tail.append(f"ack by {first.acknowledged_by}")
    if n.reason == ESCALATION:
        level = f" (level {n.escalation_level})" if n.escalation_level else ""
        after = span(n.at - first.starts_at) if known(first.starts_at) else ""
        tail.append(f"no ack{f' after {after}' if after else ''} - escalated{level}")
    elif n.reason == REPEAT:
        tail[-1:] = [f"{tail[-1]} (repeat)"] if tail else ["(repeat)"]
    note = f"{len(n.resolved)} resolved" if n.resolved else ""
    also = [_ref(a, first.alertname) for a in alerts[1:]]
    return _Parts(head, fault(first), ", ".join(tail), also, note)


def _resolved(n: Notification) -> _Parts:
    alerts = ordered(n.resolved)
    first = alerts[0]
    took = lasted(first, n.at)
    head = " ".join(filter(None, ("RESOLVED", first.alertname, where(first))))
    also = [_ref(a, first.alertname) for a in alerts[1:]]
    return _Parts(head, "", f"after {took}" if took else "", also)


def _plain(p: _Parts) -> _Parts:
    also = [gsm_plain(a) for a in p.also]
    return _Parts(
        gsm_plain(p.head), gsm_plain(p.detail), gsm_plain(p.tail), also, gsm_plain(p.note)
    )


def sms_text(n: Notification, tz: str) -> str:
    """The SMS of a notification about alerts (see the module docstring for the fitting)."""
    parts = _firing(n, tz) if n.firing else _resolved(n)
    return _plain(parts).fit()


def sms_note(title: str, text: str) -> str:
    """An SMS of news that is not an alert (summary, test, a driver's session)."""
    body = "\n".join(filter(None, (title, text.strip())))
    return truncate(gsm_plain(body))
