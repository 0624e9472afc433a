"""Fault-to-inbox benchmark: a charger's Faulted status until the NOC's SMTP server has the e-mail.

The pipeline under test, end to end and all real: N chargers on real WebSockets send
StatusNotification Faulted -> the collector journals it (SQLite, fsync) -> the rule engine
raises ConnectorFaulted (`faulted_for: 0s`) and journals the transition -> the notifier
decides a notification (a route with `group_wait: 0s`, grouped per charger and connector, so
every fault is its own group) and writes it to the outbox -> the delivery worker hands it to
apprise -> apprise speaks SMTP to an aiosmtpd server on loopback (tests/notify_servers.py).

t0 is taken just before each StatusNotification is sent, t1 when the SMTP server has received
the whole message (end of DATA, stamped in the server's thread); the e-mail is matched to its
fault by the `charger=... connector=...` of its subject.

The baseline, in the same run and to the same SMTP server: the same kind of e-mail (rendered
by the same template) sent directly with `AppriseChannel.send`, at the same rate, t0 just
before the call. The ratio pipeline / baseline is what ChargeWatch adds on top of apprise.

The App runs in this process (on uvloop, as `chargewatch run` does), so the chargers' client
work and the SMTP server thread share its CPU; the output says so. Faults are sent at a
steady rate on distinct (charger, connector) pairs in a seeded order. Everything is bounded
(connect, each call, the drain, the whole run) and cleaned up (servers, temporary data dir).

The parts: bench/notify_smtp.py (the timestamping SMTP server), bench/notify_chargers.py
(the OCPP clients), bench/notify_stages.py (the figures and the per-stage breakdown from the
store); this file drives the run (baseline, App, faults) and prints the report.

Run from the repository root: `.venv/bin/python bench/notify.py [--faults N] [--rate R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # notify_servers (and the helpers it imports)

# bench/ is on sys.path as the script's directory
from notify_chargers import Charger, close_all, connect_all, fault  # noqa: E402
from notify_smtp import Key, StampedSmtpServer  # noqa: E402
from notify_stages import PipelineRun, Series, deltas, render_table, stage_rows  # noqa: E402

from chargewatch import events as ev  # noqa: E402
from chargewatch.app import App  # noqa: E402
from chargewatch.config import Config, parse_config  # noqa: E402
from notifier.channels.apprise_channel import AppriseChannel  # noqa: E402
from notifier.model import EMAIL, NEW, AlertInfo, Message, Notification  # noqa: E402
from notifier.templates import render  # noqa: E402

SITE = "bench"
DRAIN_TIMEOUT_S = 30.0  # after the last fault (or send): until every e-mail is in
SETUP_BUDGET_S = 90.0  # app start, connecting, warm-ups and stopping, on top of the phases
ERROR_CODES = ("GroundFailure", "HighTemperature", "OverCurrentFailure", "PowerSwitchFailure")


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---- the baseline: apprise straight to the SMTP server ---------------------------------


def alert_info(charger: str, connector: int, error_code: str, at: float) -> AlertInfo:
    """A ConnectorFaulted alert as the default pack raises it (labels, annotations)."""
    labels = {
        "charger": charger,
        "site": SITE,
        "connector": str(connector),
        "team": "field-service",
        "alertname": "ConnectorFaulted",
        "severity": "major",
    }
    return AlertInfo(
        fingerprint=f"{charger}-{connector}",
        alertname="ConnectorFaulted",
        severity="major",
        state="firing",
        labels=labels,
        annotations={
            "summary": f"Connector {connector} of {charger} is faulted: {error_code}",
            "description": "Faulted for 0 s.",
        },
        starts_at=at,
        value=0.0,
        runbook_url="https://chargewatch.example/runbooks/connector-faulted",
    )


def baseline_message(charger: str, connector: int, error_code: str) -> Message:
    """The e-mail the notifier would send for this fault, rendered by the same template."""
    now = time.time()
    group = {"alertname": "ConnectorFaulted", "charger": charger, "connector": str(connector)}
    n = Notification(
        "noc",
        f"route.routes[0]{group}",
        group,
        NEW,
        now,
        firing=(alert_info(charger, connector, error_code, now),),
    )
    return render(n, EMAIL, dashboard_url="https://grafana.example/d/cw-charger", tz="UTC")


async def steady(
    count: int, rate: float, job: Callable[[int], Awaitable[None]]
) -> list[asyncio.Task[None]]:
    """Start `job(i)` for i < count at `rate` per second (on schedule, not back to back)."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks = []
    for i in range(count):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(job(i), name=f"job-{i}"))
    return tasks


async def wait_for_mail(
    smtp: StampedSmtpServer, keys: set[Key], timeout: float
) -> dict[Key, float]:
    """Arrivals for `keys`, once all are in or `timeout` has passed (then some are missing)."""
    deadline = time.monotonic() + timeout
    while True:
        got = {k: t for k, t in smtp.arrivals().items() if k in keys}
        if len(got) == len(keys) or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.02)


