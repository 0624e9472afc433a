"""`chargewatch demo`: the collector and a simulated fleet with faults, with a live summary.

Composes the collector app and the simulator in one event loop; Ctrl-C (or --duration) stops
the fleet first, then the collector, which closes every connection and flushes the journal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sqlite3
import time
from collections import Counter
from datetime import date
from pathlib import Path

from chargewatch.alerts import Alert
from chargewatch.app import App
from chargewatch.cli import fleet_options
from chargewatch.config import ChargerSecurityConfig, Config
from chargewatch.faults import CHARGEX_CODES, chargex_code
from chargewatch.state import LiveState
from collector.simulator import run_fleet
from reports.config import ReportsConfig, SessionSuccessConfig, TariffConfig

SUMMARY_EVERY_S = 5.0
DEMO_HEARTBEAT_S = 30  # short, so heartbeats show up in a few minutes of demo


def demo_config(config: Config, args: argparse.Namespace) -> Config:
    """Demo defaults where neither a config file nor a flag says otherwise."""
    if args.config is not None:
        return config
    update: dict[str, object] = {
        "ocpp": config.ocpp.model_copy(
            update={
                "heartbeat_interval": DEMO_HEARTBEAT_S,
                # the simulated fleet is registered nowhere: let it in, unless a flag says
                **(
                    {}
                    if getattr(args, "unknown_chargers", None)
                    else {"security": _accept_unknown(config)}
                ),
                **({} if args.host else {"host": "127.0.0.1"}),
            }
        ),
    }
    if not args.host:
        update["http"] = config.http.model_copy(update={"host": "127.0.0.1"})
    if args.data_dir is None:
        update["data_dir"] = Path("var/demo")
    update["reports"] = demo_reports(config)
    return config.model_copy(update=update)


def _accept_unknown(config: Config) -> ChargerSecurityConfig:
    return config.ocpp.security.model_copy(update={"unknown_chargers": "accept"})


def demo_reports(config: Config) -> ReportsConfig:
    """The demo runs in compressed time (a session lasts a minute, not an hour): session
    success is judged by demo-sized thresholds, and a demo tariff prices the sessions."""
    return config.reports.model_copy(
        update={
            "session_success": SessionSuccessConfig(min_energy_wh=20, min_duration=15),
            "tariffs": [
                TariffConfig(
                    id="demo", currency="EUR", valid_from=date(2000, 1, 1), per_kwh="0.45",
                    session_fee="0.50", idle_fee_per_minute="0.10", idle_grace_minutes=1,
                    tax_rate="0.19",
                )
            ],
        }
    )  # fmt: skip


# energy of a session so far; a meter that was reset or replaced mid-session (the simulator
# injects that) would otherwise count as negative energy
SESSION_ENERGY_WH = "MAX(0, COALESCE(energy_wh, meter_last_wh - meter_start_wh))"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def summary(state: LiveState, db: sqlite3.Connection, started: float, alerts: list[Alert]) -> str:
    """A few lines on what the collector sees right now (its view, not the simulator's)."""
    chargers = state.chargers.values()
    online = sum(c.connected for c in chargers)
    statuses = Counter(
        conn.status for c in chargers for k, conn in c.connectors.items() if k and conn.status
    )
    energy_wh = db.execute(
        f"SELECT COALESCE(SUM({SESSION_ENERGY_WH}), 0) FROM sessions WHERE received_at >= ?",
        (started,),
    ).fetchone()[0]
    sessions = db.execute(
        "SELECT COUNT(*) FROM sessions WHERE received_at >= ?", (started,)
    ).fetchone()[0]
    messages = sum(c.messages for c in chargers)
    by_status = ", ".join(f"{s} {n}" for s, n in statuses.most_common()) or "none yet"
    lines = [
        f"[{_clock(time.time() - started)}] chargers online {online}/{len(state.chargers)} | "
        f"open sessions {len(state.sessions)} | sessions {sessions} | "
        f"energy {energy_wh / 1000:.1f} kWh | messages {messages}",
        f"        connectors: {by_status}",
    ]
    firing = Counter(a.rule for a in alerts if a.state == "firing")
    pending = sum(a.state == "pending" for a in alerts)
    listed = ", ".join(f"{name} {n}" for name, n in firing.most_common()) or "none"
    lines.append(f"        alerts firing: {listed} | pending {pending}")
    faults = db.execute(
        "SELECT charger_id, connector_id, error_code, vendor_id, vendor_error_code, "
        "fault_category, ts FROM status_history WHERE fault_category IS NOT NULL AND ts >= ? "
        "ORDER BY id DESC LIMIT 4",
        (started,),
    ).fetchall()
    for cid, kid, code, vendor, vcode, category, ts in faults:
        cx = chargex_code(vendor, vcode)
        what = f"{cx} {CHARGEX_CODES[cx][0]}" if cx else code
        lines.append(f"        fault {_clock(ts - started)} {cid}/{kid} {what} ({category})")
    lines += _notifications(db, started)
    return "\n".join(lines)


def _notifications(db: sqlite3.Connection, started: float) -> list[str]:
    """How many notifications went out, and the latest few as their receivers saw them."""
    # a notification is one outbox row per target of its receiver, all decided together
    decided, delivered = db.execute(
        "SELECT COUNT(DISTINCT receiver || created || group_key), "
        "COALESCE(SUM(state = 'sent'), 0) FROM outbox WHERE created >= ?",
        (started,),
    ).fetchone()
    rows = db.execute(
        "SELECT o.created, o.receiver, o.message FROM outbox o WHERE o.created >= ? "
        "AND o.channel = 'file' ORDER BY o.id DESC LIMIT 3",
        (started,),
    ).fetchall()
    lines = [f"        notifications: {decided} ({delivered} messages delivered)"]
    for created, receiver, message in rows:
        title = json.loads(message).get("title", "")
        lines.append(f"        notified {_clock(created - started)} {receiver}: {title}")
    return lines


async def run_demo(config: Config, args: argparse.Namespace) -> None:
    config = demo_config(config, args)
    app = App(config)
    await app.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    host = "127.0.0.1" if config.http.host in ("0.0.0.0", "::") else config.http.host
    ocpp_url = f"ws://{host}:{app.ocpp_port}{config.ocpp.path_prefix}"
    print(
        f"ChargeWatch demo: {args.chargers} simulated {fleet_protocols(args)} chargers, "
        f"{args.connectors} connectors each, fault rate {args.faults}, seed {args.seed}\n"
        f"  OCPP endpoint  {ocpp_url}/<chargePointId>\n"
        f"  chargers API   http://{host}:{app.http_port}/api/v1/chargers\n"
        f"  alerts API     http://{host}:{app.http_port}/api/v1/alerts\n"
        f"  notifications  http://{host}:{app.http_port}/api/v1/notifications and "
        f"{notifications_file(config)}\n"
        f"  API docs       http://{host}:{app.http_port}/docs\n"
        f"  metrics        http://{host}:{app.http_port}/metrics\n"
        f"  data dir       {config.data_dir}\n"
        f"Press Ctrl-C to stop.",
        flush=True,
    )
    started = time.time()
    fleet = asyncio.create_task(run_fleet(fleet_options(args, ocpp_url), stop))
    db = sqlite3.connect(f"file:{config.data_dir / 'chargewatch.db'}?mode=ro", uri=True)
    try:
        while not fleet.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(fleet), SUMMARY_EVERY_S)
            if not fleet.done():
                alerts = app.rules.active() if app.rules is not None else []
                print(summary(app.state, db, started, alerts), flush=True)
        stats = fleet.result()
        ended = time.time()
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await fleet
        await app.stop()
        db.close()
    print(summary_after_stop(config, started), flush=True)
    print(
        f"Simulator: {stats.total_calls} calls answered, {stats.sessions_completed} sessions "
        f"completed, faults injected {dict(stats.faults) or 'none'}, "
        f"{stats.total_call_errors} CallErrors.",
        flush=True,
    )
    print(month_to_date_report(config, ended), flush=True)


