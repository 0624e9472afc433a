"""When each port was down, and why: the NEVI notion of "up" applied to the history rows.

A port is up when its charger is connected and neither the port nor the charger as a whole
(connector 0) reports Faulted or Unavailable — the same definition as the rules'
AvailabilityBelowTarget. A status holds until the next one for that connector. A
disconnection of ChargeWatch's own making (collector stopping or restarting) is not the
charger's downtime: the charger keeps the state it had. Causes are ranked: offline before
a charger-wide status before the port's own, so each down minute has exactly one cause.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from chargewatch.events import OUR_DISCONNECTS

DOWN_STATUSES = frozenset({"Faulted", "Unavailable"})


@dataclass(frozen=True, slots=True)
class Cause:
    kind: str  # "offline", "faulted" or "unavailable"
    scope: str  # "charger" (offline or connector 0) or "port"
    error_code: str | None = None
    vendor_error_code: str | None = None
    fault_category: str | None = None

    @property
    def label(self) -> str:
        """A short human description: "offline", "charger faulted: GroundFailure (safety)"."""
        if self.kind == "offline":
            return "offline"
        text = f"{'charger ' if self.scope == 'charger' else ''}{self.kind}"
        code = self.vendor_error_code or self.error_code
        if code and code != "NoError":
            text += f": {code}"
            if self.fault_category:
                text += f" ({self.fault_category})"
        return text


OFFLINE = Cause("offline", "charger")


@dataclass(frozen=True, slots=True)
class Piece:
    start: float
    end: float
    cause: Cause


# rows as the dataset loads them, sorted by time
ConnectionRow = tuple[float, str, str | None]  # (ts, "up" | "down", reason)
StatusRow = tuple[float, str, str | None, str | None, str | None]
# (ts, status, error_code, vendor_error_code, fault_category)


def offline_spans(rows: Sequence[ConnectionRow], start: float, end: float) -> list[Piece]:
    """Stretches of [start, end) with the charger's socket closed (through its own doing).

    Before the first row the charger counts as connected: a charger with no connection
    history (imported logs without gaps) is not thereby down.
    """
    out: list[Piece] = []
    down_since: float | None = None
    for ts, event, reason in rows:
        if event == "down" and reason not in OUR_DISCONNECTS:
            if down_since is None:
                down_since = ts
        elif down_since is not None:  # "up", or a disconnect we caused: the charger was fine
            _add(out, down_since, ts, OFFLINE, start, end)
            down_since = None
    if down_since is not None:
        _add(out, down_since, end, OFFLINE, start, end)
    return out


def status_spans(rows: Sequence[StatusRow], scope: str, start: float, end: float) -> list[Piece]:
    """Stretches of [start, end) in which one connector reported Faulted or Unavailable."""
    out: list[Piece] = []
    for i, (ts, status, error_code, vendor_code, category) in enumerate(rows):
        if status not in DOWN_STATUSES:
            continue
        until = rows[i + 1][0] if i + 1 < len(rows) else end
        cause = Cause(status.lower(), scope, error_code, vendor_code, category)
        _add(out, ts, until, cause, start, end)
    return out


def port_down(offline: list[Piece], charger_wide: list[Piece], port: list[Piece]) -> list[Piece]:
    """Merge the three timelines: each down moment gets the highest-ranked cause."""
    layers = (offline, charger_wide, port)
    edges = sorted({t for layer in layers for p in layer for t in (p.start, p.end)})
    out: list[Piece] = []
    cursors = [0, 0, 0]
    for a, b in itertools.pairwise(edges):
        cause = None
        for k, layer in enumerate(layers):
            i = cursors[k]
            while i < len(layer) and layer[i].end <= a:
                i += 1
            cursors[k] = i
            if i < len(layer) and layer[i].start <= a:
                cause = layer[i].cause
                break
        if cause is None:
            continue
        if out and out[-1].end == a and out[-1].cause == cause:
            out[-1] = Piece(out[-1].start, b, cause)
        else:
            out.append(Piece(a, b, cause))
    return out


@dataclass(frozen=True, slots=True)
class Outage:
    """A contiguous down stretch of one port; its cause is the one it began with."""

    start: float
    end: float
    cause: Cause
    pieces: tuple[Piece, ...]


def outages(pieces: list[Piece]) -> list[Outage]:
    out: list[Outage] = []
    run: list[Piece] = []
    for piece in pieces:
        if run and piece.start > run[-1].end:
            out.append(Outage(run[0].start, run[-1].end, run[0].cause, tuple(run)))
            run = []
        run.append(piece)
    if run:
        out.append(Outage(run[0].start, run[-1].end, run[0].cause, tuple(run)))
    return out


def _add(out: list[Piece], a: float, b: float, cause: Cause, start: float, end: float) -> None:
    a, b = max(a, start), min(b, end)
    if a >= b:
        return
    if out and out[-1].end >= a and out[-1].cause == cause:
        out[-1] = Piece(out[-1].start, max(b, out[-1].end), cause)
    else:
        out.append(Piece(a, b, cause))
