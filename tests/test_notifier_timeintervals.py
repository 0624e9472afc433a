"""Recurring time intervals, in the interval's own time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from notifier.timeintervals import IntervalSpec, in_interval

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
