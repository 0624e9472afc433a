"""Half-open time intervals [a, b) as sorted, disjoint lists of (a, b) Unix times.

The uptime arithmetic is set algebra on these: down = offline ∪ faulted, excluded =
down ∩ (maintenance ∪ declared ∪ closed hours). Lists stay small per port (one entry per
outage), so plain Python beats a vectorised library here and reads like the formula.
"""

from __future__ import annotations

from collections.abc import Iterable

Span = tuple[float, float]


def normalise(spans: Iterable[Span]) -> list[Span]:
    """Sorted, merged, empty ones dropped."""
    out: list[Span] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def union(*groups: Iterable[Span]) -> list[Span]:
    return normalise(s for group in groups for s in group)


def intersect(xs: list[Span], ys: list[Span]) -> list[Span]:
    """Both inputs normalised; a linear merge."""
    out: list[Span] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(xs: list[Span], ys: list[Span]) -> list[Span]:
    """xs minus ys (both normalised)."""
    return intersect(xs, complement(ys, xs[0][0], xs[-1][1])) if xs else []


def complement(xs: list[Span], start: float, end: float) -> list[Span]:
    """[start, end) minus xs (normalised)."""
    out: list[Span] = []
    at = start
    for a, b in xs:
        if b <= at:
            continue
        if a >= end:
            break
        if a > at:
            out.append((at, a))
        at = max(at, b)
    if at < end:
        out.append((at, end))
    return out


def clip(xs: list[Span], start: float, end: float) -> list[Span]:
    return [(max(a, start), min(b, end)) for a, b in xs if b > start and a < end]


def total(xs: Iterable[Span]) -> float:
    """Summed length in seconds."""
    return sum(b - a for a, b in xs)
