"""The month's sessions as the report reads them from the store: attributed to the month
they started in, in their site's time zone, with their whole energy; peak power and the
end of charging from the meter samples; priced by the tariff valid at their start."""

from __future__ import annotations

import pytest
from test_reports_uptime import t, write

from chargewatch import events as ev
from chargewatch.config import parse_config
from reports.monthly import build_report

NY = "America/New_York"
CONFIG = """
data_dir: {data_dir}
sites:
  - id: north
    chargers: [A]
  - id: east
    timezone: America/New_York
    chargers: [NY]
reports:
  tariffs:
    - {{id: old, sites: [north], currency: EUR, valid_from: 2026-01-01, valid_to: 2026-11-15,
        per_kwh: 0.40}}
    - {{id: new, sites: [north], currency: EUR, valid_from: 2026-11-15, per_kwh: 0.50,
        idle_fee_per_minute: 0.10, idle_grace_minutes: 10}}
"""


def session(cid: str, sid: str, start: float, stop: float, kwh: float, meter=()) -> list:
    out: list[ev.Event] = [
        ev.SessionStarted(cid, start, session_id=sid, transaction_id=sid, connector_id=1,
                          id_tag="TAG", meter_start_wh=0.0, started_at=start),
    ]  # fmt: skip
    for at, energy, power in meter:
        out.append(
            ev.MeterValuesReported(cid, at, connector_id=1, session_id=sid, samples=(
                ev.Sample(at, "Energy.Active.Import.Register", energy, "Wh"),
                ev.Sample(at, "Power.Active.Import", power, "W")))
        )  # fmt: skip
    out.append(ev.SessionStopped(cid, stop, session_id=sid, meter_stop_wh=kwh * 1000,
                                 stopped_at=stop, energy_wh=kwh * 1000))  # fmt: skip
    return out


@pytest.fixture
def config(tmp_path):
    config = parse_config(CONFIG.format(data_dir=tmp_path / "var"))
    write(
        config.data_dir,
        [
            # north, UTC: 10 kWh on 10 Nov under the old tariff: 10 × 0.40 = 4.00
            *session("A", "s4", t("2026-11-10T08:00"), t("2026-11-10T09:00"), 10),
            # north: 30 Nov 23:30 - 1 Dec 00:40, 20 kWh, charging ended 00:20: November's,
            # new tariff: 20 × 0.50 = 10.00, idle 20 min − 10 grace = 10 × 0.10 = 1.00
            *session("A", "s2", t("2026-11-30T23:30"), t("2026-12-01T00:40"), 20, meter=[
                (t("2026-11-30T23:50"), 10_000, 11_000), (t("2026-12-01T00:20"), 20_000, 7_000),
                (t("2026-12-01T00:30"), 20_000, 0)]),
            # north: 1 Dec 00:10 UTC: December's
            *session("A", "s3", t("2026-12-01T00:10"), t("2026-12-01T01:00"), 5),
            # east: 30 Nov 22:00 New York = 1 Dec 03:00 UTC: November's in New York
            *session("NY", "s1", t("2026-11-30T22:00", NY), t("2026-12-01T01:30", NY), 30),
        ],
    )  # fmt: skip
    return config


def test_sessions_belong_to_the_month_they_started_in_their_sites_calendar(config) -> None:
    november = build_report(config, "2026-11", now=t("2026-12-05T00:00"))
    december = build_report(config, "2026-12", now=t("2026-12-05T00:00"))
    assert sorted(november.sessions["session_id"]) == ["s1", "s2", "s4"]
    assert sorted(december.sessions["session_id"]) == ["s3"]
    s2 = november.sessions.set_index("session_id").loc["s2"]
    assert s2["energy_wh"] == 20_000  # the whole session, also the part in December
    assert s2["peak_power_w"] == 11_000
    assert s2["last_power_at"] == t("2026-12-01T00:20")
    assert november.kpis_network.iloc[0]["energy_kwh"] == pytest.approx(60.0)


def test_a_tariff_change_mid_month_and_an_idle_fee(config) -> None:
    report = build_report(config, "2026-11", now=t("2026-12-05T00:00"))
    priced = report.sessions.set_index("session_id")
    assert priced.loc["s4", "tariff_id"] == "old" and float(priced.loc["s4", "total"]) == 4.00
    assert priced.loc["s2", "tariff_id"] == "new"
    assert float(priced.loc["s2", "idle_cost"]) == 1.00
    assert float(priced.loc["s2", "total"]) == 11.00
    north = report.revenue_sites.set_index("site").loc["north"]
    assert float(north["total"]) == 15.00 and north["currency"] == "EUR"
    assert report.unpriced == 1  # s1: the east site has no tariff


def test_a_session_whose_meter_was_reset_has_unknown_energy_not_negative(tmp_path) -> None:
    """meterStart 50,000 Wh, meterStop 1,200 Wh (the meter was replaced): the energy is
    unknown; the session is reported, its EV-ChART energy field left empty."""
    config = parse_config(f"data_dir: {tmp_path / 'var'}\n")
    start, stop = t("2026-11-10T08:00"), t("2026-11-10T09:00")
    write(
        config.data_dir,
        [
            ev.SessionStarted("R", start, session_id="r1", transaction_id="r1", connector_id=1,
                              meter_start_wh=50_000.0, started_at=start),
            ev.SessionStopped("R", stop, session_id="r1", meter_stop_wh=1_200.0,
                              stopped_at=stop, energy_wh=-48_800.0),
        ],
    )  # fmt: skip
    report = build_report(config, "2026-11", now=t("2026-12-01T00:00"))
    assert report.sessions["energy_wh"].isna().tolist() == [True]
    [row] = report.evchart[2].to_dict("records")
    assert row["energy_kwh"] == "" and row["session_id"] == "r1"
