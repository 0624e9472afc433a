"""`chargewatch` command line: run the collector, simulate a fleet, run the demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargewatch import (
    __version__,
    access_cli,
    charger_cli,
    chargers_cli,
    dashboards_cli,
    import_cli,
    ops_cli,
    report_cli,
    rules_cli,
    tags_cli,
)
from chargewatch.config import Config, ConfigError, load_config
from chargewatch.datadir import DataDirBusy

if TYPE_CHECKING:
    from collector.simulator import FleetOptions

log = logging.getLogger("chargewatch")
PROGRESS_EVERY_S = 10.0


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (0-65535)")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 and 1")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _add_server_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="chargewatch.yaml (default: built-in defaults)")
    p.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--ocpp-port", type=_port, help="OCPP WebSocket port (default 9000)")
    p.add_argument("--http-port", type=_port, help="HTTP API / metrics port (default 8000)")
    p.add_argument("--data-dir", type=Path, help="where the journal lives (default ./var)")
    p.add_argument(
        "--unknown-chargers",
        choices=("reject", "pending", "accept"),
        help="charger ids no site lists and none registered (default: the config's, reject)",
    )


def _add_fleet_flags(p: argparse.ArgumentParser, chargers: int) -> None:
    p.add_argument("--chargers", type=_count, default=chargers, help="number of chargers")
    p.add_argument("--connectors", type=_count, default=2, help="connectors per charger")
    p.add_argument(
        "--meter-interval",
        type=_positive_float,
        default=10.0,
        help="seconds between MeterValues during a session",
    )
    p.add_argument(
        "--faults",
        type=_rate,
        default=0.05,
        help="probability (0-1) that a session cycle injects a fault",
    )
    p.add_argument("--duration", type=_positive_float, help="stop after this many seconds")
    p.add_argument("--seed", type=int, help="make the fleet deterministic")
    p.add_argument(
        "--ocpp",
        choices=("1.6", "2.0.1", "mixed"),
        default="1.6",
        help="OCPP version the chargers speak; mixed: --ocpp-201-share of them 2.0.1 "
        "(default 1.6; demo: mixed)",
    )
    p.add_argument(
        "--ocpp-201-share",
        type=_rate,
        default=0.5,
        help="with --ocpp mixed: share (0-1) of chargers speaking 2.0.1, spread evenly (0.5)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chargewatch", description="Monitoring and alerting for OCPP charging networks."
    )
    parser.add_argument("--version", action="version", version=f"chargewatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the collector (OCPP endpoint, journal, HTTP API)")
    _add_server_flags(run)

    sim = sub.add_parser("simulate", help="drive a fleet of simulated OCPP 1.6J / 2.0.1 chargers")
    sim.add_argument(
        "--url",
        default="ws://127.0.0.1:9000/ocpp",
        help="OCPP endpoint; the charger id is appended (default %(default)s)",
    )
    _add_fleet_flags(sim, chargers=10)
    sim.add_argument(
        "--password-env",
        metavar="VAR",
        help="security profiles 1-2: HTTP Basic auth with the password in this environment "
        "variable (one for the fleet; not a flag, so it stays out of `ps`)",
    )
    sim.add_argument("--ca-file", help="wss://: the CA that signed the server's certificate")
    sim.add_argument(
        "--cert-dir", help="profile 3: client certificates <dir>/<charger id>.pem and .key"
    )

    rules_cli.add_parser(sub)
    ops_cli.add_parsers(sub)
    charger_cli.add_parsers(sub)
    chargers_cli.add_parsers(sub)
    tags_cli.add_parsers(sub)
    access_cli.add_parsers(sub)
    dashboards_cli.add_parser(sub)
    import_cli.add_parser(sub)
    report_cli.add_parsers(sub)
    demo = sub.add_parser("demo", help="collector + 20 simulated chargers with faults, live")
    _add_server_flags(demo)
    _add_fleet_flags(demo, chargers=20)
    demo.set_defaults(meter_interval=2.0, faults=0.15, seed=42, ocpp="mixed")
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file (or defaults) with command-line flags on top."""
    config = load_config(args.config)
    ocpp, http = {}, {}
    if args.host is not None:
        ocpp["host"] = http["host"] = args.host
    if args.ocpp_port is not None:
        ocpp["port"] = args.ocpp_port
    if args.http_port is not None:
        http["port"] = args.http_port
    if getattr(args, "unknown_chargers", None) is not None:  # `run` and `demo` only
        ocpp["security"] = config.ocpp.security.model_copy(
            update={"unknown_chargers": args.unknown_chargers}
        )
    update: dict[str, object] = {
        "ocpp": config.ocpp.model_copy(update=ocpp),
        "http": config.http.model_copy(update=http),
    }
    if args.data_dir is not None:
        update["data_dir"] = args.data_dir
    return config.model_copy(update=update)


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (it cuts per-message overhead), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _run(config: Config) -> None:
    from chargewatch.app import App

    app = App(config)
    await app.start()
    stop = asyncio.Event()
    _stop_on_signals(stop)
    scheme = "http" if config.http.tls is None else "https"
    print(
        f"ChargeWatch {__version__}: OCPP ws://{config.ocpp.host}:{app.ocpp_port}"
        f"{config.ocpp.path_prefix}/<chargePointId>  API {scheme}://{config.http.host}:"
        f"{app.http_port}/docs  metrics {scheme}://{config.http.host}:{app.http_port}/metrics",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await app.stop()


def fleet_options(args: argparse.Namespace, url: str) -> FleetOptions:
    """The simulator's options from the fleet flags shared by `simulate` and `demo`."""
    from collector.simulator import FleetOptions

    return FleetOptions(
        url=url.rstrip("/"),
        chargers=args.chargers,
        connectors=args.connectors,
        meter_interval=args.meter_interval,
        faults=args.faults,
        duration=args.duration,
        seed=args.seed,
        ocpp=args.ocpp,
        ocpp_201_share=args.ocpp_201_share,
        password=_password_from_env(getattr(args, "password_env", None)),
        ca_file=getattr(args, "ca_file", None),
        cert_dir=getattr(args, "cert_dir", None),
    )


def _password_from_env(name: str | None) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"--password-env {name}: the environment variable is not set")
    return value


