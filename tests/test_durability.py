"""Nothing acknowledged is lost: the journal is on disk before the answer, state survives a
restart and kill -9, retried messages never duplicate, and one data dir has one process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest
from helpers import (
    NOW,
    call,
    db_rows,
    eventually,
    free_port,
    raw_charger,
    spawn_collector,
    wait_listening,
)

from chargewatch.app import App

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}


def start_payload(connector: int = 1, tag: str = "T", meter: int = 0, ts: str = NOW) -> dict:
    return {"connectorId": connector, "idTag": tag, "meterStart": meter, "timestamp": ts}


async def test_events_are_on_disk_before_the_answer(app: App) -> None:
    async with raw_charger(app.ocpp_port, "CP-D") as ws:
        for i in range(20):
            await call(
                ws,
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": f"n{i}"},
            )
            # read by another connection right after the answer: it must already be there
            rows = db_rows(app.config.data_dir, "SELECT COUNT(*) FROM journal WHERE kind='status'")
            assert rows == [(i + 1,)]


async def test_restart_restores_state_and_marks_stale_connections(start_app, tmp_path) -> None:
    app: App = await start_app()
    port = app.ocpp_port
    async with raw_charger(port, "CP-R") as ws:
        await call(ws, "BootNotification", BOOT)
        await call(
            ws,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted"},
        )
        start = await call(ws, "StartTransaction", start_payload(2, meter=100))
        txid = start[2]["transactionId"]
        await app.stop()  # server goes away while the charger is connected
    again: App = await start_app()
    charger = again.state.chargers["CP-R"]
    assert (charger.vendor, charger.boot_count, charger.connected) == ("V", 1, False)
    assert charger.connectors[1].status == "Faulted"
    assert charger.connectors[1].error_code == "GroundFailure"
    assert charger.connectors[2].session_id == str(txid)
    assert again.state.sessions[str(txid)].meter_start_wh == 100
    async with raw_charger(again.ocpp_port, "CP-R") as ws:
        # transaction ids continue after the restart, never reused
        fresh = await call(ws, "StartTransaction", start_payload(1, "U"))
        assert fresh[2]["transactionId"] > txid
        # a repeat of the start from before the restart is still recognised
        assert (await call(ws, "StartTransaction", start_payload(2, meter=100)))[2][
            "transactionId"
        ] == txid


async def test_retried_message_id_is_answered_once_even_after_reconnect(app: App) -> None:
    async with raw_charger(app.ocpp_port, "CP-RT") as ws:
        first = await call(ws, "StartTransaction", start_payload(), message_id="m-1")
        again = await call(ws, "StartTransaction", start_payload(), message_id="m-1")
        assert again == first
    async with raw_charger(app.ocpp_port, "CP-RT") as ws:  # new connection, same charger
        assert await call(ws, "StartTransaction", start_payload(), message_id="m-1") == first
        # same content, new message id: still the same transaction
        assert (await call(ws, "StartTransaction", start_payload()))[2] == first[2]
    assert db_rows(app.config.data_dir, "SELECT COUNT(*) FROM sessions") == [(1,)]
    assert db_rows(
        app.config.data_dir, "SELECT COUNT(*) FROM journal WHERE kind='session_started'"
    ) == [(1,)]


async def test_retry_after_restart_is_answered_from_the_message_log(start_app) -> None:
    app: App = await start_app()
    async with raw_charger(app.ocpp_port, "CP-RR") as ws:
        first = await call(ws, "StartTransaction", start_payload(), message_id="m-9")
    await eventually(lambda: not app.state.chargers["CP-RR"].connected)
    await app.stop()
    again: App = await start_app()
    async with raw_charger(again.ocpp_port, "CP-RR") as ws:
        assert await call(ws, "StartTransaction", start_payload(), message_id="m-9") == first
    assert db_rows(again.config.data_dir, "SELECT COUNT(*) FROM sessions") == [(1,)]


async def test_new_start_on_busy_connector_supersedes_and_repeated_stop_is_ignored(
    app: App,
) -> None:
    async with raw_charger(app.ocpp_port, "CP-SS") as ws:
        a = (await call(ws, "StartTransaction", start_payload(meter=0)))[2]["transactionId"]
        b = (
            await call(ws, "StartTransaction", start_payload(meter=10, ts="2026-11-22T11:00:00Z"))
        )[2]["transactionId"]
        assert a != b
        stop = {"transactionId": b, "meterStop": 510, "timestamp": "2026-11-22T12:00:00Z"}
        await call(ws, "StopTransaction", stop)
        await call(ws, "StopTransaction", {**stop, "meterStop": 999})  # repeated, new id
        await call(
            ws, "StopTransaction", {"transactionId": 777, "meterStop": 5, "timestamp": NOW}
        )  # never started here
    rows = db_rows(
        app.config.data_dir,
        "SELECT session_id, stop_reason, meter_stop_wh, energy_wh FROM sessions "
        "ORDER BY received_at",
    )
    assert rows == [
        (str(a), "Superseded", None, None),
        (str(b), "Local", 510.0, 500.0),
        ("777", "Local", 5.0, None),
    ]


async def test_a_failed_commit_answers_internal_error_and_loses_nothing_else(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk failure during one group commit: its chargers get InternalError (and retry);
    the writer carries on and later commits are stored."""
    from chargewatch import store

    real_write = store.write
    failures = []

    def failing_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        return real_write(*args, **kwargs)

    async with raw_charger(app.ocpp_port, "CP-IO") as ws:
        await call(ws, "Heartbeat", {})
        monkeypatch.setattr(store, "write", failing_once)
        answer = await call(
            ws,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
            message_id="s-1",
        )
        assert answer[2:4] == [
            "InternalError",
            "the message could not be stored; send it again later",
        ]
        # the charger retries the same message: now it is processed and stored
        retry = await call(
            ws,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
            message_id="s-1",
        )
        assert retry == [3, "s-1", {}]
    assert db_rows(app.config.data_dir, "SELECT status FROM status_history") == [("Charging",)]
    async with httpx.AsyncClient() as client:
        health = (await client.get(f"http://127.0.0.1:{app.http_port}/healthz")).json()
        text = (await client.get(f"http://127.0.0.1:{app.http_port}/metrics")).text
    assert health["journal"] == "ok"
    assert "chargewatch_journal_commit_errors_total 1.0" in text


