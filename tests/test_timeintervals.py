"""Recurring time intervals, in the interval's own time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from chargewatch.timeintervals import IntervalSpec, in_interval, spans, spans_any

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, tz: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


NIGHTLY = IntervalSpec(
    times=[
        {"start_time": "22:00", "end_time": "24:00"},
        {"start_time": "00:00", "end_time": "02:00"},
    ],
    weekdays=["monday:friday"],
    location="Europe/Berlin",
)


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        ("2026-11-23T22:00", True),  # Monday 22:00 local: start is inclusive
        ("2026-11-23T21:59", False),
        ("2026-11-24T01:59", True),
        ("2026-11-24T02:00", False),  # end is exclusive
        ("2026-11-28T23:00", False),  # Saturday
        # across the daylight-saving change (29 March 2026): still 22:00 local time
        ("2026-03-27T22:30", True),
        ("2026-03-30T22:30", True),
        ("2026-03-30T21:30", False),
    ],
)
def test_nightly_window_on_weekdays_in_local_time(moment: str, inside: bool) -> None:
    assert in_interval(NIGHTLY, at(moment)) is inside


def test_the_same_utc_moment_differs_by_zone() -> None:
    utc_2130 = at("2026-07-01T21:30", ZoneInfo("UTC"))  # 23:30 in Berlin (summer time)
    assert in_interval(NIGHTLY, utc_2130)
    assert not in_interval(NIGHTLY.model_copy(update={"location": "UTC"}), utc_2130)


def test_days_of_month_months_and_years() -> None:
    last_days = IntervalSpec(days_of_month=["-2:-1"], months=["january:march", 12], years=[2026])
    assert in_interval(last_days, at("2026-02-28T12:00", ZoneInfo("UTC")))
    assert in_interval(last_days, at("2026-02-27T12:00", ZoneInfo("UTC")))
    assert not in_interval(last_days, at("2026-02-26T12:00", ZoneInfo("UTC")))
    assert in_interval(last_days, at("2026-12-31T12:00", ZoneInfo("UTC")))
    assert not in_interval(last_days, at("2026-04-30T12:00", ZoneInfo("UTC")))
    assert not in_interval(last_days, at("2027-01-31T12:00", ZoneInfo("UTC")))


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"weekdays": ["mondays"]}, "unknown weekday 'mondays'"),
        ({"times": [{"start_time": "25:00", "end_time": "26:00"}]}, "not a time of day"),
        ({"months": ["march:january"]}, "runs forward"),
        ({"days_of_month": [32]}, "1..31"),
        ({"location": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_bad_intervals_say_why(spec: dict, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        IntervalSpec.model_validate(spec)


# ---- spans: the same windows as stretches of time (the SLA reports' exclusions) -----------
def test_spans_keep_wall_clock_hours_across_the_dst_change() -> None:
    """Berlin leaves summer time on Sunday 2026-10-25: 22:00 local is 20:00 UTC before
    and 21:00 UTC after, and each weekday night is one span 22:00-02:00 local."""
    start, end = at("2026-10-22T00:00"), at("2026-10-28T00:00")
    got = spans(NIGHTLY, start, end)
    utc = ZoneInfo("UTC")
    expected = [
        (at("2026-10-22T00:00"), at("2026-10-22T02:00")),  # Thursday's early hours
        (at("2026-10-22T22:00"), at("2026-10-23T02:00")),  # Thursday night into Friday
        (at("2026-10-23T22:00"), at("2026-10-24T00:00")),  # Friday night: Saturday is out
        (at("2026-10-26T00:00"), at("2026-10-26T02:00")),  # Monday's early hours
        (at("2026-10-26T22:00"), at("2026-10-27T02:00")),
        (at("2026-10-27T22:00"), at("2026-10-28T00:00")),  # clipped at the end
    ]
    assert got == expected
    assert datetime.fromtimestamp(got[4][0], utc).hour == 21  # winter time: UTC+1
    assert datetime.fromtimestamp(got[1][0], utc).hour == 20  # summer time: UTC+2


@pytest.mark.parametrize(
    "spec",
    [
        NIGHTLY,
        IntervalSpec(days_of_month=[-1], location="America/New_York"),
        IntervalSpec(weekdays=["saturday:sunday"], months=["march"], location="Europe/London"),
        IntervalSpec(
            times=[{"start_time": "01:30", "end_time": "03:30"}], location="Europe/Berlin"
        ),
    ],
)
def test_spans_agree_with_in_interval_minute_by_minute(spec: IntervalSpec) -> None:
    """Over five weeks around the spring change, a minute is in a span iff in_interval."""
    start = at("2026-03-01T00:00", ZoneInfo("UTC"))
    end = start + 35 * 86400
    got = spans(spec, start, end)
    inside = 0
    for minute in range(int(start), int(end), 60):
        in_span = any(a <= minute < b for a, b in got)
        assert in_span == in_interval(spec, minute), datetime.fromtimestamp(minute, BERLIN)
        inside += in_span
    assert inside > 0


def test_spans_any_merges_overlapping_windows() -> None:
    a = IntervalSpec(times=[{"start_time": "08:00", "end_time": "12:00"}])
    b = IntervalSpec(times=[{"start_time": "11:00", "end_time": "14:00"}])
    day = at("2026-06-01T00:00", ZoneInfo("UTC"))
    assert spans_any([a, b], day, day + 86400) == [(day + 8 * 3600, day + 14 * 3600)]