async def _simulate(options: FleetOptions) -> None:
    from collector.simulator import run_fleet

    stop = asyncio.Event()
    _stop_on_signals(stop)
    seen: Counter[str] = Counter()
    fleet = asyncio.create_task(run_fleet(options, stop, lambda _id, kind, _d: seen.update([kind])))
    started = time.monotonic()
    while not fleet.done():  # a progress line on stderr every few seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(fleet), PROGRESS_EVERY_S)
        if not fleet.done():
            print(
                f"[{time.monotonic() - started:4.0f} s] connected "
                f"{seen['connected'] - seen['disconnected']}/{options.chargers}, sessions "
                f"started {seen['session_started']}, completed {seen['session_completed']}, "
                f"faults {seen['fault']}, CallErrors {seen['call_error']}",
                file=sys.stderr,
                flush=True,
            )
    print(json.dumps(fleet.result().as_dict(), indent=2))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "rules":
            return rules_cli.main(args)
        if args.command in ops_cli.COMMANDS:
            return ops_cli.main(args)
        if args.command == charger_cli.COMMAND:
            return charger_cli.main(args)
        if args.command == chargers_cli.COMMAND:
            return chargers_cli.main(args)
        if args.command == tags_cli.COMMAND:
            return tags_cli.main(args)
        if args.command in access_cli.COMMANDS:
            return access_cli.main(args)
        if args.command == dashboards_cli.COMMAND:
            return dashboards_cli.main(args)
        if args.command == import_cli.COMMAND:
            return import_cli.main(args)
        if args.command in report_cli.COMMANDS:
            return report_cli.main(args, config_from_args)
        if args.command == "simulate":
            _setup_logging("WARNING")
            try:
                options = fleet_options(args, args.url)
                options.validate()
            except ValueError as exc:
                print(f"chargewatch: simulate: {exc}", file=sys.stderr)
                return 2
            _run_loop(_simulate(options))
            return 0
        config = config_from_args(args)
        _setup_logging(config.log_level if args.command == "run" else "WARNING")
        if args.command == "run":
            _run_loop(_run(config))
        else:
            from chargewatch.demo import run_demo

            _run_loop(run_demo(config, args))
    except ConfigError as exc:
        print(f"chargewatch: config error: {exc}", file=sys.stderr)
        return 2
    except DataDirBusy as exc:
        print(f"chargewatch: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"chargewatch: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
