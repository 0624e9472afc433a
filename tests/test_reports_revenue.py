"""Tariffs, session prices, revenue summaries and invoices (reports.tariffs), hand-computed."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from pydantic import TypeAdapter, ValidationError

from reports.config import TariffConfig, Tariffs, check_tariffs
from reports.tariffs import (
    invoices,
    price_sessions,
    revenue_summary,
    unpriced_count,
)

NAN = math.nan


def ts(text: str) -> float:
    """'2024-03-14 22:30' (UTC) as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def session(session_id: str, start: str, minutes: float = 60, **fields: object) -> dict:
    """A session of `minutes`, power from +0 s to the end, 10 kWh, on C1-1 at site north."""
    started = ts(start)
    row = {
        "session_id": session_id,
        "charger_id": "C1",
        "connector_id": 1,
        "site": "north",
        "id_tag": "TAG1",
        "started_at": started,
        "stopped_at": started + minutes * 60,
        "energy_wh": 10_000.0,
        "peak_power_w": 22_000.0,
        "first_power_at": started,
        "last_power_at": started + minutes * 60,
        "stop_reason": "Local",
        "error_code": None,
        "auth_status": "Accepted",
    }
    row.update(fields)
    return row


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def tariff(id: str, **fields: object) -> TariffConfig:
    values: dict[str, object] = {"currency": "EUR", "valid_from": date(2024, 1, 1)}
    values.update(fields)
    return TariffConfig(id=id, **values)


def test_tariff_change_mid_month_prices_sessions_differently() -> None:
    # "march" until local midnight of 2024-03-15 (Berlin, UTC+1), then "spring"
    tariffs = [
        tariff("march", sites=["north"], valid_from=date(2024, 3, 1), valid_to=date(2024, 3, 15),
               per_kwh="0.40"),
        tariff("spring", sites=["north"], valid_from=date(2024, 3, 15), per_kwh="0.50",
               session_fee="1.00"),
    ]  # fmt: skip
    sessions = frame(
        session("before", "2024-03-14 22:30"),  # 23:30 local on the 14th
        session("after", "2024-03-14 23:30"),  # 00:30 local on the 15th
    )
    priced = price_sessions(sessions, tariffs, {"north": "Europe/Berlin"}).set_index("session_id")
    assert priced.loc["before", "tariff_id"] == "march"
    assert priced.loc["before", "total"] == 4.00  # 10 kWh × 0.40
    assert priced.loc["after", "tariff_id"] == "spring"
    assert priced.loc["after", "total"] == 6.00  # 10 kWh × 0.50 + 1.00
    assert priced.loc["after", "local_date"] == "2024-03-15"


def test_idle_fee_after_grace() -> None:
    # charging ended 10:40, grace 15 min, stopped 11:25 → 45 − 15 = 30 idle minutes billed
    start = ts("2024-03-05 10:00")
    s = session("idle", "2024-03-05 10:00", minutes=85, last_power_at=start + 40 * 60)
    t = tariff("idle", idle_fee_per_minute="0.40", idle_grace_minutes=15)
    row = price_sessions(frame(s), [t], "UTC").iloc[0]
    assert row["idle_minutes_billed"] == 30.0
    assert row["idle_cost"] == 12.00  # 30 × 0.40
    assert row["total"] == 12.00


def test_idle_within_grace_is_free_and_no_power_means_no_idle() -> None:
    start = ts("2024-03-05 10:00")
    within = session("within", "2024-03-05 10:00", minutes=50, last_power_at=start + 40 * 60)
    never = session("never", "2024-03-05 12:00", minutes=50, energy_wh=0.0,
                    first_power_at=NAN, last_power_at=NAN)  # fmt: skip
    t = tariff("idle", idle_fee_per_minute="0.40", idle_grace_minutes=15)
    priced = price_sessions(frame(within, never), [t], "UTC")
    assert priced["idle_minutes_billed"].tolist() == [0.0, 0.0]  # 10 min ≤ 15; no charging
    assert priced["total"].tolist() == [0.0, 0.0]