async def run_baseline(smtp: StampedSmtpServer, count: int, rate: float, timeout: float) -> Series:
    """AppriseChannel.send to the SMTP server, `count` times at `rate`, after one warm-up."""
    channel = AppriseChannel(EMAIL, timeout)  # what build_channels makes from delivery.timeout
    await asyncio.to_thread(
        channel.send, smtp.mailto, baseline_message("BASE-WARM", 1, "OtherError")
    )
    sent: dict[Key, float] = {}
    errors: list[str] = []

    async def one(i: int) -> None:
        key = (f"BASE-{i:05d}", 1)
        message = baseline_message(key[0], key[1], ERROR_CODES[i % len(ERROR_CODES)])
        sent[key] = time.perf_counter()
        try:
            await asyncio.to_thread(channel.send, smtp.mailto, message)
        except Exception as exc:  # a failed send is a missing figure, reported below
            errors.append(f"{type(exc).__name__}: {exc}")

    tasks = await steady(count, rate, one)
    await asyncio.gather(*tasks)
    got = await wait_for_mail(smtp, set(sent), DRAIN_TIMEOUT_S)
    if errors:
        progress(f"baseline: {len(errors)} sends failed, first: {errors[0]}")
    return Series("baseline: AppriseChannel.send -> SMTP has it", count, deltas(sent, got))


# ---- the pipeline: chargers -> App -> SMTP ---------------------------------------------


def app_config(data_dir: Path, smtp: StampedSmtpServer, chargers: list[str]) -> Config:
    """Default pack with `faulted_for: 0s`; ConnectorFaulted to the SMTP receiver with
    group_wait 0s, one group per fault; every other alert to a file, out of the way."""
    text = f"""
rules:
  overrides:
    - params: {{faulted_for: 0s}}
sites:
  - {{id: {SITE}, timezone: UTC, chargers: [{", ".join(chargers)}]}}
notifications:
  dashboard_url: https://grafana.example/d/cw-charger
  receivers:
    - name: noc
      targets: ["{smtp.mailto}"]
    - name: elsewhere
      targets: ["file:{data_dir / "other-notifications.jsonl"}"]
  route:
    receiver: elsewhere
    group_by: [alertname, site]
    routes:
      - matchers: ['alertname="ConnectorFaulted"']
        receiver: noc
        group_by: [alertname, charger, connector]
        group_wait: 0s
        group_interval: 1s
"""
    config = parse_config(text)
    return config.model_copy(  # as tests/conftest.make_config: loopback, ephemeral ports
        update={
            "data_dir": data_dir,
            "ocpp": config.ocpp.model_copy(update={"host": "127.0.0.1", "port": 0}),
            "http": config.http.model_copy(update={"host": "127.0.0.1", "port": 0}),
        }
    )


def watch_alert_commits(app: App, run: PipelineRun) -> None:
    """Note when each ConnectorFaulted firing transition is durable in the journal (the
    rule runner's `journal.commit` returns): instruments this in-process App only."""
    journal = app.journal
    assert journal is not None
    original = journal.commit

    async def commit(events: list[ev.Event], message: ev.RawMessage | None = None) -> None:
        await original(events, message)
        now = time.time()
        for e in events:
            if isinstance(e, ev.AlertChanged) and e.rule == "ConnectorFaulted":
                labels = e.labels or {}
                if e.state == "firing" and "charger" in labels:
                    key = (labels["charger"], int(labels.get("connector", 0)))
                    run.alert_committed.setdefault(key, now)

    journal.commit = commit  # type: ignore[method-assign]


async def run_pipeline(
    app: App, smtp: StampedSmtpServer, chargers: dict[str, Charger], order: list[Key], rate: float
) -> PipelineRun:
    """Warm up with one fault, then `len(order)` faults at `rate`; wait for their e-mails."""
    run = PipelineRun()
    warm = chargers["WARMUP"]
    await warm.call("StatusNotification", fault(1, "OtherError"), lambda: None)
    got = await wait_for_mail(smtp, {("WARMUP", 1)}, DRAIN_TIMEOUT_S)
    if not got:
        raise RuntimeError("the warm-up fault's e-mail did not arrive")
    watch_alert_commits(app, run)
    cpu0, wall0 = os.times(), time.perf_counter()

    async def one(i: int) -> None:
        key = order[i]
        charger = chargers[key[0]]

        def stamp() -> None:
            run.sent_wall[key] = time.time()
            run.sent[key] = time.perf_counter()

        try:
            await charger.call(
                "StatusNotification", fault(key[1], ERROR_CODES[i % len(ERROR_CODES)]), stamp
            )
            run.answered[key] = time.perf_counter()
        except Exception as exc:  # a lost fault is a missing figure, reported below
            run.errors.append(f"{key}: {type(exc).__name__}: {exc}")

    tasks = await steady(len(order), rate, one)
    await asyncio.gather(*tasks)
    run.arrived = await wait_for_mail(smtp, set(order), DRAIN_TIMEOUT_S)
    cpu1 = os.times()
    run.wall_s = time.perf_counter() - wall0
    run.cpu_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return run


