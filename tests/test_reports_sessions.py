"""Session outcomes and session KPIs (reports.kpis), against hand-computed answers."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import pytest
from pydantic import ValidationError

from reports.config import SessionSuccessConfig
from reports.kpis import (
    classify_sessions,
    failure_breakdown,
    match_plug_ins,
    session_kpis,
)

NAN = math.nan


def ts(text: str) -> float:
    """'2024-03-31 23:50' (UTC) as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


T0 = ts("2024-03-10 08:00")


def session(session_id: str, **fields: object) -> dict[str, object]:
    """A completed, successful-looking session on C1-1 at T0 unless fields say otherwise."""
    row: dict[str, object] = {
        "session_id": session_id,
        "charger_id": "C1",
        "connector_id": 1,
        "site": "north",
        "id_tag": "TAG1",
        "started_at": T0,
        "stopped_at": T0 + 3600,
        "energy_wh": 10_000.0,
        "peak_power_w": 50_000.0,
        "first_power_at": T0 + 30,
        "last_power_at": T0 + 3000,
        "stop_reason": "Local",
        "error_code": None,
        "auth_status": "Accepted",
    }
    row.update(fields)
    return row


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def plugs(*rows: tuple[str, int, float], site: str | None = "north") -> pd.DataFrame:
    return pd.DataFrame(
        [{"charger_id": c, "connector_id": n, "site": site, "ts": t} for c, n, t in rows],
        columns=["charger_id", "connector_id", "site", "ts"],
    )


DEFAULT = SessionSuccessConfig()


def test_success_thresholds_at_the_boundary() -> None:
    sessions = frame(
        session("at-min-energy", energy_wh=500.0, stopped_at=T0 + 121),  # ≥ 500 Wh, > 120 s
        session("just-below-energy", energy_wh=499.9),
        session("exactly-120s", stopped_at=T0 + 120),  # "more than" 120 s: 120 fails
        session("no-meter", energy_wh=NAN),  # nothing metered = 0 Wh
    )
    out = classify_sessions(sessions, DEFAULT).set_index("session_id")
    assert out.loc["at-min-energy", "outcome"] == "successful"
    assert out.loc["at-min-energy", "failure_reason"] is None
    assert out.loc["just-below-energy", "failure_reason"] == "insufficient energy"
    assert out.loc["exactly-120s", "outcome"] == "failed"
    assert out.loc["exactly-120s", "failure_reason"] == "too short"
    assert out.loc["no-meter", "failure_reason"] == "insufficient energy"
    assert out.loc["exactly-120s", "duration_s"] == 120.0


def test_thresholds_are_configurable() -> None:
    sessions = frame(session("a", energy_wh=800.0, stopped_at=T0 + 200))
    strict = SessionSuccessConfig(min_energy_wh=1000, min_duration="5m")
    # 800 Wh < 1000 Wh → insufficient energy comes before too short (200 s ≤ 300 s)
    assert classify_sessions(sessions, strict)["failure_reason"].tolist() == ["insufficient energy"]
    assert classify_sessions(sessions, DEFAULT)["outcome"].tolist() == ["successful"]
    assert SessionSuccessConfig(min_duration="2m").min_duration == 120.0
    with pytest.raises(ValidationError):
        SessionSuccessConfig(min_energy_wh=-1)
    with pytest.raises(ValidationError):
        SessionSuccessConfig(min_threshold=1)  # unknown key


def test_failure_reason_order_error_code_then_stop_reason() -> None:
    sessions = frame(
        session("fault", error_code="GroundFailure"),
        session("cx-and-estop", error_code="CX002", stop_reason="EmergencyStop", energy_wh=0.0),
        session("power-loss", stop_reason="PowerLoss"),
        session("noerror-local", error_code="NoError", stop_reason="Local"),
        session("other-is-normal", stop_reason="Other"),
        session("open", stopped_at=NAN, last_power_at=NAN),
    )
    out = classify_sessions(sessions, DEFAULT).set_index("session_id")
    assert out.loc["fault", "failure_reason"] == "GroundFailure"
    assert out.loc["cx-and-estop", "failure_reason"] == "CX002"
    assert out.loc["power-loss", "failure_reason"] == "PowerLoss"
    assert out.loc["noerror-local", "outcome"] == "successful"
    assert out.loc["other-is-normal", "outcome"] == "successful"
    assert out.loc["open", "outcome"] == "open"
    assert out.loc["open", "failure_reason"] is None
    breakdown = failure_breakdown(out.reset_index())
    assert dict(zip(breakdown["failure_reason"], breakdown["sessions"], strict=True)) == {
        "CX002": 1,
        "GroundFailure": 1,
        "PowerLoss": 1,
    }


