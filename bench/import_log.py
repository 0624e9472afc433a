"""History import: `chargewatch import ocpp-log` on a generated log, beside a plain parse of it.

The log is what another central system would export for a busy network: N chargers with two
connectors for D days, heartbeats every 300 s, status changes, Authorize / StartTransaction /
MeterValues every 60 s (energy, power, current, voltage, SoC) / StopTransaction, some
chargers silent for an hour, every call followed by its CallResult. The baseline is the least
any importer must do: read the CSV and json.loads every frame. The import does everything:
checks, staging, pairing, schema validation, the adapter, the projection and the SQLite
writes (synchronous=FULL, as configured by default).

Run from the repository root: `.venv/bin/python bench/import_log.py [--chargers 200 --days 2]`.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from chargewatch.config import Config
from chargewatch.import_cli import Output, import_logs

START = 1709251200.0  # 2024-03-01T00:00:00Z
HEARTBEAT_S, METER_S = 300, 60


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Log:
    def __init__(self, writer: csv.writer) -> None:
        self.w, self.n, self.uid = writer, 0, 0

    def call(self, ts: float, cid: str, action: str, payload: dict, answer: dict) -> None:
        self.uid += 1
        uid = f"{self.uid:x}"
        self.w.writerow((_iso(ts), cid, "in", json.dumps([2, uid, action, payload])))
        self.w.writerow((_iso(ts + 0.05), cid, "out", json.dumps([3, uid, answer])))
        self.n += 2


def _meter(ts: float, txid: int, wh: float, w: float, soc: int) -> dict:
    sv = [
        {"value": f"{wh:.1f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": f"{w:.0f}", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": f"{w / 690:.1f}", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
        {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
        {"value": str(soc), "measurand": "SoC", "unit": "Percent", "location": "EV"},
    ]
    return {
        "connectorId": 1 + txid % 2,
        "transactionId": txid,
        "meterValue": [{"timestamp": _iso(ts), "sampledValue": sv}],
    }


def generate(path: Path, chargers: int, days: float, seed: int) -> int:
    """Write the log in timestamp order per charger; returns the number of lines."""
    rng = random.Random(seed)
    end = START + days * 86400
    txid = 0
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("timestamp", "charger_id", "direction", "message"))
        log = _Log(w)
        for n in range(chargers):
            cid = f"CP-{n:04d}"
            boot = {"chargePointVendor": "Acme", "chargePointModel": "DC150"}
            answer = {"status": "Accepted", "currentTime": _iso(START), "interval": HEARTBEAT_S}
            log.call(START, cid, "BootNotification", boot, answer)
            ts, register = START, 0.0
            silent_from = START + rng.uniform(0, days * 86400)  # one hour offline
            while ts < end:
                ts += HEARTBEAT_S
                if silent_from <= ts < silent_from + 3600:
                    continue
                if rng.random() > 0.08:  # no session starts now: a heartbeat
                    log.call(ts, cid, "Heartbeat", {}, {"currentTime": _iso(ts)})
                    continue
                txid += 1
                conn = 1 + txid % 2
                status = {"connectorId": conn, "errorCode": "NoError"}
                log.call(ts, cid, "StatusNotification", {**status, "status": "Preparing"}, {})
                log.call(ts + 5, cid, "Authorize", {"idTag": "TAG"},
                         {"idTagInfo": {"status": "Accepted"}})  # fmt: skip
                start = {"connectorId": conn, "idTag": "TAG", "meterStart": int(register),
                         "timestamp": _iso(ts + 10)}  # fmt: skip
                log.call(ts + 10, cid, "StartTransaction", start,
                         {"transactionId": txid, "idTagInfo": {"status": "Accepted"}})  # fmt: skip
                log.call(ts + 11, cid, "StatusNotification", {**status, "status": "Charging"}, {})
                power, soc = rng.uniform(20_000, 150_000), rng.randint(10, 40)
                for _ in range(rng.randint(20, 90)):
                    ts += METER_S
                    register += power * METER_S / 3600
                    soc = min(100, soc + 1)
                    log.call(ts, cid, "MeterValues", _meter(ts, txid, register, power, soc), {})
                stop = {"transactionId": txid, "meterStop": int(register),
                        "timestamp": _iso(ts + 30), "reason": "Local"}  # fmt: skip
                log.call(ts + 30, cid, "StopTransaction", stop, {})
                log.call(ts + 31, cid, "StatusNotification", {**status, "status": "Available"}, {})
    return log.n


def baseline(path: Path) -> float:
    """Seconds to read the CSV and json.loads every frame."""
    started = time.perf_counter()
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            json.loads(row[3])
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=200)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "export.csv"
        lines = generate(log, args.chargers, args.days, args.seed)
        size = log.stat().st_size
        base_s = baseline(log)
        config = Config().model_copy(update={"data_dir": Path(tmp) / "data"})
        with open(Path(tmp) / "errors", "w") as err:
            out = Output([str(log)], 0, False, err)
            started = time.perf_counter()
            summary = import_logs([log], config, out)
            import_s = time.perf_counter() - started
        assert summary.bad == 0 and summary.tally.imported_lines == lines, summary.lines()
        db_mb = (Path(tmp) / "data" / "chargewatch.db").stat().st_size / 2**20
        again = time.perf_counter()
        import_logs([log], config, Output([str(log)], 0, False, sys.stderr))
        again_s = time.perf_counter() - again
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"log: {args.chargers} chargers x {args.days:g} days, {lines} lines "
        f"({size / 2**20:.0f} MiB), {summary.tally.sessions_started} sessions"
    )
    print(f"{'baseline (csv + json.loads)':32} {lines / base_s:>10,.0f} lines/s  {base_s:7.1f} s")
    print(
        f"{'chargewatch import ocpp-log':32} {lines / import_s:>10,.0f} lines/s  {import_s:7.1f} s"
    )
    print(f"{'ratio (import / baseline)':32} {base_s / import_s:>10.3f}x")
    name = "same file again (all duplicates)"
    print(f"{name:32} {lines / again_s:>10,.0f} lines/s  {again_s:7.1f} s")
    print(f"store after import {db_mb:.0f} MiB, peak RSS of this process {rss_mb:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
