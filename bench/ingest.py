"""Ingest benchmark: ChargeWatch (journal on) against a plain `ocpp`-library central system.

One run starts each server as a subprocess on free loopback ports, connects N simulated
chargers to it and has every charger send OCPP 1.6 MeterValues (10 sampled values) as fast as
they are answered, one outstanding call per connection like a real charger. After a warm-up
it measures throughput, round-trip latency, server memory per connection and server CPU, stops
the server with SIGINT and moves on to the next one; at the end it prints both side by side.

Why the load generator looks the way it does:

* The machine this is meant for has 2 cores. The server is a separate process; the load
  generator is this process, a single asyncio event loop. One client process leaves the other
  core to the server (whose SQLite journal writer is a second thread); more client processes
  would only take CPU away from the server they are measuring. The client's own CPU time is
  reported so a client-bound run is visible (and warned about).
* Frames are built once per connection; only the message id changes per call, and answers are
  checked with a string prefix test instead of JSON parsing. That keeps the client's cost per
  message small and, above all, identical for both servers.

Run from the repository root: `.venv/bin/python bench/ingest.py [--chargers N] [--seconds S]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from load import CONNECT_TIMEOUT_S, DRAIN_TIMEOUT_S, WARMUP_S, Figures, measure
from procfs import free_port, progress
from report import SERVERS, as_json, json_safe, render
from servers import ServerProcess, report_profile, server_command

CLIENT_SATURATED = 0.9  # client CPU share of one core above which the run is client-bound


async def run_server(
    name: str, chargers: int, seconds: float, workdir: Path, profile_dir: Path | None
) -> Figures:
    port = free_port()
    profile_to = profile_dir / f"{name}.prof" if profile_dir else None
    argv, ready = server_command(name, workdir, port, profile_to)
    server = ServerProcess(name, argv, ready, workdir / f"{name}.log")
    progress(f"starting {name}…")
    try:
        await server.start()
        # Two connection halves, warm-up, window, drain and close: a hung server cannot
        # keep the benchmark waiting longer than this.
        budget = 2 * CONNECT_TIMEOUT_S + WARMUP_S + seconds + 3 * DRAIN_TIMEOUT_S
        async with asyncio.timeout(budget):
            figures = await measure(
                server, f"ws://127.0.0.1:{port}/ocpp", chargers, seconds, profile_to is not None
            )
    except BaseException:
        if server.proc is not None and server.proc.poll() is not None:
            progress(f"{name} exited with code {server.proc.returncode}:\n{server.log_tail()}")
        raise
    finally:
        progress(f"stopping {name}…")
        code = server.stop()
    figures.exit_code = code
    if code not in (0, None):
        progress(f"warning: {name} exited with code {code}\n{server.log_tail()}")
    if figures.client_cpu_s > CLIENT_SATURATED * seconds:
        progress(
            f"warning: the load generator used {figures.client_cpu_s / seconds:.0%} of a core "
            f"against {name}; that run is client-bound"
        )
    if profile_to is not None and profile_to.exists():
        report_profile(name, profile_to)
    return figures


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be > 0")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="MeterValues ingest: ChargeWatch (journal on) vs an ocpp-library baseline."
    )
    parser.add_argument("--chargers", type=_positive(int), default=50, help="connections (50)")
    parser.add_argument(
        "--seconds", type=_positive(float), default=10.0, help="measured window (10)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    parser.add_argument("--only", choices=SERVERS, help="run against one server only")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run the servers under cProfile and write DIR/<server>.prof and .txt "
        "(slows the servers down: figures are for finding hot spots, not for comparing)",
    )
    return parser


async def main_async(args: argparse.Namespace) -> dict[str, Figures]:
    # SIGTERM takes the same cleanup path as Ctrl-C: cancel, stop the servers, exit.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    results: dict[str, Figures] = {}
    workdir = Path(tempfile.mkdtemp(prefix="chargewatch-bench-"))
    try:
        for name in SERVERS if args.only is None else (args.only,):
            (workdir / name).mkdir()
            results[name] = await run_server(
                name, args.chargers, args.seconds, workdir / name, args.profile
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("ingest.py reads /proc for RSS and CPU; it runs on Linux only", file=sys.stderr)
        return 2
    try:
        results = asyncio.run(main_async(args))
    except KeyboardInterrupt:
        progress("interrupted; servers stopped")
        return 130
    except asyncio.CancelledError:
        progress("terminated; servers stopped")
        return 143
    except (RuntimeError, TimeoutError, OSError) as exc:
        progress(f"benchmark failed: {exc or type(exc).__name__}")
        return 1
    print(render(results, args.chargers, args.seconds))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = json_safe(as_json(results, args.chargers, args.seconds))
        args.json.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        progress(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
