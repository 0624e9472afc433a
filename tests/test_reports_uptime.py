"""NEVI uptime and outages on hand-computed histories, through the real store and the
whole report build (reports.monthly.build_report).

November 2026 in UTC has 30 × 1440 = 43,200 minutes; each case's arithmetic is beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from chargewatch import events as ev
from chargewatch import store
from chargewatch.config import parse_config
from chargewatch.state import LiveState
from reports.monthly import build_report

NOV = 43_200.0


def t(text: str, zone: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def status(cid: str, connector: int, at: float, value: str, code: str = "NoError", **kw):
    return ev.StatusReported(cid, at, connector_id=connector, status=value, error_code=code, **kw)


def write(data_dir: Path, events: list[ev.Event]) -> None:
    """Journal events the way the collector does: projection rows in the same commit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = store.open_db(data_dir / "chargewatch.db")
    state, up, ins = LiveState(), {}, []
    for e in sorted(events, key=lambda e: e.ts):
        state.apply(e, up, ins)
    store.write(conn, [store.encode_event(e) for e in events], up.values(), ins, [])
    conn.close()


def boot(cid: str, at: float, ports: int = 2) -> list[ev.Event]:
    out: list[ev.Event] = [ev.Connected(cid, at, remote="127.0.0.1", protocol="ocpp1.6")]
    out += [status(cid, c, at, "Available") for c in range(ports + 1)]
    return out


CONFIG = """
data_dir: {data_dir}
sites:
  - id: north
    chargers: [A, B, C]
    commissioned: 2025-01-01
  - id: east
    timezone: America/New_York
    chargers: [NY]
    commissioned: 2025-01-01
    operating_hours:
      - times: [{{start_time: "06:00", end_time: "22:00"}}]
notifications:
  time_intervals:
    - name: north-maintenance
      maintenance: {{sites: [north]}}
      time_intervals:
        - weekdays: [tuesday]
          times: [{{start_time: "02:00", end_time: "04:00"}}]
"""


@pytest.fixture
def config(tmp_path: Path):
    return parse_config(CONFIG.format(data_dir=tmp_path / "var"))


def port(report, port_id: str) -> dict:
    rows = report.ports[report.ports["port_id"] == port_id]
    assert len(rows) == 1, report.ports["port_id"].tolist()
    return rows.iloc[0].to_dict()


def test_offline_port_fault_and_a_declared_exclusion(config) -> None:
    """A goes offline 10 Nov 10:00-12:00 (both ports, 120 min); port 1 is Faulted 15 Nov
    08:00-09:30 (90 min); a utility outage is declared 11:00-13:00 on 10 Nov, so 60 of
    the offline minutes are excluded. A collector restart on 20 Nov is not downtime.
      port 1: (43200 − (210 − 60)) / 43200 = 99.652778 %
      port 2: (43200 − (120 − 60)) / 43200 = 99.861111 %"""
    events = [
        *boot("A", t("2026-10-01T00:00")),
        ev.Disconnected("A", t("2026-11-10T10:00"), code=1006),
        ev.Connected("A", t("2026-11-10T12:00")),
        status("A", 1, t("2026-11-15T08:00"), "Faulted", "GroundFailure", fault_category="safety"),
        status("A", 1, t("2026-11-15T09:30"), "Available"),
        ev.Disconnected("A", t("2026-11-20T03:00"), reason=ev.REASON_COLLECTOR_RESTARTED),
        ev.Connected("A", t("2026-11-20T03:10")),
        ev.OutageExcluded(
            "A", t("2026-11-21T00:00"), id="x1", starts_at=t("2026-11-10T11:00"),
            ends_at=t("2026-11-10T13:00"), category="utility_outage", created_by="op",
        ),
    ]  # fmt: skip
    write(config.data_dir, events)
    report = build_report(config, "2026-11", now=t("2026-12-01T01:00"))
    p1, p2 = port(report, "A-1"), port(report, "A-2")
    assert (p1["minutes"], p1["outage_minutes"], p1["excluded_minutes"]) == (NOV, 210, 60)
    assert p1["uptime_pct"] == pytest.approx((NOV - 150) / NOV * 100, abs=1e-3)
    assert (p2["outage_minutes"], p2["excluded_minutes"]) == (120, 60)
    assert p2["uptime_pct"] == pytest.approx((NOV - 60) / NOV * 100, abs=1e-3)
    outages = report.outages[report.outages["port_id"] == "A-1"]
    assert outages["cause"].tolist() == ["offline", "faulted: GroundFailure (safety)"]
    assert outages["excluded"].tolist() == ["partly", "no"]
    assert outages["exclusion_categories"].tolist() == ["utility_outage", ""]
    charger = report.chargers[report.chargers["charger_id"] == "A"].iloc[0]
    # pooled: (2 × 43200 − (330 − 120)) / (2 × 43200)
    assert charger["uptime_pct"] == pytest.approx((2 * NOV - 210) / (2 * NOV) * 100, abs=1e-3)