# ---- the run ---------------------------------------------------------------------------


@dataclass
class Result:
    pipeline: Series
    baseline: Series
    stages: list[Series]
    run: PipelineRun
    chargers: int
    other_mail: int
    loop: str


async def bench(args: argparse.Namespace, workdir: Path) -> Result:
    rng = random.Random(args.seed)
    n_chargers = math.ceil(args.faults / 2)
    ids = [f"CP-{i:05d}" for i in range(n_chargers)]
    order = [(cid, c) for cid in ids for c in (1, 2)][: args.faults]
    rng.shuffle(order)
    smtp = StampedSmtpServer()
    smtp.start()
    try:
        progress(f"baseline: {args.faults} e-mails with apprise at {args.rate:g}/s …")
        timeout = 30.0  # notifications.delivery.timeout's default, the App's apprise timeout
        baseline = await run_baseline(smtp, args.faults, args.rate, timeout)
        app = App(app_config(workdir / "data", smtp, [*ids, "WARMUP"]))
        progress("starting the App in this process …")
        await app.start()
        chargers: dict[str, Charger] = {}
        try:
            progress(f"connecting {n_chargers + 1} chargers …")
            chargers = await connect_all(app.ocpp_port, [*ids, "WARMUP"])
            progress(f"pipeline: {args.faults} faults at {args.rate:g}/s …")
            run = await run_pipeline(app, smtp, chargers, order, args.rate)
        finally:
            await close_all(chargers)
            progress("stopping the App …")
            await app.stop()
        for error in run.errors[:5]:
            progress(f"pipeline error: {error}")
        pipeline = Series(
            "pipeline: fault sent -> SMTP has it", args.faults, deltas(run.sent, run.arrived)
        )
        stages = stage_rows(run, workdir / "data" / "chargewatch.db", args.faults)
        other = smtp.other
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        return Result(pipeline, baseline, stages, run, n_chargers, other, loop)
    finally:
        smtp.stop()


def report(args: argparse.Namespace, r: Result) -> str:
    lines = [
        f"fault-to-inbox benchmark: {args.faults} faults at {args.rate:g}/s on {r.chargers} "
        f"chargers x 2 connectors (seed {args.seed}); python {platform.python_version()}, "
        f"{os.cpu_count()} cores",
        f"App in-process ({r.loop}): the chargers and the SMTP server share its CPU; process CPU "
        f"{r.run.cpu_s:.1f} s in {r.run.wall_s:.1f} s ({r.run.cpu_s / r.run.wall_s:.0%} of a core)",
        *render_table([r.pipeline, r.baseline], (r.pipeline, r.baseline)),
        "where the pipeline's time goes (per fault; stamps from the store and the journal):",
        *render_table(r.stages, None)[1:],
    ]
    if r.other_mail:
        lines.append(f"other e-mails received: {r.other_mail}")
    p99 = r.pipeline.q(0.99)
    verdict = "met" if p99 < 1.0 and len(r.pipeline.values) == args.faults else "NOT met"
    lines.append(f"aim p99 < 1000 ms: {verdict} (p99 {p99 * 1000:.0f} ms)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=200, help="faults to send (200)")
    parser.add_argument("--rate", type=float, default=20.0, help="faults per second (20)")
    parser.add_argument("--seed", type=int, default=1, help="order of the faults (1)")
    return parser


async def main_async(args: argparse.Namespace) -> Result:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    phase_s = args.faults / args.rate + DRAIN_TIMEOUT_S
    workdir = Path(tempfile.mkdtemp(prefix="chargewatch-bench-notify-"))
    try:
        async with asyncio.timeout(SETUP_BUDGET_S + 2 * phase_s):
            return await bench(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.faults < 1 or args.rate <= 0:
        print("--faults and --rate must be positive", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("chargewatch.app").setLevel(logging.ERROR)  # "API open": loopback here
    try:
        import uvloop
    except ImportError:
        run: Callable[..., Any] = asyncio.run
    else:
        run = uvloop.run
    try:
        result = run(main_async(args))
    except KeyboardInterrupt:
        progress("interrupted; servers stopped")
        return 130
    except asyncio.CancelledError:
        progress("terminated; servers stopped")
        return 143
    except (RuntimeError, TimeoutError, OSError) as exc:
        progress(f"benchmark failed: {exc or type(exc).__name__}")
        return 1
    print(report(args, result))
    return 0 if len(result.pipeline.values) == args.faults else 1


if __name__ == "__main__":
    sys.exit(main())