def test_session_spanning_midnight_and_month_end_keeps_its_whole_energy() -> None:
    # 2024-03-31 23:50 → 2024-04-01 00:40 UTC: 50 min, 20 kWh, all of it in the March report
    start, stop = ts("2024-03-31 23:50"), ts("2024-04-01 00:40")
    sessions = frame(
        session(
            "late",
            started_at=start,
            stopped_at=stop,
            energy_wh=20_000.0,
            first_power_at=start + 60,
            last_power_at=stop - 600,
        )
    )
    kpis = session_kpis(sessions, plugs(), DEFAULT).iloc[0]
    assert kpis["energy_kwh"] == 20.0
    assert kpis["mean_duration_min"] == 50.0
    assert kpis["idle_min_total"] == 10.0  # stopped 600 s after the last power
    assert kpis["charge_start_s_mean"] == 60.0
    assert kpis["successful"] == 1


def test_network_kpis_hand_computed() -> None:
    sessions = frame(
        # 60 min, idle 10 min (3000 → 3600 s), 10 kWh, 50 kW
        session("s1"),
        # 30 min, idle 0 (last power = stop), 5 kWh, 120 kW; starts after 90 s
        session(
            "s2",
            connector_id=2,
            stopped_at=T0 + 1800,
            energy_wh=5_000.0,
            peak_power_w=120_000.0,
            first_power_at=T0 + 90,
            last_power_at=T0 + 1800,
        ),
        # failed: never drew power, 0 Wh, 5 min
        session(
            "s3",
            charger_id="C2",
            stopped_at=T0 + 300,
            energy_wh=0.0,
            peak_power_w=0.0,
            first_power_at=NAN,
            last_power_at=NAN,
        ),
    )
    k = session_kpis(sessions, plugs(), DEFAULT).iloc[0]
    assert (k["sessions"], k["completed"], k["successful"], k["failed"]) == (3, 3, 2, 1)
    assert k["energy_kwh"] == 15.0  # 10 + 5 + 0
    assert k["peak_kw"] == 120.0
    assert k["mean_duration_min"] == pytest.approx((60 + 30 + 5) / 3)
    assert k["idle_min_total"] == 10.0  # s3 has no last power: not idle, just failed
    assert k["idle_min_mean"] == 5.0  # (10 + 0) / 2
    assert k["charge_start_s_mean"] == 60.0  # (30 + 90) / 2
    # no plug-ins recorded: each session is its own attempt → 2/3 and 2/3
    assert k["attempts"] == 3
    assert k["session_success"] == pytest.approx(2 / 3)
    assert k["charge_start_success"] == pytest.approx(2 / 3)


def _attempt_fixture() -> tuple[pd.DataFrame, pd.DataFrame]:
    """C1-1: four plug-ins, three sessions; C1-2: one session without any plug-in."""
    sessions = frame(
        # follows the plug-in at T0+300 (the one at T0 was abandoned: a re-plug came first)
        session("s1", started_at=T0 + 330, stopped_at=T0 + 3600, first_power_at=T0 + 360),
        # 700 s after the plug-in at T0+7200 (> 600 s window): an attempt of its own; no power
        session(
            "s2",
            started_at=T0 + 7900,
            stopped_at=T0 + 8200,
            energy_wh=0.0,
            first_power_at=NAN,
            last_power_at=NAN,
        ),
        # still open at report time, follows the plug-in at T0+10000, power after 150 s
        session(
            "s4",
            started_at=T0 + 10_010,
            stopped_at=NAN,
            first_power_at=T0 + 10_160,
            last_power_at=NAN,
        ),
        # C1-2, remote start without a Preparing: power after 60 s
        session(
            "s3",
            connector_id=2,
            started_at=T0 + 500,
            stopped_at=T0 + 4000,
            first_power_at=T0 + 560,
        ),
    )
    plug_ins = plugs(
        ("C1", 1, T0),
        ("C1", 1, T0 + 300),
        ("C1", 1, T0 + 3900),  # nobody started a session
        ("C1", 1, T0 + 7200),
        ("C1", 1, T0 + 10_000),
    )
    return sessions, plug_ins


