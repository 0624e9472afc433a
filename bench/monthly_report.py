"""How long `chargewatch report monthly` takes for one month of a large network.

Generates a store with --chargers chargers of 2 ports each and a month of realistic
history (sessions with status changes and meter-derived session figures, faults, offline
spells, alerts), then times the full report (HTML, CSVs, EV-ChART files) beside a
baseline that only reads the same rows with pandas.read_sql: the ratio is what the
report's computation costs on top of reading its input.

    .venv/bin/python bench/monthly_report.py [--chargers 500] [--sessions-per-day 6]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from chargewatch import events as ev
from chargewatch import store
from chargewatch.config import parse_config
from chargewatch.state import LiveState
from reports.monthly import write_monthly_report

MONTH = "2026-11"
START = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
DAYS = 30


def generate(data_dir: Path, chargers: int, per_day: int, seed: int = 7) -> tuple[int, int]:
    """Write the month's events through the real projection; (events, sessions)."""
    rng = random.Random(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = store.open_db(data_dir / "chargewatch.db", "normal")
    state = LiveState()
    txid, total, sessions = 0, 0, 0
    for c in range(chargers):
        cid = f"CP-{c:05d}"
        events: list[ev.Event] = [ev.Connected(cid, START - 86400 * 400)]
        events += [ev.StatusReported(cid, START - 86400 * 400, connector_id=k, status="Available")
                   for k in (0, 1, 2)]  # fmt: skip
        for day in range(DAYS):
            for port in (1, 2):
                t = START + day * 86400 + rng.uniform(0, 3600)
                for _ in range(per_day):
                    t += rng.uniform(600, 86400 / per_day - 3600)
                    txid += 1
                    sid = str(txid)
                    kwh = rng.uniform(0.2, 40)
                    events += [
                        ev.StatusReported(cid, t, connector_id=port, status="Preparing"),
                        ev.SessionStarted(cid, t + 30, session_id=sid, transaction_id=sid,
                                          connector_id=port, id_tag=f"TAG{rng.randrange(500)}",
                                          meter_start_wh=0.0, started_at=t + 30),
                        ev.StatusReported(cid, t + 40, connector_id=port, status="Charging"),
                    ]  # fmt: skip
                    for m in range(1, 4):
                        events.append(
                            ev.MeterValuesReported(cid, t + 40 + m * 600, connector_id=port,
                                session_id=sid, samples=(
                                    ev.Sample(t + 40 + m * 600, "Energy.Active.Import.Register",
                                              kwh * 1000 * m / 3, "Wh"),
                                    ev.Sample(t + 40 + m * 600, "Power.Active.Import",
                                              rng.uniform(3000, 50000), "W")))
                        )  # fmt: skip
                    end = t + 40 + 1900
                    events += [
                        ev.StatusReported(cid, end, connector_id=port, status="Finishing"),
                        ev.SessionStopped(cid, end + 300, session_id=sid, meter_stop_wh=kwh * 1000,
                                          stopped_at=end + 300, energy_wh=kwh * 1000),
                        ev.StatusReported(cid, end + 310, connector_id=port, status="Available"),
                    ]  # fmt: skip
                    t = end + 310
                    sessions += 1
                if rng.random() < 0.05:  # a fault now and then
                    f = START + day * 86400 + 80000
                    events += [
                        ev.StatusReported(cid, f, connector_id=port, status="Faulted",
                                          error_code="GroundFailure", fault_category="safety"),
                        ev.StatusReported(cid, f + rng.uniform(60, 3000), connector_id=port,
                                          status="Available"),
                    ]  # fmt: skip
            if rng.random() < 0.03:  # an offline spell
                o = START + day * 86400 + 43000
                events += [ev.Disconnected(cid, o, code=1006), ev.Connected(cid, o + 1200)]
        events.sort(key=lambda e: e.ts)
        up, ins = {}, []
        for e in events:
            state.apply(e, up, ins)
        store.write(conn, [store.encode_event(e) for e in events], up.values(), ins, [])
        total += len(events)
    conn.close()
    return total, sessions


def baseline(data_dir: Path) -> float:
    """Reading the report's input rows and nothing else."""
    started = time.perf_counter()
    conn = sqlite3.connect(data_dir / "chargewatch.db")
    for table in ("status_history", "connection_history", "sessions", "alert_history"):
        pd.read_sql(f"SELECT * FROM {table}", conn)
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chargers", type=int, default=500)
    p.add_argument("--sessions-per-day", type=int, default=6)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "var"
        t0 = time.perf_counter()
        events, sessions = generate(data_dir, args.chargers, args.sessions_per_day)
        print(f"generated {events:,} events, {sessions:,} sessions for {args.chargers * 2} "
              f"ports in {time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
        config = parse_config(f"data_dir: {data_dir}\n")
        read_s = baseline(data_dir)
        started = time.perf_counter()
        result = write_monthly_report(
            config, MONTH, Path(tmp) / "out", now=START + DAYS * 86400 + 3600
        )
        report_s = time.perf_counter() - started
        size = sum(f.stat().st_size for f in result.files)
    print(f"\n{'':34}{'report':>12}{'baseline (read only)':>24}")
    print(f"{'seconds':34}{report_s:12.2f}{read_s:24.2f}")
    print(f"{'ratio report / baseline':34}{report_s / read_s:12.1f}")
    print(f"{'ports per second':34}{args.chargers * 2 / report_s:12.0f}")
    print(f"{'output files, total MiB':34}{len(result.files):12d}{size / 2**20:24.1f}")


if __name__ == "__main__":
    main()
