"""kill -9 the collector while InfluxDB is down and a backlog exists: after the restart the
backlog drains — nothing lost, nothing doubled. Then again mid-stream with InfluxDB up."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from helpers import call, free_port, raw_charger
from influx_checks import assert_meter_exactly_once
from servers import InfluxDB1


class Collector:
    """`chargewatch run` as its own process, so it can be killed for real."""

    def __init__(self, tmp: Path, influx_url: str) -> None:
        self.data = tmp / "data"
        self.ocpp_port, self.http_port = free_port(), free_port()
        self.config = tmp / "chargewatch.yaml"
        self.config.write_text(
            f"data_dir: {self.data}\n"
            f"ocpp: {{host: 127.0.0.1, port: {self.ocpp_port},"
            f" security: {{unknown_chargers: accept}}}}\n"
            f"http: {{host: 127.0.0.1, port: {self.http_port}}}\n"
            f"influxdb: {{url: {influx_url}, api: v1, database: cw, flush_interval: 0.1,"
            f" retry_max_delay: 1, batch_size: 500}}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        log = (self.config.parent / "collector.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chargewatch.cli", "run", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 20
        for port in (self.ocpp_port, self.http_port):
            while True:
                assert self.proc.poll() is None, f"collector exited: {self.log_tail()}"
                assert time.monotonic() < deadline, f"collector did not start: {self.log_tail()}"
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.1)
                    continue
                writer.close()
                break

    def log_tail(self) -> str:
        return (self.config.parent / "collector.log").read_text()[-3000:]

    async def metric(self, name: str) -> float:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.http_port}/metrics")).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{name} not exported")

    async def wait_drained(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while await self.metric("chargewatch_influxdb_backlog_events") > 0:
            assert time.monotonic() < deadline, "backlog did not drain"
            await asyncio.sleep(0.2)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(20)


async def _charge(port: int, charger: str, values: range) -> None:
    """One charger sending MeterValues; each must be acknowledged."""
    async with raw_charger(port, charger) as ws:
        for i in values:
            answer = await call(
                ws,
                "MeterValues",
                {
                    "connectorId": 1,
                    "meterValue": [
                        {
                            "timestamp": f"2026-11-22T10:{i // 60:02d}:{i % 60:02d}Z",
                            "sampledValue": [
                                {"value": str(i)},
                                {"value": str(i * 10), "measurand": "Power.Active.Import"},
                            ],
                        }
                    ],
                },
            )
            assert answer[0] == 3


async def _stream_until_killed(port: int, charger: str, first: int) -> int:
    """Send until the connection breaks; return how many were acknowledged."""
    sent = 0
    with contextlib.suppress(Exception):
        async with raw_charger(port, charger) as ws:
            for i in range(first, first + 100000):
                await call(
                    ws,
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "meterValue": [
                            {
                                "timestamp": f"2026-11-22T11:00:00.{i:06d}Z",  # unique per value
                                "sampledValue": [{"value": str(i)}],
                            }
                        ],
                    },
                )
                sent += 1
    return sent


@pytest.mark.slow
async def test_kill_9_with_a_backlog_then_drain_exactly_once(
    tmp_path: Path, influxdb1: InfluxDB1
) -> None:
    influxdb1.stop()  # InfluxDB down from the start: everything piles up in the journal
    collector = Collector(tmp_path, influxdb1.url)
    await collector.start()
    try:
        await asyncio.gather(
            *(_charge(collector.ocpp_port, f"CP-{n}", range(200)) for n in range(5))
        )
        assert await collector.metric("chargewatch_influxdb_backlog_events") >= 1000
        collector.kill9()

        influxdb1.start()
        await collector.start()
        await collector.wait_drained()
        assert_meter_exactly_once(influxdb1, collector.data)
        assert influxdb1.query("SELECT count(value) FROM meter_value")[0]["values"][0][1] == 2000

        # and once more, killed in the middle of shipping with InfluxDB up
        streams = [
            asyncio.create_task(_stream_until_killed(collector.ocpp_port, f"CP-S{n}", n * 1000))
            for n in range(4)
        ]
        await asyncio.sleep(1.5)
        collector.kill9()
        acknowledged = sum(await asyncio.gather(*streams))
        assert acknowledged > 50
        await collector.start()
        await collector.wait_drained()
        assert_meter_exactly_once(influxdb1, collector.data)
    finally:
        collector.stop()