def test_plug_ins_are_matched_to_the_session_that_followed() -> None:
    sessions, plug_ins = _attempt_fixture()
    matched = match_plug_ins(sessions, plug_ins, DEFAULT)
    assert matched["session_id"].tolist() == [None, "s1", None, None, "s4"]


def test_charge_attempts_with_plug_ins_without_sessions() -> None:
    sessions, plug_ins = _attempt_fixture()
    k = session_kpis(sessions, plug_ins, DEFAULT).iloc[0]
    # attempts = 4 sessions + 3 plug-ins not followed (T0, T0+3900, T0+7200) = 7
    assert (k["sessions"], k["plug_ins"], k["unmatched_plug_ins"], k["attempts"]) == (4, 5, 3, 7)
    # successful: s1, s3; s4 is open → left out of the denominator: 2 / (7 − 1)
    assert k["session_success"] == pytest.approx(2 / 6)
    # delivered power: s1, s3, s4 → 3 / 7
    assert k["charge_start_success"] == pytest.approx(3 / 7)
    # charge start times 30 (s1), 60 (s3), 150 (s4) s: mean 80, median 60
    assert k["charge_start_s_mean"] == 80.0
    assert k["charge_start_s_median"] == 60.0

    ports = session_kpis(sessions, plug_ins, DEFAULT, by="port").set_index("connector_id")
    # C1-1: 3 sessions + 3 unmatched = 6 attempts, 1 open, 1 successful → 1/5; power 2/6
    assert ports.loc[1, "attempts"] == 6
    assert ports.loc[1, "session_success"] == pytest.approx(1 / 5)
    assert ports.loc[1, "charge_start_success"] == pytest.approx(2 / 6)
    # C1-2: one session, no plug-in → 1/1
    assert ports.loc[2, "plug_ins"] == 0
    assert ports.loc[2, "session_success"] == 1.0


def test_attempt_window_is_exclusive_at_its_end() -> None:
    plug_ins = plugs(("C1", 1, T0))
    inside = frame(session("in", started_at=T0 + 599, stopped_at=T0 + 4000))
    at_end = frame(session("out", started_at=T0 + 600, stopped_at=T0 + 4000))
    assert match_plug_ins(inside, plug_ins, DEFAULT)["session_id"].tolist() == ["in"]
    assert match_plug_ins(at_end, plug_ins, DEFAULT)["session_id"].tolist() == [None]
    # a plug-in at the very second the session starts is followed by it
    same = frame(session("same", started_at=T0, stopped_at=T0 + 4000))
    assert match_plug_ins(same, plug_ins, DEFAULT)["session_id"].tolist() == ["same"]


def test_plug_ins_without_any_session_give_zero_rates_not_errors() -> None:
    empty = frame(session("x")).iloc[0:0]
    k = session_kpis(empty, plugs(("C1", 1, T0), ("C1", 1, T0 + 60)), DEFAULT).iloc[0]
    assert (k["sessions"], k["attempts"]) == (0, 2)
    assert k["session_success"] == 0.0
    assert k["charge_start_success"] == 0.0


def test_per_site_and_charger_groups_keep_sessions_without_site() -> None:
    sessions = frame(
        session("a"),
        session("b", charger_id="C9", site=None, energy_wh=2_000.0),
    )
    sites = session_kpis(sessions, plugs(), DEFAULT, by="site")
    by_site = dict(zip(sites["site"], sites["energy_kwh"], strict=True))
    assert by_site == {"north": 10.0, None: 2.0}
    chargers = session_kpis(sessions, plugs(), DEFAULT, by="charger")
    assert sorted(chargers["charger_id"]) == ["C1", "C9"]
    with pytest.raises(ValueError, match="by must be one of"):
        session_kpis(sessions, plugs(), DEFAULT, by="country")  # type: ignore[arg-type]


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"lacks column.*energy_wh"):
        classify_sessions(frame(session("a")).drop(columns="energy_wh"), DEFAULT)


def test_an_empty_month_still_has_a_network_row() -> None:
    empty = frame(session("x")).iloc[0:0]
    k = session_kpis(empty, plugs(), DEFAULT)
    assert len(k) == 1
    assert (k.iloc[0]["sessions"], k.iloc[0]["attempts"], k.iloc[0]["energy_kwh"]) == (0, 0, 0.0)
    assert math.isnan(k.iloc[0]["session_success"])  # 0 / 0: no figure, not 0 %
    assert session_kpis(empty, plugs(), DEFAULT, by="site").empty
