"""Test helpers: real OCPP chargers (raw WebSocket and the `ocpp` library) against a real App."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import ChargePoint
from websockets.asyncio.client import ClientConnection, connect

NOW = "2026-11-22T10:00:00Z"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(name: str) -> str:
    """Path of a server binary; missing is a failure under CI=true and a skip elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install it, or run .ci/run)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ocpp_url(port: int, charger_id: str) -> str:
    return f"ws://127.0.0.1:{port}/ocpp/{charger_id}"


@contextlib.asynccontextmanager
async def raw_charger(
    port: int, charger_id: str, subprotocols: tuple[str, ...] = ("ocpp1.6",), **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    async with connect(
        ocpp_url(port, charger_id), subprotocols=list(subprotocols), compression=None, **kwargs
    ) as ws:
        yield ws


async def call(
    ws: ClientConnection, action: str, payload: dict[str, Any], message_id: str | None = None
) -> list[Any]:
    """Send one Call frame and return the parsed answer."""
    mid = message_id or uuid.uuid4().hex[:16]
    await ws.send(json.dumps([2, mid, action, payload]))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert answer[1] == mid, answer
    return answer


async def send_raw(ws: ClientConnection, text: str | bytes, timeout: float = 1.0) -> Any:
    """Send a frame as-is; the parsed answer, or None when none arrives within `timeout`."""
    await ws.send(text)
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), timeout))
    except TimeoutError:
        return None


class LibCharger(ChargePoint):
    """A charger driven by the `ocpp` library's client side (it validates both directions)."""


@contextlib.asynccontextmanager
async def app_charger(
    app: Any, charger_id: str, cls: type, subprotocol: str = "ocpp1.6", **attrs: Any
) -> AsyncIterator[Any]:
    """A library ChargePoint of `cls` connected to the App, once its server has registered
    the connection; `attrs` are set on it before it starts answering calls."""
    async with connect(
        ocpp_url(app.ocpp_port, charger_id), subprotocols=[subprotocol], compression=None
    ) as ws:
        cp = cls(charger_id, ws)
        for name, value in attrs.items():
            setattr(cp, name, value)
        task = asyncio.create_task(cp.start())
        await eventually(lambda: charger_id in app.ocpp.connections)
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@contextlib.asynccontextmanager
async def lib_charger(port: int, charger_id: str) -> AsyncIterator[LibCharger]:
    async with connect(
        ocpp_url(port, charger_id), subprotocols=["ocpp1.6"], compression=None
    ) as ws:
        cp = LibCharger(charger_id, ws)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def db_rows(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the store with a separate connection, as another process would."""
    conn = sqlite3.connect(data_dir / "chargewatch.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def journal_kinds(data_dir: Path, charger_id: str) -> list[str]:
    return [
        k
        for (k,) in db_rows(
            data_dir, "SELECT kind FROM journal WHERE charger_id=? ORDER BY seq", (charger_id,)
        )
    ]


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    """Wait until `predicate()` is true (the server finishes a close asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


def spawn_collector(
    data_dir: Path, ocpp_port: int, http_port: int, config: Path | None = None
) -> subprocess.Popen:
    """`chargewatch run` as a separate process (for kill -9), on loopback."""
    extra = ["--config", str(config)] if config is not None else []
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chargewatch.cli",
            "run",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--ocpp-port",
            str(ocpp_port),
            "--http-port",
            str(http_port),
            "--unknown-chargers",  # test chargers are registered nowhere
            "accept",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def wait_listening(proc: subprocess.Popen, *ports: int, timeout: float = 20) -> None:
    """Until every port accepts connections (the HTTP API starts after the OCPP server)."""
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"collector exited: {proc.stderr.read()}")
            if time.monotonic() > deadline:
                raise AssertionError("collector did not start listening")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            break