def fleet_protocols(args: argparse.Namespace) -> str:
    """What the demo fleet speaks, e.g. "OCPP 1.6J" or "OCPP 1.6J and 2.0.1 (50 % 2.0.1)"."""
    if args.ocpp == "mixed":
        return f"OCPP 1.6J and 2.0.1 ({args.ocpp_201_share:.0%} 2.0.1)"
    return "OCPP 1.6J" if args.ocpp == "1.6" else "OCPP 2.0.1"


def month_to_date_report(config: Config, now: float) -> str:
    """This month's SLA report so far, as `chargewatch report monthly` writes it."""
    from reports.monthly import write_monthly_report

    month = time.strftime("%Y-%m", time.gmtime(now))
    out = config.data_dir / "reports" / month / "network"
    result = write_monthly_report(config, month, out, now=now)
    return f"Month-to-date SLA report: {result.files[0]}\n{result.summary}"


def notifications_file(config: Config) -> str:
    """Where the default (local) receiver writes, or what the config's receivers are."""
    if config.notifications.receivers:
        return "the configured receivers"
    return str(config.data_dir / "notifications.jsonl")


def summary_after_stop(config: Config, started: float) -> str:
    """Totals of this run, read back from the store after everything was flushed."""
    db = sqlite3.connect(config.data_dir / "chargewatch.db")
    try:
        events = db.execute("SELECT COUNT(*) FROM journal WHERE ts >= ?", (started,)).fetchone()[0]
        sessions, energy_wh = db.execute(
            f"SELECT COUNT(*), COALESCE(SUM({SESSION_ENERGY_WH}), 0) FROM sessions "
            "WHERE received_at >= ?",
            (started,),
        ).fetchone()
        faults = db.execute(
            "SELECT COUNT(*) FROM status_history WHERE fault_category IS NOT NULL AND ts >= ?",
            (started,),
        ).fetchone()[0]
        fired = db.execute(
            "SELECT COUNT(*) FROM alert_history WHERE state = 'firing' AND previous IS NOT "
            "'firing' AND at >= ?",
            (started,),
        ).fetchone()[0]
        notified = db.execute(
            "SELECT COUNT(*) FROM outbox WHERE state = 'sent' AND created >= ?", (started,)
        ).fetchone()[0]
    finally:
        db.close()
    return (
        f"Stopped cleanly: every connection closed and journaled. This run: {events} events, "
        f"{sessions} sessions, {energy_wh / 1000:.1f} kWh, {faults} fault reports, "
        f"{fired} alerts fired, {notified} notification messages delivered, stored in "
        f"{config.data_dir / 'chargewatch.db'}."
    )
