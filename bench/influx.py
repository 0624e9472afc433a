"""InfluxDB shipping benchmark: how fast ChargeWatch's shipper drains a journal backlog into
InfluxDB, against influxdb-client's own batching WriteApi writing the same points.

One run:

1. Builds a journal in a temp dir holding a backlog of N points (default 1,000,000: 100,000
   MeterValues × 10 sampled values; bench/influx_data.py). Not part of any figure; its time
   is reported on its own.
2. Checks that ChargeWatch's encoder and the Point objects built for the client give the same
   points, and times each encoder alone on the first 200,000 points (no server involved).
3. For each target, starts a fresh server on free loopback ports, drains the whole backlog into
   it, checks the server's count, stops it (bench/influx_runs.py):
   * shipper-v1: ChargeWatch's InfluxShipper, api v1, into InfluxDB 1.x (`influxd`).
   * shipper-v2: the same shipper, api v2 (its V2Writer, influxdb-client SYNCHRONOUS), into
     VictoriaMetrics.
   * client: influxdb-client's batching WriteApi, fed Point objects, into VictoriaMetrics.
   * client-lines: the same WriteApi fed the shipper's line-protocol strings instead, which
     separates the cost of Point objects from that of the client's batching and transport.

Why VictoriaMetrics: influxdb-client only speaks /api/v2/write, which InfluxDB gained in 1.8;
the Debian InfluxDB is 1.6. VictoriaMetrics accepts /api/v2/write, so the client and the
shipper's v2 mode are compared on the same server, in the same run; the v1 row is the shipper
into the real InfluxDB 1.x. Ratios are only given between rows on the same server.

The machine this is meant for has 2 cores: the server under test gets one, and this process
(its Python threads share the GIL, so at most one core) the other.

Run from the repository root: `.venv/bin/python bench/influx.py [--points N] [--batch-size B]
[--only TARGET] [--json PATH] [--profile DIR]`. Each drain is bounded (10 min, or 1 min without
progress); servers are stopped on errors, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import influxdb_client
import urllib3
from influx_data import (
    SAMPLES_PER_EVENT,
    build_journal,
    check_same_points,
    encode_cost,
    site_map,
)
from influx_runs import Figures, run_client, run_shipper
from influx_servers import DATABASE, InfluxDB1, VictoriaMetrics
from procfs import cpu_model, progress
from report import json_safe
from servers import report_profile

TARGETS = ("shipper-v1", "shipper-v2", "client", "client-lines")
LABELS = {
    "shipper-v1": "chargewatch shipper -> InfluxDB 1.x (v1)",
    "shipper-v2": "chargewatch shipper -> VictoriaMetrics (v2)",
    "client": "influxdb-client WriteApi -> VictoriaMetrics",
    "client-lines": "  same, fed the shipper's line strings",
}
STORED = {  # what influx_runs.verify reads back, as the report names it
    "influxdb_count_value": "count(value) FROM meter_value =",
    "lines_read": "lines parsed",
    "rows_inserted": "rows (one per field, unchecked)",
    "meter_value_value_samples": "meter_value_value samples",
}
RATIO_BASE = "client"  # ratios: points/s over this row's, same server
ENCODE_EVENTS = 20_000  # events timed per encoder in step 2 (200,000 points)


async def run_target(
    target: str, workdir: Path, journal: Path, site_of: dict[str, str], events: int, batch: int
) -> Figures:
    server = InfluxDB1(workdir) if target == "shipper-v1" else VictoriaMetrics(workdir)
    progress(f"{target}: starting {server.name}…")
    try:
        await server.start()
        if isinstance(server, InfluxDB1):
            # As an operator would have: otherwise the first write creates the database and is
            # retried after a random backoff of up to 0.5 s, which would land in the figure.
            await asyncio.to_thread(server.query, f'CREATE DATABASE "{DATABASE}"')
        progress(f"{target}: draining {events * SAMPLES_PER_EVENT} points…")
        if isinstance(server, InfluxDB1) or target == "shipper-v2":
            api = target.removeprefix("shipper-")
            figures = await run_shipper(api, server, journal, site_of, events, batch, workdir)
        else:
            figures = await run_client(target, server, journal, site_of, events, batch)
        progress(f"{target}: {figures.points_per_s:,.0f} points/s, {figures.seconds:.2f} s, ok")
        return figures
    except BaseException:
        if server.proc is not None and server.proc.poll() is not None:
            progress(f"{server.name} exited with code {server.proc.returncode}:")
            progress(server.log_tail())
        raise
    finally:
        progress(f"{target}: stopping {server.name}…")
        code = server.stop()
        if code not in (0, None):
            progress(f"warning: {server.name} exited with code {code}\n{server.log_tail()}")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    # SIGTERM takes the same cleanup path as Ctrl-C: cancel, stop the servers, exit.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    events = args.points // SAMPLES_PER_EVENT
    run: dict[str, Any] = {"targets": {}}
    workdir = Path(tempfile.mkdtemp(prefix="chargewatch-influx-"))
    try:
        journal = workdir / "journal" / "chargewatch.db"
        progress(f"building a journal of {events} MeterValues ({args.points} points)…")
        started = time.perf_counter()
        await build_journal(journal, events)
        run["journal_build_s"] = time.perf_counter() - started
        run["journal_mib"] = sum(p.stat().st_size for p in journal.parent.iterdir()) / 2**20
        progress(f"journal built in {run['journal_build_s']:.1f} s ({run['journal_mib']:.0f} MiB)")
        site_of = site_map()
        compared = check_same_points(journal, site_of)
        progress(f"the shipper's and the Point objects' points are the same ({compared} checked)")
        run["encode_us_per_point"] = {}
        for variant in ("shipper", "client"):
            prof = args.profile / f"encode-{variant}.prof" if args.profile else None
            sample = min(events, ENCODE_EVENTS)
            cost = encode_cost(journal, site_of, variant, sample, prof)
            run["encode_us_per_point"][variant] = cost
            run["encode_points"] = sample * SAMPLES_PER_EVENT
            progress(f"encoding alone, {variant}: {cost:.2f} µs per point")
            if prof is not None:
                report_profile(f"{variant} encoding", prof)
        for target in TARGETS if args.only is None else (args.only,):
            run["targets"][target] = await run_target(
                target, workdir / target, journal, site_of, events, args.batch_size
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return run


def ratio(results: dict[str, Figures], target: str) -> float:
    base = results.get(RATIO_BASE)
    if base is None or target == "shipper-v1" or target not in results:
        return math.nan
    return results[target].points_per_s / base.points_per_s


def render(run: dict[str, Any], args: argparse.Namespace) -> str:
    results: dict[str, Figures] = run["targets"]
    events = args.points // SAMPLES_PER_EVENT
    lines = [
        f"influx benchmark: {args.points} points ({events} MeterValues x {SAMPLES_PER_EVENT} "
        f"samples), batch {args.batch_size} (python {platform.python_version()}, "
        f"{os.cpu_count()} cores)",
        f"{'':45}{'points/s':>10}{'seconds':>9}{'ratio':>7}{'py CPU s':>10}{'srv CPU s':>10}"
        f"{'RSS +MiB':>10}",
    ]
    for target, f in results.items():
        r = ratio(results, target)
        lines.append(
            f"{LABELS[target]:45}{f.points_per_s:>10,.0f}{f.seconds:>9.2f}"
            f"{'' if math.isnan(r) else f'{r:.2f}':>7}{f.client_cpu_s:>10.2f}"
            f"{f.server_cpu_s:>10.2f}{f.rss_growth_mib:>10.1f}"
        )
    if RATIO_BASE in results:
        lines.append("ratio = points/s over the influxdb-client WriteApi row's (same server)")
    lines.append("py CPU = this process, all threads; srv CPU = the server; both during the drain")
    lines.append(f"journal build: {run['journal_build_s']:.1f} s (not in any figure)")
    for target, f in results.items():
        if target.startswith("shipper"):
            lines.append(
                f"{target}: {f.requests} requests, {f.body_mib:.0f} MiB; in HTTP writes "
                f"{f.write_s:.2f} s of {f.seconds:.2f} s ({f.write_s / f.seconds:.0%}); "
                f"write errors {f.write_errors}"
            )
        else:
            lines.append(
                f"{target}: {f.requests} batches; producer done after {f.producer_s:.2f} s; "
                f"retries {f.write_errors}"
            )
    cost = run["encode_us_per_point"]
    lines.append(
        f"encoding alone ({run['encode_points']} points, CPU µs/point, json.loads included): "
        f"shipper {cost['shipper']:.2f}, Point objects + to_line_protocol {cost['client']:.2f}"
    )
    lines.append("checked on the server (must equal the backlog, else the run fails):")
    for target, f in results.items():
        found = ", ".join(f"{STORED[k]} {v:.0f}" for k, v in f.stored.items())
        lines.append(f"  {target}: {found}")
    servers = sorted({f.server for f in results.values()})
    lines.append(f"servers: {', '.join(servers)}; influxdb-client {influxdb_client.__version__}")
    return "\n".join(lines)


def as_json(run: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Figures] = run["targets"]
    return {
        "benchmark": "influx",
        "points": args.points,
        "events": args.points // SAMPLES_PER_EVENT,
        "samples_per_event": SAMPLES_PER_EVENT,
        "batch_size": args.batch_size,
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "influxdb_client": influxdb_client.__version__,
        "journal_build_s": run["journal_build_s"],
        "journal_mib": run["journal_mib"],
        "encode_points": run["encode_points"],
        "encode_us_per_point": run["encode_us_per_point"],
        "targets": {t: asdict(f) for t, f in results.items()},
        "ratio_over_client": {t: ratio(results, t) for t in results},
    }


def _points(text: str) -> int:
    value = int(text)
    if value <= 0 or value % SAMPLES_PER_EVENT:
        raise argparse.ArgumentTypeError(f"{text}: must be a positive multiple of 10")
    return value


def _batch(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100_000:  # InfluxConfig.batch_size's bounds
        raise argparse.ArgumentTypeError(f"{text}: must be 1..100000")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Journal backlog -> InfluxDB: ChargeWatch's shipper vs influxdb-client."
    )
    parser.add_argument("--points", type=_points, default=1_000_000, help="backlog (1000000)")
    parser.add_argument("--batch-size", type=_batch, default=5000, help="points per write (5000)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    parser.add_argument("--only", choices=TARGETS, help="run one target only")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="cProfile the two encoders (step 2) into DIR/encode-<variant>.prof and .txt",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("influx.py reads /proc for RSS and CPU; it runs on Linux only", file=sys.stderr)
        return 2
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        run = asyncio.run(main_async(args))
    except KeyboardInterrupt:
        progress("interrupted; servers stopped")
        return 130
    except asyncio.CancelledError:
        progress("terminated; servers stopped")
        return 143
    except (RuntimeError, TimeoutError, OSError, urllib3.exceptions.HTTPError) as exc:
        progress(f"benchmark failed: {exc or type(exc).__name__}")
        return 1
    print(render(run, args))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = json_safe(as_json(run, args))
        args.json.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        progress(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
