"""Nothing decided is lost: `kill -9` while a notification is on its way, and the restarted
collector delivers it (at least once; the duplicate of the crash window is logged)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from helpers import NOW, call, db_rows, eventually, free_port, raw_charger, spawn_collector
from helpers import wait_listening as listening
from notify_servers import HttpReceiver

FAULTED = {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted", "timestamp": NOW}


def write_config(path: Path, hook: HttpReceiver) -> Path:
    path.write_text(f"""
rules:
  overrides:
    - params: {{faulted_for: 0s}}
notifications:
  receivers:
    - {{name: noc, targets: ["json://127.0.0.1:{hook.port}/hooks/noc"]}}
  route: {{receiver: noc, group_by: [alertname, charger], group_wait: 0s}}
""")
    return path


@pytest.mark.slow
async def test_kill_9_mid_delivery_is_delivered_after_restart(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    data, config = tmp_path / "data", write_config(tmp_path / "cw.yaml", http_receiver)
    ocpp_port, http_port = free_port(), free_port()
    http_receiver.stall()  # the first attempt hangs: the outbox row stays `sending`
    proc = spawn_collector(data, ocpp_port, http_port, config)
    try:
        await listening(proc, ocpp_port, http_port)
        async with raw_charger(ocpp_port, "CP-1") as ws:
            await call(ws, "StatusNotification", FAULTED)
            await http_receiver.wait_for_async(1)
        states = db_rows(data, "SELECT state FROM outbox")
        assert states == [("sending",)]
        os.kill(proc.pid, signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    http_receiver.release()
    proc = spawn_collector(data, ocpp_port, http_port, config)
    try:
        await listening(proc, ocpp_port, http_port)
        requests = await http_receiver.wait_for_async(2)
        assert requests[0].json()["title"] == requests[1].json()["title"]  # the same message
        assert "ConnectorFaulted" in requests[1].json()["title"]
        await eventually(
            lambda: db_rows(data, "SELECT state, resumed FROM outbox") == [("sent", 1)], 10
        )
        log = db_rows(data, "SELECT result, attempt FROM notification_log ORDER BY id")
        assert log == [("sent", 2)]
        # decided once: the restart replayed the journal without deciding it again
        assert len(db_rows(data, "SELECT id FROM outbox")) == 1
    finally:
        proc.terminate()
        _, err = await asyncio.to_thread(proc.communicate, timeout=10)
    assert "sent again" in err and "possible duplicate" in err


async def test_a_first_start_on_an_old_journal_tells_what_fires_now_not_its_history(
    start_app, tmp_path: Path
) -> None:
    import json
    import sqlite3

    out, data = tmp_path / "noc.jsonl", tmp_path / "data"
    config = f"""
rules:
  overrides:
    - params: {{faulted_for: 0s}}
notifications:
  receivers: [{{name: noc, targets: ["file:{out}"]}}]
  route: {{receiver: noc, group_by: [alertname, charger], group_wait: 0s, group_interval: 1s}}
"""
    app = await start_app(config, data_dir=data)
    async with raw_charger(app.ocpp_port, "CP-1") as ws, raw_charger(app.ocpp_port, "CP-2") as w2:
        await call(ws, "StatusNotification", FAULTED)
        await call(w2, "StatusNotification", FAULTED)
        await call(
            w2, "StatusNotification", {**FAULTED, "status": "Available", "errorCode": "NoError"}
        )
        await eventually(lambda: out.exists() and len(out.read_text().splitlines()) >= 3)
    await app.stop()
    db = sqlite3.connect(data / "chargewatch.db")  # as if the notifier had never run here
    with db:
        db.execute("DELETE FROM notifier_state")
        db.execute("DELETE FROM cursors WHERE consumer='notifier'")
    db.close()
    out.unlink()
    await start_app(config, data_dir=data)
    await eventually(lambda: out.exists() and len(out.read_text().splitlines()) >= 1)
    await asyncio.sleep(0.5)
    titles = [json.loads(line)["title"] for line in out.read_text().splitlines()]
    assert [t for t in titles if "ConnectorFaulted" in t] == ["FIRING ConnectorFaulted CP-1/1"]
