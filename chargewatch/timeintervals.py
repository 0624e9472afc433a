"""Time intervals, as in Alertmanager's `time_intervals`: recurring windows used to mute
notifications (maintenance) or to allow them only then (business hours, quiet hours).

An interval matches a moment when every field it gives matches (a field left out matches
anything); a named set of intervals matches when any of them does. Times are in the
interval's `location` (an IANA time zone, default UTC), so a window stays at 22:00 local
time across a daylight-saving change. `times` start inclusive and end exclusive; `24:00`
ends at midnight. Negative days of month count from the month's end (-1 is the last day).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = tuple(m.lower() for m in calendar.month_name[1:])


class TimeRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start_time: str
    end_time: str

    @field_validator("start_time", "end_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        _minutes(value)
        return value

    @model_validator(mode="after")
    def _forward(self) -> TimeRange:
        if _minutes(self.start_time) >= _minutes(self.end_time):
            raise ValueError(
                f"{self.start_time}-{self.end_time} does not run forward: a range across "
                "midnight is two ranges (22:00-24:00 and 00:00-06:00)"
            )
        return self


class IntervalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    times: list[TimeRange] = Field(default_factory=list)
    weekdays: list[str] = Field(default_factory=list)  # "monday", "monday:friday"
    days_of_month: list[str | int] = Field(default_factory=list)  # 1, "1:7", -1
    months: list[str | int] = Field(default_factory=list)  # "january:march", 12
    years: list[str | int] = Field(default_factory=list)  # 2026, "2026:2027"
    location: str = "UTC"

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, values: list[str]) -> list[str]:
        for lo, hi in _ranges(values, _weekday):
            if lo > hi:
                raise ValueError("a weekday range runs forward (monday:friday)")
        return values

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, values: list[str | int]) -> list[str | int]:
        for lo, hi in _ranges(values, int):
            if not (1 <= abs(lo) <= 31 and 1 <= abs(hi) <= 31):
                raise ValueError("days of month are 1..31 or -31..-1")
            if (lo > 0) == (hi > 0) and lo > hi:
                raise ValueError("a day range runs forward (1:7, -7:-1)")
        return values

    @field_validator("months")
    @classmethod
    def _months(cls, values: list[str | int]) -> list[str | int]:
        for lo, hi in _ranges(values, _month):
            if lo > hi:
                raise ValueError("a month range runs forward (january:march)")
        return values

    @field_validator("years")
    @classmethod
    def _years(cls, values: list[str | int]) -> list[str | int]:
        for lo, hi in _ranges(values, int):
            if lo > hi:
                raise ValueError("a year range runs forward (2026:2027)")
        return values

    @field_validator("location")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name like Europe/Berlin)"
            ) from None
        return value


class MaintenanceScope(BaseModel):
    """Which chargers a maintenance window covers (nothing listed: the whole network)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sites: list[str] = Field(default_factory=list)
    chargers: list[str] = Field(default_factory=list)

    def covers(self, charger_id: str, site: str | None) -> bool:
        if not self.sites and not self.chargers:
            return True
        return charger_id in self.chargers or (site is not None and site in self.sites)