def test_tax_and_rounding_at_line_level() -> None:
    start = ts("2024-03-05 10:00")
    s = session(
        "taxed",
        "2024-03-05 10:00",
        minutes=45,
        energy_wh=12_345.0,
        first_power_at=start + 30,
        last_power_at=start + 30 + 40 * 60 + 40,  # 40 min 40 s of charging
    )
    t = tariff("t", per_kwh="0.395", per_minute="0.05", session_fee="0.99", tax_rate="0.19")
    row = price_sessions(frame(s), [t], "UTC").iloc[0]
    assert row["energy_cost"] == 4.88  # 12.345 × 0.395 = 4.876275
    assert row["time_cost"] == 2.03  # 40.6667 × 0.05 = 2.0333
    assert row["session_fee"] == 0.99
    assert row["subtotal"] == 7.90  # 4.88 + 2.03 + 0.99
    assert row["tax"] == 1.50  # 7.90 × 0.19 = 1.501
    assert row["total"] == 9.40


def test_half_a_cent_rounds_up_and_currency_minor_units() -> None:
    s = session("half", "2024-03-05 10:00", energy_wh=250.0)
    # 0.25 kWh × 0.50 = 0.125 → 0.13 (float round() would give 0.12); tax 0.13 × 0.5 = 0.065
    # → 0.07
    eur = price_sessions(frame(s), [tariff("e", per_kwh="0.50", tax_rate="0.5")], "UTC").iloc[0]
    assert (eur["energy_cost"], eur["tax"], eur["total"]) == (0.13, 0.07, 0.20)
    # JPY has no minor unit: 12.345 kWh × 35 = 432.075 → 432
    s = session("yen", "2024-03-05 10:00", energy_wh=12_345.0)
    jpy = price_sessions(frame(s), [tariff("j", currency="JPY", per_kwh=35)], "UTC").iloc[0]
    assert jpy["energy_cost"] == 432.0


def test_parked_minutes_and_minute_rounding() -> None:
    # 30.5 min parked; rounding up bills 31 × 0.10 = 3.10; charging 30.5 → 31 × 0.20 = 6.20
    s = session("p", "2024-03-05 10:00", minutes=30.5)
    t = tariff("p", parked_per_minute="0.10", per_minute="0.20", minute_rounding="up")
    row = price_sessions(frame(s), [t], "UTC").iloc[0]
    assert (row["parked_cost"], row["time_cost"]) == (3.10, 6.20)
    exact = price_sessions(frame(s), [tariff("x", parked_per_minute="0.10")], "UTC").iloc[0]
    assert exact["parked_cost"] == 3.05  # 30.5 × 0.10
    down = tariff("d", per_minute="0.20", minute_rounding="down")
    assert price_sessions(frame(s), [down], "UTC").iloc[0]["time_cost"] == 6.00  # 30 × 0.20


def test_site_tariff_wins_over_all_sites_and_unpriced_sessions() -> None:
    tariffs = [
        tariff("default", per_kwh="0.30"),
        tariff("north", sites=["north"], per_kwh="0.45"),
        tariff("old-south", sites=["south"], valid_to=date(2024, 2, 1), per_kwh="0.20"),
    ]
    sessions = frame(
        session("n", "2024-03-05 10:00"),
        session("s", "2024-03-05 10:00", site="south", charger_id="C7"),  # old-south expired
        session("open", "2024-03-05 12:00", stopped_at=NAN, last_power_at=NAN),
    )
    priced = price_sessions(sessions, tariffs, "UTC").set_index("session_id")
    assert priced.loc["n", "total"] == 4.50  # 10 × 0.45
    assert priced.loc["s", "tariff_id"] == "default"
    assert priced.loc["s", "total"] == 3.00  # 10 × 0.30
    assert priced.loc["open", "tariff_id"] is None
    assert math.isnan(priced.loc["open", "total"])
    assert priced.loc["open", "unpriced_reason"] == "open session"

    no_tariff = price_sessions(frame(session("x", "2023-12-31 10:00")), tariffs, "UTC")
    assert no_tariff.iloc[0]["unpriced_reason"] == "no tariff"
    assert math.isnan(no_tariff.iloc[0]["energy_cost"])
    assert unpriced_count(price_sessions(sessions, tariffs, "UTC")) == 1


