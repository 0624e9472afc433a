"""The load generator: N chargers sending MeterValues back to back, and what one run measures.

Frames are built once per connection; only the message id changes per call, and answers are
checked with a string prefix test instead of JSON parsing, so the client's cost per message is
small and, above all, identical for both servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from procfs import cpu_seconds, own_cpu_seconds, progress, rss_kib
from servers import ServerProcess
from websockets.asyncio.client import ClientConnection, connect

WARMUP_S = 1.0
CONNECT_TIMEOUT_S = 60.0  # all N chargers connected and booted
DRAIN_TIMEOUT_S = 15.0  # outstanding calls answered and connections closed after the window
SETTLE_S = 0.5  # pause before reading RSS so the server has finished its bookkeeping
MAX_CONCURRENT_HANDSHAKES = 50  # stay under the listen backlog (100) when N is large
MID = "@@MID@@"  # placeholder replaced by the message id in the pre-built frames
SAMPLE_TIME = "2026-11-22T10:00:00Z"


def sampled_values() -> list[dict[str, str]]:
    """The 10 sampled values a three-phase AC charger typically reports in one MeterValue."""

    def sv(measurand: str, value: str, unit: str, **extra: str) -> dict[str, str]:
        return {
            "value": value,
            "context": "Sample.Periodic",
            "measurand": measurand,
            "unit": unit,
            **extra,
        }

    return [
        sv("Energy.Active.Import.Register", "123456.7", "Wh", location="Outlet"),
        sv("Power.Active.Import", "11040.0", "W", location="Outlet"),
        *(sv("Current.Import", "16.0", "A", phase=p) for p in ("L1", "L2", "L3")),
        *(sv("Voltage", "230.1", "V", phase=p) for p in ("L1-N", "L2-N", "L3-N")),
        sv("SoC", "57", "Percent", location="EV"),
        sv("Temperature", "31.5", "Celsius", location="Body"),
    ]


def split_frame(action: str, payload: dict[str, Any]) -> tuple[str, str]:
    """An OCPP-J Call as (text before the message id, text after it)."""
    text = json.dumps([2, MID, action, payload], separators=(",", ":"))
    before, after = text.split(MID)
    return before, after


def meter_values_frame(index: int) -> tuple[str, str]:
    """MeterValues for charger `index`; every other charger reports inside a transaction."""
    payload: dict[str, Any] = {
        "connectorId": 1,
        "meterValue": [{"timestamp": SAMPLE_TIME, "sampledValue": sampled_values()}],
    }
    if index % 2 == 1:
        payload["transactionId"] = 1000 + index
    return split_frame("MeterValues", payload)


def boot_frame(index: int) -> tuple[str, str]:
    return split_frame(
        "BootNotification",
        {
            "chargePointVendor": "BenchVendor",
            "chargePointModel": "AC22",
            "chargePointSerialNumber": f"BENCH-{index:05d}",
            "firmwareVersion": "1.0.0",
        },
    )


@dataclass
class Window:
    """The measured window, shared by all charger tasks of one run (perf_counter times)."""

    start: float = math.inf
    end: float = math.inf
    stop: bool = False
    latencies: list[float] = field(default_factory=list)


class BadAnswer(RuntimeError):
    pass


def check_answer(answer: str | bytes, expected_prefix: str, mid: str) -> None:
    """Accept `[3,"<mid>",...]`; the fast path is a string test, JSON only to explain errors."""
    if isinstance(answer, str) and answer.startswith(expected_prefix):
        return
    with contextlib.suppress(ValueError, TypeError):
        frame = json.loads(answer)
        if isinstance(frame, list) and frame[:2] == [3, mid]:
            return
    raise BadAnswer(f"call {mid} was answered {str(answer)[:300]}")


async def call(ws: ClientConnection, before: str, mid: str, after: str) -> None:
    await ws.send(before + mid + after)
    check_answer(await ws.recv(), f'[3,"{mid}"', mid)


async def open_charger(url: str, index: int, gate: asyncio.Semaphore) -> ClientConnection:
    """Connect and boot one charger, as a real one does before it reports meter values."""
    async with gate:
        ws = await connect(
            f"{url}/BENCH{index:05d}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            compression=None,
            open_timeout=CONNECT_TIMEOUT_S,
            ping_interval=None,  # the client sends nothing but the measured calls
            max_queue=4,
        )
    before, after = boot_frame(index)
    await call(ws, before, f"b{index}", after)
    return ws


async def drive(ws: ClientConnection, index: int, window: Window) -> None:
    """One charger: MeterValues back to back, one outstanding call, until told to stop."""
    before, after = meter_values_frame(index)
    tag = f"m{index}-"
    latencies = window.latencies
    clock = time.perf_counter
    send, recv = ws.send, ws.recv
    seq = 0
    while not window.stop:
        seq += 1
        mid = tag + str(seq)
        started = clock()
        await send(before + mid + after)
        answer = await recv()
        done = clock()
        check_answer(answer, '[3,"' + mid + '"', mid)
        if window.start <= done < window.end:
            latencies.append(done - started)


async def open_chargers(url: str, indices: range) -> list[ClientConnection]:
    """Connect and boot chargers concurrently (bounded); on failure close those that opened."""
    gate = asyncio.Semaphore(MAX_CONCURRENT_HANDSHAKES)
    opening = [asyncio.create_task(open_charger(url, i, gate)) for i in indices]
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            return list(await asyncio.gather(*opening))
    except BaseException:
        for task in opening:
            task.cancel()
        opened = await asyncio.gather(*opening, return_exceptions=True)
        await close_all([ws for ws in opened if isinstance(ws, ClientConnection)])
        raise


async def close_all(connections: list[ClientConnection]) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)


@dataclass
class Figures:
    server: str
    chargers: int
    seconds: float
    messages: int
    messages_per_s: float
    p50_ms: float
    p99_ms: float
    rss_before_kib: int
    rss_connected_kib: int
    rss_after_load_kib: int
    rss_per_connection_kib: float
    rss_marginal_per_connection_kib: float  # (RSS at N - RSS at N/2) / (N - N/2)
    server_cpu_s: float
    server_main_thread_cpu_s: float  # the event loop; the rest is worker threads
    server_cpu_us_per_message: float
    client_cpu_s: float
    exit_code: int | None = None
    profiled: bool = False


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: every reported value was observed)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


async def prime(url: str) -> None:
    """One charger connects, boots, reports once and leaves before the baseline RSS reading,
    so one-time lazy work (schema compilation, first-use imports, caches) is not charged to
    the N connections that follow."""
    ws = await open_charger(url, 99999, asyncio.Semaphore(1))
    try:
        before, after = meter_values_frame(1)
        await call(ws, before, "prime-1", after)
    finally:
        await ws.close()


async def measure(
    server: ServerProcess, url: str, chargers: int, seconds: float, profiled: bool
) -> Figures:
    """Connect, warm up, measure one window, close; the server must already be listening."""
    await prime(url)
    await asyncio.sleep(SETTLE_S)
    rss_before = rss_kib(server.pid)

    progress(f"connecting {chargers} chargers…")
    # In two halves: the RSS step of the second half is the marginal cost of a connection,
    # which free memory the allocator already holds (and hands to the first ones) hides less.
    half = chargers // 2
    connections = await open_chargers(url, range(half))
    try:
        await asyncio.sleep(SETTLE_S)
        rss_half = rss_kib(server.pid)
        connections += await open_chargers(url, range(half, chargers))
        await asyncio.sleep(SETTLE_S)
        rss_connected = rss_kib(server.pid)

        window = Window()
        loop_start = time.perf_counter()
        window.start = loop_start + WARMUP_S
        window.end = window.start + seconds
        tasks = [asyncio.create_task(drive(ws, i, window)) for i, ws in enumerate(connections)]
        try:
            progress(f"warming up {WARMUP_S:.0f} s…")
            await wait_failfast(tasks, window.start - time.perf_counter())
            cpu0, main0 = cpu_seconds(server.pid), cpu_seconds(server.pid, server.pid)
            client0, t0 = own_cpu_seconds(), time.perf_counter()
            progress(f"measuring {seconds:g} s…")
            await wait_failfast(tasks, window.end - time.perf_counter())
            cpu1, main1 = cpu_seconds(server.pid), cpu_seconds(server.pid, server.pid)
            client1, t1 = own_cpu_seconds(), time.perf_counter()
            window.stop = True
            done, pending = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_S)
            if pending:
                raise RuntimeError(
                    f"{len(pending)} chargers were not answered within {DRAIN_TIMEOUT_S:.0f} s"
                )
            for task in done:
                task.result()  # re-raise the first failure, if any
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        rss_after = rss_kib(server.pid)
    finally:
        progress("closing connections…")
        await close_all(connections)

    elapsed = t1 - t0  # the CPU readings' own span; within a few ms of `seconds`
    latencies = sorted(window.latencies)
    count = len(latencies)
    server_cpu = cpu1 - cpu0
    scale = seconds / elapsed if elapsed > 0 else 1.0  # CPU figures per `seconds` of window
    return Figures(
        server=server.name,
        chargers=chargers,
        seconds=seconds,
        messages=count,
        messages_per_s=count / seconds,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        rss_before_kib=rss_before,
        rss_connected_kib=rss_connected,
        rss_after_load_kib=rss_after,
        rss_per_connection_kib=(rss_connected - rss_before) / chargers,
        rss_marginal_per_connection_kib=(
            (rss_connected - rss_half) / (chargers - half) if half else math.nan
        ),
        server_cpu_s=server_cpu * scale,
        server_main_thread_cpu_s=(main1 - main0) * scale,
        server_cpu_us_per_message=server_cpu * scale / count * 1e6 if count else math.nan,
        client_cpu_s=(client1 - client0) * scale,
        profiled=profiled,
    )


async def wait_failfast(tasks: list[asyncio.Task[None]], timeout: float) -> None:
    """Sleep `timeout` seconds, but raise at once if a charger task fails meanwhile."""
    if timeout <= 0:
        return
    done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        task.result()
    if done:
        raise RuntimeError("a charger stopped before the end of the run")
