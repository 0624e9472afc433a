"""The command line: demo end to end (Ctrl-C stops it cleanly), flags, and config errors."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import free_port

from chargewatch.cli import build_parser, config_from_args

CLI = [sys.executable, "-m", "chargewatch.cli"]


def test_run_flags_default_and_override() -> None:
    args = build_parser().parse_args(["run"])
    config = config_from_args(args)
    assert (config.ocpp.port, config.http.port, config.ocpp.host, str(config.data_dir)) == (
        9000,
        8000,
        "0.0.0.0",
        "var",
    )
    args = build_parser().parse_args(
        [
            "run",
            "--ocpp-port",
            "9100",
            "--http-port",
            "8100",
            "--host",
            "127.0.0.1",
            "--data-dir",
            "/tmp/x",
        ]
    )
    config = config_from_args(args)
    assert (config.ocpp.port, config.http.port, config.ocpp.host, config.http.host) == (
        9100,
        8100,
        "127.0.0.1",
        "127.0.0.1",
    )
    assert config.data_dir == Path("/tmp/x")


def test_config_error_names_file_line_key_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "cw.yaml"
    bad.write_text("ocpp:\n  port: 9000\n  hearbeat_interval: 10\n")
    result = subprocess.run(
        [*CLI, "run", "--config", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert f"{bad}:3: ocpp.hearbeat_interval: unknown key" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--faults", "2"],
        ["simulate", "--chargers", "0"],
        ["run", "--ocpp-port", "-1"],
    ],
)
def test_bad_flags_are_refused(argv: list[str]) -> None:
    result = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "error:" in result.stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                *CLI,
                "run",
                "--host",
                "127.0.0.1",
                "--ocpp-port",
                str(port),
                "--http-port",
                str(free_port()),
                "--data-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert "address already in use" in result.stderr.lower()


@pytest.mark.slow
def test_demo_prints_urls_and_summaries_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [
            *CLI,
            "demo",
            "--ocpp-port",
            str(free_port()),
            "--http-port",
            str(free_port()),
            "--data-dir",
            str(data),
            "--chargers",
            "6",
            "--meter-interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 40
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("[00:1"):  # a summary at least ten seconds in
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    assert "/api/v1/chargers" in out and "/metrics" in out and "/docs" in out
    assert "chargers online 6/6" in out
    assert "connectors:" in out and "energy" in out
    assert "notifications:" in out and "/api/v1/notifications" in out
    assert "Stopped cleanly" in out
    # the run ends with its month-to-date SLA report
    report = next(line for line in out.splitlines() if line.startswith("Month-to-date SLA report"))
    assert Path(report.split(": ", 1)[1]).is_file() and "Uptime " in out
    db = sqlite3.connect(data / "chargewatch.db")
    try:
        # every charger's connection was closed and journaled on the way out
        opened = db.execute("SELECT COUNT(*) FROM journal WHERE kind='connected'").fetchone()[0]
        closed = db.execute("SELECT COUNT(*) FROM journal WHERE kind='disconnected'").fetchone()[0]
        assert opened >= 6 and opened == closed
        assert db.execute("SELECT COUNT(*) FROM chargers WHERE connected=1").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] > 0
        protocols = db.execute("SELECT DISTINCT protocol FROM connection_history").fetchall()
        assert sorted(protocols) == [("ocpp1.6",), ("ocpp2.0.1",)]  # the demo fleet is mixed
    finally:
        db.close()


async def test_simulate_command_drives_the_collector_and_prints_its_totals(app) -> None:
    import asyncio
    import json

    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "simulate",
        "--url",
        f"ws://127.0.0.1:{app.ocpp_port}/ocpp",
        "--chargers",
        "2",
        "--duration",
        "3",
        "--meter-interval",
        "0.1",
        "--seed",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    totals = json.loads(out)
    assert totals["seed"] == 5 and totals["total_calls"] > 10
    assert totals["total_call_errors"] == 0
    assert set(app.state.chargers) == {"SIM-0001", "SIM-0002"}


def test_demo_totals_never_count_a_reset_meter_as_negative_energy(tmp_path: Path) -> None:
    from chargewatch import store
    from chargewatch.config import Config
    from chargewatch.demo import summary_after_stop

    db = store.open_db(tmp_path / "chargewatch.db")
    rows = [("s1", 1000.0, 4000.0), ("s2", 90000.0, 500.0)]  # s2: the meter was reset
    for sid, start, last in rows:
        db.execute(
            "INSERT INTO sessions (session_id, transaction_id, charger_id, connector_id, "
            "meter_start_wh, meter_last_wh, received_at) VALUES (?, ?, 'CP', 1, ?, ?, 10)",
            (sid, sid, start, last),
        )
    db.close()
    config = Config().model_copy(update={"data_dir": tmp_path})
    assert "2 sessions, 3.0 kWh" in summary_after_stop(config, started=0)