def test_overlapping_tariffs_for_one_site_are_rejected_by_name() -> None:
    a = tariff("a", sites=["north"], valid_from=date(2024, 1, 1), valid_to=date(2024, 4, 1))
    b = tariff("b", sites=["north", "south"], valid_from=datetime(2024, 3, 31, 18, 0))
    with pytest.raises(ValueError, match=r"tariffs 'a' and 'b' overlap for site 'north' from "
                       r"2024-03-31T18:00:00"):  # fmt: skip
        check_tariffs([a, b])
    # back to back (valid_to is exclusive), other sites, site vs all-sites: all fine
    c = tariff("c", sites=["north"], valid_from=date(2024, 4, 1))
    d = tariff("d", sites=["south"], valid_from=date(2024, 1, 1))
    everywhere = tariff("all")
    assert check_tariffs([a, c, d, everywhere]) == [a, c, d, everywhere]
    with pytest.raises(ValueError, match="'all' and 'all2' overlap for all sites"):
        check_tariffs([everywhere, tariff("all2", valid_from=date(2030, 1, 1))])
    with pytest.raises(ValueError, match="'a' is used twice"):
        check_tariffs([a, a])
    # the config key type runs the same check
    with pytest.raises(ValidationError, match="overlap"):
        TypeAdapter(Tariffs).validate_python([a.model_dump(), b.model_dump()])


