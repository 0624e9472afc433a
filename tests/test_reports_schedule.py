"""When monthly reports are due (reports/schedule.py): pure functions of the clock, the
config and what report_runs says was done."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from reports.schedule import (
    DONE,
    ERROR,
    FAILED,
    NETWORK,
    RUNNING,
    ReportScheduleConfig,
    Run,
    check_receivers,
    due_at,
    due_months,
    latest_due,
    next_due,
    next_wakeup,
    out_dir_for,
    pending,
    shift,
)

SINCE_2025 = datetime(2025, 1, 1, tzinfo=UTC).timestamp()  # the journal's first event


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def upto(month: str) -> set[str]:
    """Every month of the two years up to `month`: done before a test's moment."""
    return {shift(month, -i) for i in range(24)}


def cfg(**kw: object) -> ReportScheduleConfig:
    return ReportScheduleConfig.model_validate(kw)


def test_month_arithmetic_crosses_years() -> None:
    assert shift("2026-01", -1) == "2025-12"
    assert shift("2025-12", 1) == "2026-01"
    assert shift("2026-03", -15) == "2024-12"


def test_due_shortly_after_midnight_on_the_first_utc() -> None:
    s = cfg()
    assert due_at("2026-11", s) == at(2026, 12, 1, 0, 30)
    assert due_months(at(2026, 12, 1, 0, 29), s, upto("2026-10"), SINCE_2025) == []
    assert due_months(at(2026, 12, 1, 0, 30), s, upto("2026-10"), SINCE_2025) == ["2026-11"]


def test_new_york_is_due_five_hours_after_utc() -> None:
    ny, utc = cfg(timezone="America/New_York"), cfg()
    assert due_at("2026-11", ny) == at(2026, 12, 1, 5, 30)  # EST, UTC-5
    now = at(2026, 12, 1, 3, 0)  # 03:00 UTC = 22:00 on 30 November in New York
    assert latest_due(now, utc) == "2026-11"
    assert latest_due(now, ny) == "2026-10"
    assert due_months(now, ny, upto("2026-10"), SINCE_2025) == []
    assert due_months(at(2026, 12, 1, 5, 30), ny, upto("2026-10"), SINCE_2025) == ["2026-11"]


def test_day_and_time_of_day_are_configurable() -> None:
    s = cfg(day_of_month=5, time="06:15", timezone="Europe/Berlin")
    assert due_at("2026-11", s) == at(2026, 12, 5, 5, 15)  # CET, UTC+1
    assert due_at("2026-06", s) == at(2026, 7, 5, 4, 15)  # CEST, UTC+2
    assert latest_due(at(2026, 12, 4, 23, 0), s) == "2026-10"
    assert next_due(at(2026, 12, 4, 23, 0), s) == at(2026, 12, 5, 5, 15)


def test_started_on_the_third_produces_last_month_now() -> None:
    assert due_months(at(2026, 12, 3, 9, 0), cfg(), upto("2026-10"), SINCE_2025) == ["2026-11"]


def test_restart_after_success_does_not_redo() -> None:
    done = upto("2026-11")
    assert due_months(at(2026, 12, 1, 0, 31), cfg(), done, SINCE_2025) == []
    assert due_months(at(2026, 12, 31, 23, 59), cfg(), done, SINCE_2025) == []


def test_down_for_months_catches_up_oldest_first_bounded() -> None:
    done = upto("2026-04")  # down from May to December
    now = at(2026, 12, 2, 8, 0)
    assert due_months(now, cfg(), done, SINCE_2025) == ["2026-09", "2026-10", "2026-11"]
    assert due_months(now, cfg(catch_up_months=1), done, SINCE_2025) == ["2026-11"]
    six = due_months(now, cfg(catch_up_months=6), done, SINCE_2025)
    assert six == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]


def test_months_before_the_first_data_are_not_due() -> None:
    now = at(2026, 12, 2)
    first = datetime(2026, 10, 20, tzinfo=UTC).timestamp()
    assert due_months(now, cfg(), (), first) == ["2026-10", "2026-11"]
    assert due_months(now, cfg(), (), None) == []  # an empty journal: nothing to report


def test_dst_end_on_the_first_runs_at_the_first_of_the_two_times() -> None:
    # New York falls back on Sunday 2026-11-01 at 02:00: 01:30 happens twice
    s = cfg(time="01:30", timezone="America/New_York")
    assert due_at("2026-10", s) == at(2026, 11, 1, 5, 30)  # 01:30 EDT, not EST
    assert due_months(at(2026, 11, 1, 5, 29), s, upto("2026-09"), SINCE_2025) == []
    assert due_months(at(2026, 11, 1, 5, 30), s, upto("2026-09"), SINCE_2025) == ["2026-10"]


