"""What Grafana does to a dashboard query before it reaches the datasource, reproduced for
the query tests (no Grafana runs here): the panel's time range, `$__interval` from the
range, max data points and the minimum interval, `$__rate_interval`, and template variables
formatted per datasource (regex-escaped, `(a|b)` for several values, `allValue` for All).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from test_dashboards_structure import VARIABLE, provisioned_datasources

PROMETHEUS, INFLUXDB = "cw-prometheus", "cw-influxdb"
DEFAULT_MAX_DATA_POINTS = 1000  # Grafana uses the panel's width in pixels


UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
# kbn.roundInterval: (below this many ms, use this interval)
ROUNDING = [
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
]


def duration_ms(text: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", text.strip())
    assert match, f"not a Grafana interval: {text!r}"
    return int(match.group(1)) * UNITS_MS[match.group(2)]


def round_interval(ms: float) -> int:
    return next((out for below, out in ROUNDING if ms < below), 31_536_000_000)


def format_interval(ms: int) -> str:
    for unit in ("w", "d", "h", "m", "s"):
        if ms % UNITS_MS[unit] == 0:
            return f"{ms // UNITS_MS[unit]}{unit}"
    return f"{ms}ms"


def datasource_min_intervals() -> dict[str, str]:
    """uid -> the datasource's `timeInterval` (the smallest $__interval)."""
    return {ds["uid"]: ds["jsonData"]["timeInterval"] for ds in provisioned_datasources()}


def panel_range(panel: dict[str, Any], start: float, end: float) -> tuple[float, float]:
    """The time range of a panel: the dashboard's, or the panel's `timeFrom` override."""
    relative = panel.get("timeFrom")
    if not relative:
        return start, end
    now = datetime.fromtimestamp(end).astimezone()  # dashboards use the browser's zone
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if relative == "now/d":
        return midnight.timestamp(), end
    if relative == "now/M":
        return midnight.replace(day=1).timestamp(), end
    return end - duration_ms(relative.removeprefix("now-")) / 1000, end


@dataclass
class Timing:
    start: float  # seconds
    end: float
    interval_ms: int
    rate_interval_ms: int

    @property
    def range_ms(self) -> int:
        return round((self.end - self.start) * 1000)


def timing(
    panel: dict[str, Any], target: dict[str, Any], uid: str, start: float, end: float
) -> Timing:
    """$__interval as Grafana computes it: range / max data points, rounded, but not below
    the minimum interval (the Prometheus query's min step, the panel's, or the datasource's)."""
    start, end = panel_range(panel, start, end)
    minimum = datasource_min_intervals()[uid]
    scrape_ms = duration_ms(minimum)
    lower = duration_ms(target.get("interval") or panel.get("interval") or minimum)
    if uid == PROMETHEUS and target.get("interval"):
        scrape_ms = lower  # a min step also stands in for the scrape interval
    points = int(panel.get("maxDataPoints") or DEFAULT_MAX_DATA_POINTS)
    interval = max(lower, round_interval((end - start) * 1000 / points))
    if uid == PROMETHEUS:  # at most 11000 points per series
        interval = max(interval, math.ceil((end - start) * 1000 / 11000))
    rate = max(interval + scrape_ms, 4 * scrape_ms)
    return Timing(start, end, interval, rate)


ALL = "$__all"


@dataclass
class Variable:
    name: str
    model: dict[str, Any]
    options: list[str]
    value: list[str] | str  # ALL, or the selected values

    def render(self, uid: str) -> str:
        """The variable's text in a query of datasource `uid`, as Grafana interpolates it."""
        if self.model.get("type") in ("textbox", "constant"):
            return str(self.value[0] if isinstance(self.value, list) else self.value)
        if self.value == ALL:
            if self.model.get("allValue"):
                return str(self.model["allValue"])  # not escaped
            values = self.options
        else:
            values = list(self.value)
        if not self.model.get("multi") and not self.model.get("includeAll"):
            return values[0]
        escaped = [regex_escape(v, uid) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def regex_escape(value: str, uid: str) -> str:
    if uid == PROMETHEUS:  # inside a PromQL string: the backslash is escaped too
        return re.sub(r"([\\$^*{}\[\]'+?.()|])", r"\\\\\1", value)
    return re.sub(r"([\\/^$*+?.()|\[\]{}])", r"\\\1", value)


def substitute(
    query: str, uid: str, variables: dict[str, Variable], t: Timing | None = None
) -> str:
    """The query with every template variable replaced; an unknown one is an error."""
    builtins: dict[str, str] = {}
    if t is not None:
        from_ms, to_ms = round(t.start * 1000), round(t.end * 1000)
        builtins = {
            "timeFilter": f"time >= {from_ms}ms and time <= {to_ms}ms",
            "__interval": format_interval(t.interval_ms),
            "__interval_ms": str(t.interval_ms),
            "__rate_interval": format_interval(t.rate_interval_ms),
            "__rate_interval_ms": str(t.rate_interval_ms),
            "__range": f"{round(t.range_ms / 1000)}s",
            "__range_s": str(round(t.range_ms / 1000)),
            "__range_ms": str(t.range_ms),
            "__from": str(from_ms),
            "__to": str(to_ms),
        }
        builtins["__timeFilter"] = builtins["timeFilter"]

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name in builtins:
            return builtins[name]
        if name in variables:
            return variables[name].render(uid)
        raise AssertionError(f"${name} is neither a variable nor a builtin Grafana knows")

    return VARIABLE.sub(replace, query)
