"""Uptime by the US NEVI formula (23 CFR 680.116(b)), per port, charger and site.

    μ = ((T − (T_outage − T_excluded)) / T) × 100, in minutes

T is the period's minutes while the port was in service (a port commissioned mid-period
is judged on its part of it), T_outage the minutes it was down (reports.availability) and
T_excluded the part of those outside the operator's control: declared exclusions
(utility outage, vehicle-caused, vandalism, natural disaster), scheduled maintenance
windows and hours outside the site's operating hours. A charger's and a site's uptime
pool their ports' minutes, so a site's figure is its port-minutes up over port-minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reports import intervals as iv
from reports.availability import Outage

Tagged = tuple[float, float, str]  # (from, to, exclusion category)


@dataclass(slots=True)
class PortPeriod:
    """One port over one period: the inputs and the NEVI figures."""

    charger_id: str
    connector_id: int
    site: str | None
    start: float  # the period, clipped to the port's time in service
    end: float
    outages: list[Outage]
    excluded: list[iv.Span] = field(default_factory=list)  # outage time that is excluded
    categories: list[set[str]] = field(default_factory=list)  # per outage

    @property
    def minutes(self) -> float:
        return max(0.0, self.end - self.start) / 60

    @property
    def outage_minutes(self) -> float:
        return sum(o.end - o.start for o in self.outages) / 60

    @property
    def excluded_minutes(self) -> float:
        return iv.total(self.excluded) / 60

    @property
    def uptime(self) -> float | None:
        """Percent, or None when the port was not in service during the period."""
        return nevi_uptime(self.minutes, self.outage_minutes, self.excluded_minutes)


def nevi_uptime(minutes: float, outage: float, excluded: float) -> float | None:
    if minutes <= 0:
        return None
    return (minutes - (outage - excluded)) / minutes * 100


def judge(
    charger_id: str,
    connector_id: int,
    site: str | None,
    start: float,
    end: float,
    outages: list[Outage],
    exclusions: list[Tagged],
) -> PortPeriod:
    """Clip the outages to [start, end) and measure how much of them is excluded."""
    clipped = []
    for o in outages:
        a, b = max(o.start, start), min(o.end, end)
        if a < b:
            clipped.append(Outage(a, b, o.cause, o.pieces))
    period = PortPeriod(charger_id, connector_id, site, start, end, clipped)
    spans = iv.normalise((a, b) for a, b, _ in exclusions)
    down = iv.normalise((o.start, o.end) for o in clipped)
    period.excluded = iv.intersect(down, spans)
    for o in clipped:
        period.categories.append({c for a, b, c in exclusions if a < o.end and b > o.start})
    return period


def pooled(periods: list[PortPeriod]) -> tuple[float, float, float, float | None]:
    """(minutes, outage, excluded, uptime %) of several ports together."""
    minutes = sum(p.minutes for p in periods)
    outage = sum(p.outage_minutes for p in periods)
    excluded = sum(p.excluded_minutes for p in periods)
    return minutes, outage, excluded, nevi_uptime(minutes, outage, excluded)