def test_dst_start_skipping_the_time_runs_at_the_old_offset() -> None:
    # Berlin springs forward on Sunday 2027-03-28 at 02:00: 02:30 does not exist
    s = cfg(day_of_month=28, time="02:30", timezone="Europe/Berlin")
    assert due_at("2027-02", s) == at(2027, 3, 28, 1, 30)  # 02:30 CET = 03:30 CEST
    assert due_at("2027-03", s) == at(2027, 4, 28, 0, 30)  # CEST from then on


def run(month: str, state: str, site: str = NETWORK, **kw: object) -> Run:
    return Run(month, site, state, **kw)  # type: ignore[arg-type]


def runs(*items: Run) -> dict[tuple[str, str], Run]:
    return {(r.month, r.site): r for r in items}


def test_pending_runs_each_scope_once() -> None:
    s = cfg(sites=True)
    now = at(2026, 12, 1, 1, 0)
    done = runs(
        run("2026-09", DONE), run("2026-09", DONE, "north"), run("2026-09", DONE, "south"),
        run("2026-10", DONE), run("2026-10", DONE, "north"), run("2026-10", FAILED, "south"),
        run("2026-11", DONE),
    )  # fmt: skip
    assert pending(now, s, ["north", "south"], done, SINCE_2025) == [
        ("2026-11", "north"),
        ("2026-11", "south"),
    ]
    assert pending(now, cfg(), ["north", "south"], done, SINCE_2025) == []  # sites: false


def test_a_failed_run_is_retried_after_retry_after_until_max_attempts() -> None:
    s = cfg(retry_after="1h", max_attempts=3)
    failed_at = at(2026, 12, 1, 0, 31).timestamp()
    before = runs(run("2026-09", DONE), run("2026-10", DONE))
    err = run("2026-11", ERROR, finished=failed_at, attempts=1, error="boom")
    state = {**before, **runs(err)}
    assert pending(at(2026, 12, 1, 1, 30), s, [], state, SINCE_2025) == []
    assert pending(at(2026, 12, 1, 1, 31), s, [], state, SINCE_2025) == [("2026-11", "")]
    assert next_wakeup(at(2026, 12, 1, 1, 0), s, [], state, SINCE_2025) == failed_at + 3600
    third = {**before, **runs(run("2026-11", ERROR, finished=failed_at, attempts=3))}
    assert pending(at(2026, 12, 9), s, [], third, SINCE_2025) == []
    assert (
        next_wakeup(at(2026, 12, 9), s, [], third, SINCE_2025) == at(2027, 1, 1, 0, 30).timestamp()
    )


def test_a_run_left_running_by_a_crash_is_redone() -> None:
    state = runs(run("2026-09", DONE), run("2026-10", DONE), run("2026-11", RUNNING, attempts=1))
    assert pending(at(2026, 12, 2), cfg(), [], state, SINCE_2025) == [("2026-11", "")]


def test_config_checks() -> None:
    assert not cfg().active and cfg(receivers=["noc"]).active
    assert cfg(enabled=True).active and not cfg(enabled=False, receivers=["noc"]).active
    for bad in (
        {"time": "24:00"},
        {"time": "7:30"},
        {"timezone": "Mars/Olympus"},
        {"day_of_month": 29},
        {"catch_up_months": 0},
        {"receivers": ["noc", "noc"]},
        {"unknown_key": 1},
    ):
        with pytest.raises(ValidationError):
            cfg(**bad)
    assert cfg(retry_after="30m").retry_after == 1800
    check_receivers(cfg(receivers=["noc"]), ["noc", "oncall"])
    with pytest.raises(ValueError, match=r"receivers\[1\]: receiver 'nobody' is not defined"):
        check_receivers(cfg(receivers=["noc", "nobody"]), ["noc"])


def test_out_dir(tmp_path: Path) -> None:
    data, base = tmp_path / "data", tmp_path / "etc"
    assert out_dir_for(cfg(), data, base, "2026-11", "") == data / "reports" / "2026-11"
    site = out_dir_for(cfg(), data, base, "2026-11", "depot/north")
    assert site == data / "reports" / "2026-11" / "sites" / "depot_north"
    rel = out_dir_for(cfg(out_dir="out"), data, base, "2026-11", "")
    assert rel == base / "out" / "2026-11"  # relative to the config file, like file: targets