def test_tariff_fields_are_checked() -> None:
    with pytest.raises(ValidationError, match="currency"):
        tariff("x", currency="eur")
    with pytest.raises(ValidationError, match="tax_rate"):
        tariff("x", tax_rate="1.5")
    with pytest.raises(ValidationError, match="UTC offset"):
        tariff("x", valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(ValidationError, match="valid_to must be after"):
        tariff("x", valid_from=date(2024, 2, 1), valid_to=date(2024, 2, 1))
    with pytest.raises(ValidationError, match="per_kwh"):
        tariff("x", per_kwh=-0.1)


def test_site_without_time_zone_is_an_error() -> None:
    with pytest.raises(ValueError, match="no time zone for site 'north'"):
        price_sessions(frame(session("a", "2024-03-05 10:00")), [tariff("t")], {"south": "UTC"})


def _month_end_fixture() -> pd.DataFrame:
    tariffs = [tariff("t", per_kwh="0.50")]
    sessions = frame(
        # 2024-03-31 23:50 UTC: New York 19:50 on the 31st (March), Berlin 01:50 on 1 April
        session("ny", "2024-03-31 23:50", minutes=50, site="east", charger_id="E1"),
        session("ber", "2024-03-31 23:50", minutes=50, energy_wh=20_000.0),
        session("ber2", "2024-03-20 10:00", connector_id=2, id_tag="TAG2"),
        session("free", "2024-03-20 12:00", id_tag=None),
    )
    zones = {"east": "America/New_York", "north": "Europe/Berlin"}
    return price_sessions(sessions, tariffs, zones)


def test_session_spanning_month_end_belongs_to_its_local_start_month() -> None:
    priced = _month_end_fixture().set_index("session_id")
    assert priced.loc["ny", "month"] == "2024-03"
    assert priced.loc["ber", "month"] == "2024-04"
    assert priced.loc["ber", "energy_cost"] == 10.00  # the whole 20 kWh × 0.50


def test_revenue_per_site_charger_month() -> None:
    priced = _month_end_fixture()
    # ny 5.00 (east); ber 10.00, ber2 5.00, free 5.00 (north)
    sites = revenue_summary(priced, by="site").set_index("site")
    assert sites.loc["north", "total"] == 20.00
    assert sites.loc["north", "sessions"] == 3
    assert sites.loc["east", "energy_kwh"] == 10.0
    months = revenue_summary(priced, by="month").set_index("month")
    assert months.loc["2024-03", "total"] == 15.00  # ny + ber2 + free
    assert months.loc["2024-04", "total"] == 10.00  # ber
    chargers = revenue_summary(priced, by="charger")
    assert dict(zip(chargers["charger_id"], chargers["total"], strict=True)) == {
        "E1": 5.00,
        "C1": 20.00,
    }
    network = revenue_summary(priced, by="network").iloc[0]
    assert (network["currency"], network["total"], network["unpriced"]) == ("EUR", 25.00, 0)


def test_unpriced_sessions_show_as_a_currency_none_row() -> None:
    sessions = frame(
        session("priced", "2024-03-05 10:00"),
        session("unpriced", "2023-03-05 10:00"),
    )
    priced = price_sessions(sessions, [tariff("t", per_kwh="0.10")], "UTC")
    rows = revenue_summary(priced, by="site")
    assert rows["currency"].tolist() == ["EUR", None]
    assert rows["unpriced"].tolist() == [0, 1]
    assert rows["total"].iloc[0] == 1.00  # 10 × 0.10
    assert math.isnan(rows["total"].iloc[1])


def test_invoices_per_id_tag() -> None:
    sessions = frame(
        session("a1", "2024-03-05 10:00", energy_wh=12_345.0),
        session("b1", "2024-03-06 09:00", id_tag="TAG2", minutes=30),
        session("a2", "2024-03-07 10:00", minutes=90, energy_wh=7_655.0),
        session("anon", "2024-03-07 11:00", id_tag=None),
        session("old", "2023-01-01 00:00"),  # no tariff: not invoiced
    )
    t = tariff("t", valid_from=date(2024, 1, 1), per_kwh="0.40", tax_rate="0.10")
    lines, totals = invoices(price_sessions(sessions, [t], "UTC"))
    assert lines["session_id"].tolist() == ["a1", "a2", "b1"]
    # a1: 12.345 × 0.40 = 4.938 → 4.94, tax 0.494 → 0.49, total 5.43
    # a2: 7.655 × 0.40 = 3.062 → 3.06, tax 0.306 → 0.31, total 3.37
    assert lines["total"].tolist() == [5.43, 3.37, 4.40]  # b1: 4.00 + 0.40
    assert lines.iloc[1]["minutes"] == 90.0
    assert lines.iloc[0]["date"] == "2024-03-05"
    tag1 = totals.set_index("id_tag").loc["TAG1"]
    assert (tag1["sessions"], tag1["kwh"], tag1["minutes"]) == (2, 20.0, 150.0)
    assert (tag1["subtotal"], tag1["tax"], tag1["total"]) == (8.00, 0.80, 8.80)


def test_documented_config_example_validates() -> None:
    """The YAML in docs/reports-kpis.md is what operators copy: it must load."""
    import re

    import yaml

    from reports.evchart import EvChartConfig
    from reports.kpis import SessionSuccessConfig

    text = (Path(__file__).parents[1] / "docs" / "reports-kpis.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    section = yaml.safe_load(block.group(1))["reports"]
    assert SessionSuccessConfig(**section["session_success"]).min_duration == 120.0
    tariffs = TypeAdapter(Tariffs).validate_python(section["tariffs"])
    assert [t.id for t in tariffs] == ["standard-2024", "standard-2024-spring", "airport"]
    assert EvChartConfig(**section["evchart"]).payment("APP-1") == ("mobile_app", "")
