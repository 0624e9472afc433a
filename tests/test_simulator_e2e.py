"""The simulator against the real collector: everything it sends is accepted, lands as events
with the faults it injected, and a seeded fleet produces the same stored events twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import db_rows

from chargewatch.app import App
from collector.simulator import FleetOptions, run_fleet

# fields that depend on wall-clock time or on how chargers interleave (global transaction ids)
VOLATILE = {
    "ts",
    "charger_ts",
    "started_at",
    "stopped_at",
    "session_id",
    "transaction_id",
    "remote",
    "code",
    "reason",
}


def stable(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k not in VOLATILE}
    if "samples" in out:
        out["samples"] = [s[1:] for s in out["samples"]]  # drop each sample's timestamp
    return out


def stored_events(data_dir: Path) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for cid, kind, data in db_rows(
        data_dir, "SELECT charger_id, kind, data FROM journal ORDER BY seq"
    ):
        if kind in ("connected", "disconnected", "alert"):
            continue  # alerts depend on timing; tests/test_rules_e2e.py covers them
        out.setdefault(cid, []).append((kind, stable(json.loads(data))))
    return out


async def _run(start_app, data_dir: Path) -> tuple[App, Any]:
    app: App = await start_app("ocpp:\n  heartbeat_interval: 1\n", data_dir=data_dir)
    stats = await run_fleet(
        FleetOptions(
            url=f"ws://127.0.0.1:{app.ocpp_port}/ocpp",
            chargers=4,
            connectors=2,
            meter_interval=0.05,
            faults=0.6,
            duration=4.0,
            seed=1234,
        )
    )
    return app, stats


async def test_simulated_fleet_is_accepted_and_deterministic(start_app, tmp_path: Path) -> None:
    app, stats = await _run(start_app, tmp_path / "one")
    assert stats.total_call_errors == 0, stats.call_errors  # every simulated call is valid OCPP
    assert stats.sessions_started > 0 and stats.total_calls > 100
    assert sum(stats.faults.values()) > 0
    kinds = {k for (k,) in db_rows(app.config.data_dir, "SELECT DISTINCT kind FROM journal")}
    assert {"booted", "status", "meter", "authorized", "session_started", "heartbeat"} <= kinds
    faults = db_rows(
        app.config.data_dir, "SELECT COUNT(*) FROM status_history WHERE fault_category IS NOT NULL"
    )
    assert faults[0][0] > 0

    _, again = await _run(start_app, tmp_path / "two")
    assert again.total_call_errors == 0
    first, second = stored_events(tmp_path / "one"), stored_events(tmp_path / "two")
    assert first.keys() == second.keys() == {f"SIM-000{i}" for i in range(1, 5)}
    for cid in first:
        common = min(len(first[cid]), len(second[cid]))
        assert common > 20, cid
        # runs stop at a wall-clock deadline, so one may have got a few events further
        assert first[cid][:common] == second[cid][:common], cid