def test_a_connector_0_fault_takes_every_port_down_and_outranks_the_port(config) -> None:
    """B's connector 0 is Faulted 20 Nov 00:00-06:00 (all ports); port 1 itself 02:00-08:00.
    Port 1 is down 00:00-08:00 = 480 min as one outage caused by the charger; port 2 360."""
    write(
        config.data_dir,
        [
            *boot("B", t("2026-10-01T00:00")),
            status("B", 0, t("2026-11-20T00:00"), "Faulted", "PowerMeterFailure"),
            status("B", 1, t("2026-11-20T02:00"), "Faulted", "HighTemperature"),
            status("B", 0, t("2026-11-20T06:00"), "Available"),
            status("B", 1, t("2026-11-20T08:00"), "Available"),
        ],
    )
    report = build_report(config, "2026-11", now=t("2026-12-01T01:00"))
    assert port(report, "B-1")["outage_minutes"] == 480
    assert port(report, "B-2")["outage_minutes"] == 360
    b1 = report.outages[report.outages["port_id"] == "B-1"]
    assert b1["cause"].tolist() == ["charger faulted: PowerMeterFailure"]


def test_an_outage_across_the_month_boundary_and_a_maintenance_window(config) -> None:
    """C is offline 31 Oct 22:00 - 1 Nov 02:00: November counts 120 min. It is Unavailable
    Tuesday 3 Nov 01:00-03:00; the north maintenance window (Tuesdays 02:00-04:00)
    excludes 60 of those. Port: outage 240, excluded 60 → (43200 − 180) / 43200."""
    write(
        config.data_dir,
        [
            *boot("C", t("2026-10-01T00:00"), ports=1),
            ev.Disconnected("C", t("2026-10-31T22:00"), code=1006),
            ev.Connected("C", t("2026-11-01T02:00")),
            status("C", 1, t("2026-11-03T01:00"), "Unavailable"),
            status("C", 1, t("2026-11-03T03:00"), "Available"),
        ],
    )
    report = build_report(config, "2026-11", now=t("2026-12-01T01:00"))
    c1 = port(report, "C-1")
    assert (c1["outage_minutes"], c1["excluded_minutes"]) == (240, 60)
    assert c1["uptime_pct"] == pytest.approx((NOV - 180) / NOV * 100, abs=1e-3)
    october = build_report(config, "2026-10", now=t("2026-12-01T01:00"))
    assert port(october, "C-1")["outage_minutes"] == 120
    kinds = report.outages[report.outages["port_id"] == "C-1"]
    assert kinds["exclusion_categories"].tolist() == ["", "scheduled_maintenance"]


def test_dst_month_and_closed_hours_in_the_sites_time_zone(config) -> None:
    """New York springs forward on 8 March 2026: March has 31 × 1440 − 60 = 44,580 local
    minutes. NY is Faulted 21:00-23:00 local on 10 March; the site closes at 22:00, so 60
    minutes are excluded: (44580 − 60) / 44580."""
    ny = "America/New_York"
    write(
        config.data_dir,
        [
            *boot("NY", t("2026-02-01T00:00", ny), ports=1),
            status("NY", 1, t("2026-03-10T21:00", ny), "Faulted", "OverVoltage"),
            status("NY", 1, t("2026-03-10T23:00", ny), "Available"),
        ],
    )
    report = build_report(config, "2026-03", site="east", now=t("2026-04-01T12:00"))
    p = port(report, "NY-1")
    assert p["minutes"] == 44_580
    assert (p["outage_minutes"], p["excluded_minutes"]) == (120, 60)
    assert p["uptime_pct"] == pytest.approx((44_580 - 60) / 44_580 * 100, abs=1e-3)
    assert report.start == t("2026-03-01T00:00", ny)


def test_a_port_in_service_since_mid_year_is_listed_but_not_in_the_97_rule(config) -> None:
    """D is in no site and was first seen 1 June 2026: its November is judged in full, its
    trailing year only from 1 June, and it is not NEVI-eligible yet. A (commissioned
    2025) is eligible and above 97 %."""
    write(
        config.data_dir,
        [
            *boot("D", t("2026-06-01T00:00"), ports=1),
            *boot("A", t("2026-10-01T00:00"), ports=1),
            *boot("E", t("2026-12-01T06:00"), ports=1),  # first seen after November
        ],
    )
    report = build_report(config, "2026-11", now=t("2026-12-01T01:00"))
    d, a = port(report, "D-1"), port(report, "A-1")
    assert "E-1" not in report.ports["port_id"].tolist()
    assert d["nevi_eligible"] is False or d["nevi_eligible"] == False  # noqa: E712
    assert d["meets_target"] is None
    assert d["year_start"] == t("2026-06-01T00:00") and d["uptime_pct"] == 100
    assert a["nevi_eligible"] == True and a["meets_target"] == True  # noqa: E712
    assert report.start == datetime(2026, 11, 1, tzinfo=UTC).timestamp()


def test_minutes_before_chargewatch_first_saw_a_commissioned_charger_are_not_counted(
    config,
) -> None:
    """A is commissioned 2025-01-01 (north) but first seen 16 Nov 00:00: November counts
    15 days = 21,600 minutes, all up; the port is NEVI-eligible by its commissioning."""
    write(config.data_dir, boot("A", t("2026-11-16T00:00"), ports=1))
    a = port(build_report(config, "2026-11", now=t("2026-12-01T01:00")), "A-1")
    assert (a["minutes"], a["uptime_pct"]) == (21_600, 100)
    assert a["in_service_since"] == t("2025-01-01T00:00") and a["nevi_eligible"] == True  # noqa: E712
