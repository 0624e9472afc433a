"""Report periods in a site's own calendar: a month is local midnight of the 1st to local
midnight of the next 1st, so a month with a daylight-saving change is an hour short or long."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str) -> tuple[int, int]:
    """'2026-11' -> (2026, 11); ValueError says what a month looks like."""
    match = MONTH.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a month (write YYYY-MM, e.g. 2026-11)")
    return int(match.group(1)), int(match.group(2))


def add_months(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + n
    return index // 12, index % 12 + 1


@dataclass(frozen=True, slots=True)
class Period:
    start: float
    end: float
    label: str  # "2026-11" or "2025-12..2026-11"

    @property
    def minutes(self) -> float:
        return (self.end - self.start) / 60


def local_midnight(day: date, zone: str) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).timestamp()


def month_period(month: str, zone: str) -> Period:
    year, mon = parse_month(month)
    ny, nm = add_months(year, mon, 1)
    return Period(
        local_midnight(date(year, mon, 1), zone), local_midnight(date(ny, nm, 1), zone), month
    )


def trailing_year(month: str, zone: str) -> Period:
    """The 12 months ending with `month` (NEVI's annual figure, computed every month)."""
    year, mon = parse_month(month)
    fy, fm = add_months(year, mon, -11)
    ny, nm = add_months(year, mon, 1)
    return Period(
        local_midnight(date(fy, fm, 1), zone),
        local_midnight(date(ny, nm, 1), zone),
        f"{fy:04d}-{fm:02d}..{month}",
    )


def iso_local(ts: float, zone: str) -> str:
    """A moment as local time with its offset, to the minute (what the report shows)."""
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).isoformat(timespec="minutes")