class NamedIntervals(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    time_intervals: list[IntervalSpec] = Field(min_length=1)
    # set: the windows are scheduled maintenance, excluded from the SLA reports' outages
    maintenance: MaintenanceScope | None = None


def in_interval(spec: IntervalSpec, ts: float) -> bool:
    """Whether the moment `ts` (Unix time) falls in the interval."""
    t = datetime.fromtimestamp(ts, ZoneInfo(spec.location))
    if spec.times:
        minute = t.hour * 60 + t.minute
        if not any(_minutes(r.start_time) <= minute < _minutes(r.end_time) for r in spec.times):
            return False
    return _day_matches(spec, t.date())


def in_any(intervals: Sequence[IntervalSpec], ts: float) -> bool:
    return any(in_interval(spec, ts) for spec in intervals)


def spans(spec: IntervalSpec, start: float, end: float) -> list[tuple[float, float]]:
    """The stretches of [start, end) inside the interval, as sorted (from, to) Unix times.

    Walks the local calendar day by day (not minute by minute), so a year of a weekly
    window costs a few hundred steps; local clock times are converted per day, so a window
    keeps its wall-clock hours across a daylight-saving change.
    """
    zone = ZoneInfo(spec.location)
    day = datetime.fromtimestamp(start, zone).date()
    last = datetime.fromtimestamp(end, zone).date()
    ranges = sorted((_minutes(r.start_time), _minutes(r.end_time)) for r in spec.times)
    ranges = ranges or [(0, 1440)]
    out: list[tuple[float, float]] = []
    while day <= last:
        if _day_matches(spec, day):
            midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
            for lo, hi in ranges:
                a = _local(midnight, lo)
                b = _local(midnight, hi)
                a, b = max(a, start), min(b, end)
                if a < b:
                    if out and out[-1][1] >= a:
                        out[-1] = (out[-1][0], max(out[-1][1], b))
                    else:
                        out.append((a, b))
        day += timedelta(days=1)
    return out


def spans_any(
    intervals: Sequence[IntervalSpec], start: float, end: float
) -> list[tuple[float, float]]:
    """The union of several intervals' spans within [start, end), merged and sorted."""
    merged: list[tuple[float, float]] = []
    for a, b in sorted(s for spec in intervals for s in spans(spec, start, end)):
        if merged and merged[-1][1] >= a:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _local(midnight: datetime, minute: int) -> float:
    """Unix time of a wall-clock minute of a local day (24:00 is the next midnight)."""
    if minute >= 1440:
        nxt = (midnight + timedelta(days=1)).date()
        return datetime(nxt.year, nxt.month, nxt.day, tzinfo=midnight.tzinfo).timestamp()
    return midnight.replace(hour=minute // 60, minute=minute % 60).timestamp()


def _day_matches(spec: IntervalSpec, day: date) -> bool:
    if spec.weekdays and not _within(day.weekday(), _ranges(spec.weekdays, _weekday)):
        return False
    if spec.days_of_month:
        last = calendar.monthrange(day.year, day.month)[1]
        ranges = [(_day(lo, last), _day(hi, last)) for lo, hi in _ranges(spec.days_of_month, int)]
        if not _within(day.day, ranges):
            return False
    if spec.months and not _within(day.month, _ranges(spec.months, _month)):
        return False
    return not (spec.years and not _within(day.year, _ranges(spec.years, int)))


# ---- parsing helpers ------------------------------------------------------------------------
def _minutes(text: str) -> int:
    try:
        hours, minutes = (int(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day (HH:MM)") from None
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def _weekday(text: Any) -> int:
    name = str(text).strip().lower()
    if name not in WEEKDAYS:
        raise ValueError(f"unknown weekday {text!r}")
    return WEEKDAYS.index(name)


def _month(text: Any) -> int:
    if isinstance(text, int) or str(text).strip().isdigit():
        number = int(text)
        if not 1 <= number <= 12:
            raise ValueError(f"month {number} is not 1..12")
        return number
    name = str(text).strip().lower()
    if name not in MONTHS:
        raise ValueError(f"unknown month {text!r}")
    return MONTHS.index(name) + 1


def _ranges(values: Iterable[Any], convert: Any) -> list[tuple[int, int]]:
    """`a:b` or `a` items as inclusive (low, high) pairs."""
    out = []
    for value in values:
        text = str(value)
        lo_text, _, hi_text = text.partition(":")
        try:
            out.append((convert(lo_text), convert(hi_text or lo_text)))
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}") from None
    return out


def _day(day: int, last: int) -> int:
    return last + 1 + day if day < 0 else day


def _within(value: int, ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)
