"""What the session projection keeps for the reports: peak power, when power first and last
flowed, and the store upgrade that adds those columns to an older data dir."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chargewatch import events as ev
from chargewatch import store
from chargewatch.state import LiveState

E, P = "Energy.Active.Import.Register", "Power.Active.Import"


def meter(ts: float, energy: float | None = None, power: float | None = None, phase=None):
    samples = []
    if energy is not None:
        samples.append(ev.Sample(ts, E, energy, "Wh"))
    if power is not None:
        samples.append(ev.Sample(ts, P, power, "W", phase))
    return ev.MeterValuesReported(
        "CP", ts + 0.5, connector_id=1, session_id="7", samples=tuple(samples)
    )


def apply_all(events: list[ev.Event]) -> tuple[LiveState, dict]:
    state, up, ins = LiveState(), {}, []
    for e in events:
        state.apply(e, up, ins)
    return state, up


START = ev.SessionStarted(
    "CP",
    100.0,
    session_id="7",
    transaction_id="7",
    connector_id=1,
    meter_start_wh=1000.0,
    started_at=100.0,
)


def test_peak_power_and_the_moments_power_flowed() -> None:
    _, up = apply_all(
        [
            START,
            meter(160.0, energy=1000.0, power=0.0),  # plugged, nothing flows yet
            meter(220.0, energy=1100.0, power=6000.0),  # first flow seen here
            meter(280.0, energy=1300.0, power=11000.0, phase="L1"),  # a phase: not the total
            meter(340.0, energy=1400.0, power=7400.0),
            meter(400.0, energy=1400.0, power=0.0),  # charging ended at 340
            ev.SessionStopped("CP", 460.0, session_id="7", meter_stop_wh=1400.0, stopped_at=460.0),
        ]
    )
    row = dict(zip(store.TABLE_COLUMNS["sessions"], up[("sessions", "7")][1], strict=True))
    assert row["peak_power_w"] == 7400.0
    assert row["first_power_at"] == 220.0
    assert row["last_power_at"] == 340.0
    assert row["meter_last_wh"] == 1400.0


def test_energy_alone_marks_the_flow_when_no_power_is_sampled() -> None:
    _, up = apply_all([START, meter(200.0, energy=1000.0), meter(260.0, energy=1250.0)])
    row = dict(zip(store.TABLE_COLUMNS["sessions"], up[("sessions", "7")][1], strict=True))
    assert (row["first_power_at"], row["last_power_at"], row["peak_power_w"]) == (
        260.0,
        260.0,
        None,
    )


def test_an_older_store_gets_the_new_session_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE sessions (session_id TEXT PRIMARY KEY, transaction_id TEXT NOT NULL, "
        "charger_id TEXT NOT NULL, connector_id INTEGER NOT NULL, id_tag TEXT, auth_status TEXT, "
        "meter_start_wh REAL, meter_last_wh REAL, meter_stop_wh REAL, energy_wh REAL, "
        "started_at REAL, stopped_at REAL, stop_reason TEXT, stop_id_tag TEXT, "
        "reservation_id INTEGER, received_at REAL, updated_at REAL)"
    )
    old.execute(
        "INSERT INTO sessions (session_id, transaction_id, charger_id, connector_id) "
        "VALUES ('1', '1', 'CP', 1)"
    )
    old.commit()
    old.close()
    conn = store.open_db(path)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(sessions)")]
    assert cols[-3:] == ["peak_power_w", "first_power_at", "last_power_at"]
    state = store.load_state(conn)  # the old row loads, its new fields empty
    assert state.sessions["1"].peak_power_w is None