def fail_next_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's next group commit fails like a full disk; the ones after it succeed."""
    from chargewatch import store

    real_write, failures = store.write, []

    def failing_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("database or disk is full")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(store, "write", failing_once)


async def test_a_start_retried_after_a_failed_commit_is_stored_not_taken_for_a_repeat(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failed commit's session was already in the live state; without a rollback the
    retry looked like a repeated StartTransaction, was answered, and never stored."""
    async with raw_charger(app.ocpp_port, "CP-RB") as ws:
        await call(ws, "BootNotification", BOOT)
        fail_next_write(monkeypatch)
        first = await call(ws, "StartTransaction", start_payload(), message_id="st-1")
        assert first[:3] == [4, "st-1", "InternalError"]
        retry = await call(ws, "StartTransaction", start_payload(), message_id="st-1")
        assert retry[0] == 3
        txid = retry[2]["transactionId"]
    assert db_rows(app.config.data_dir, "SELECT session_id FROM sessions") == [(str(txid),)]
    assert app.state.sessions.keys() == {str(txid)}


async def test_a_201_transaction_event_retried_after_a_failed_commit_is_not_a_duplicate(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = {
        "eventType": "Started",
        "timestamp": NOW,
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "t-1", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
    }
    async with raw_charger(app.ocpp_port, "ST-RB", subprotocols=("ocpp2.0.1",)) as ws:
        await call(ws, "Heartbeat", {})  # the connection is journaled
        fail_next_write(monkeypatch)
        first = await call(ws, "TransactionEvent", started, message_id="te-1")
        assert first[:3] == [4, "te-1", "InternalError"]
        assert (await call(ws, "TransactionEvent", started, message_id="te-1"))[0] == 3
    sessions = db_rows(app.config.data_dir, "SELECT session_id FROM sessions")
    assert sessions == [("ST-RB:t-1",)]
    statuses = db_rows(app.config.data_dir, "SELECT status FROM status_history")
    assert statuses == [("Charging",)]


async def test_raw_message_log_is_pruned_after_its_retention(start_app) -> None:
    app: App = await start_app("storage:\n  message_log_retention_hours: 0.0003\n")  # ~1 s
    async with raw_charger(app.ocpp_port, "CP-LOG") as ws:
        await call(ws, "Heartbeat", {}, message_id="old")
        await asyncio.sleep(1.5)
        await call(ws, "Heartbeat", {}, message_id="new")  # its commit runs the pruning
    rows = db_rows(app.config.data_dir, "SELECT message_id FROM messages")
    assert rows == [("new",)]
    # the journal itself is never pruned
    assert db_rows(app.config.data_dir, "SELECT COUNT(*) FROM journal WHERE kind='heartbeat'") == [
        (2,)
    ]


@pytest.mark.slow
async def test_kill_9_loses_nothing_that_was_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ocpp_port, http_port = free_port(), free_port()
    proc = spawn_collector(data, ocpp_port, http_port)
    acked: dict[str, list[int]] = {}
    txids: dict[str, int] = {}
    try:
        await wait_listening(proc, ocpp_port, http_port)

        async def charger(n: int) -> None:
            cid = f"CP-K{n}"
            acked[cid] = []
            with contextlib.suppress(Exception):
                async with raw_charger(ocpp_port, cid) as ws:
                    await call(ws, "BootNotification", BOOT)
                    start = await call(ws, "StartTransaction", start_payload(meter=0))
                    txids[cid] = start[2]["transactionId"]
                    for i in range(1, 100000):
                        answer = await call(
                            ws,
                            "MeterValues",
                            {
                                "connectorId": 1,
                                "transactionId": txids[cid],
                                "meterValue": [
                                    {"timestamp": NOW, "sampledValue": [{"value": str(i)}]}
                                ],
                            },
                        )
                        assert answer[0] == 3
                        acked[cid].append(i)

        tasks = [asyncio.create_task(charger(n)) for n in range(8)]
        await asyncio.sleep(1.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        await asyncio.gather(*tasks)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sum(len(v) for v in acked.values()) > 100  # the load was real
    # restart on the same data dir: every acknowledged reading is there
    proc = spawn_collector(data, ocpp_port, http_port)
    try:
        await wait_listening(proc, ocpp_port, http_port)
        for cid, values in acked.items():
            rows = db_rows(
                data, "SELECT data FROM journal WHERE charger_id=? AND kind='meter'", (cid,)
            )
            stored = {int(json.loads(d)["samples"][0][2]) for (d,) in rows}
            assert set(values) <= stored, cid
        # the open sessions survived, and the chargers are no longer marked connected
        async with httpx.AsyncClient() as client:
            body = (await client.get(f"http://127.0.0.1:{http_port}/api/v1/chargers")).json()
        by_id = {c["charger_id"]: c for c in body["chargers"]}
        for cid, txid in txids.items():
            assert by_id[cid]["connected"] is False
            assert by_id[cid]["connectors"][0]["open_session"]["session_id"] == str(txid)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
async def test_second_process_on_the_same_data_dir_refuses(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = spawn_collector(data, free_port(), free_port())
    try:
        port = int(first.args[first.args.index("--ocpp-port") + 1])
        await wait_listening(first, port)
        second = spawn_collector(data, free_port(), free_port())
        _, err = second.communicate(timeout=20)
        assert second.returncode == 1
        assert f"data dir {data} is in use by another chargewatch process (pid {first.pid})" in err
    finally:
        first.send_signal(signal.SIGINT)
        assert first.wait(15) == 0  # Ctrl-C is a clean stop


async def test_a_new_connection_replaces_the_open_one_for_the_same_charger(app: App) -> None:
    async with raw_charger(app.ocpp_port, "CP-TWICE") as first:
        await call(first, "Heartbeat", {})
        async with raw_charger(app.ocpp_port, "CP-TWICE") as second:
            await call(second, "Heartbeat", {})
            await first.wait_closed()
            assert (first.close_code, first.close_reason) == (1000, "replaced by a new connection")
            await asyncio.sleep(0.1)
            assert app.state.chargers["CP-TWICE"].connected  # the replaced one did not count
        await eventually(lambda: not app.state.chargers["CP-TWICE"].connected)
    kinds = [
        k
        for (k,) in db_rows(
            app.config.data_dir, "SELECT kind FROM journal WHERE charger_id='CP-TWICE' ORDER BY seq"
        )
    ]
    assert kinds == ["connected", "heartbeat", "connected", "heartbeat", "disconnected"]
