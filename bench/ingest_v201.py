"""Ingest per protocol: OCPP 1.6 MeterValues beside OCPP 2.0.1 TransactionEvent, one run.

One ChargeWatch (`chargewatch run`, default config: journal fsynced per group commit) is
started per protocol as a subprocess on free loopback ports; N chargers connect with that
subprotocol and report meter values back to back, one outstanding call per connection,
exactly as `bench/ingest.py` does for 1.6 (its client, warm-up and window):

* 1.6: MeterValues with the 10 sampled values of `load.sampled_values()` in a transaction
  (half the chargers, as ingest.py) or outside one;
* 2.0.1: TransactionEvent Updated (MeterValuePeriodic) of one open transaction per charger,
  seqNo counting up (a repeated seqNo would be ignored, which is cheaper), with the same
  readings as 2.0.1 numbers with unitOfMeasure: 9 values, Temperature being no 2.0.1
  measurand.

Run from the repository root: `.venv/bin/python bench/ingest_v201.py [--chargers N] [--seconds S]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from load import (
    CONNECT_TIMEOUT_S,
    DRAIN_TIMEOUT_S,
    SAMPLE_TIME,
    WARMUP_S,
    Window,
    boot_frame,
    check_answer,
    meter_values_frame,
    percentile,
    sampled_values,
)
from procfs import cpu_seconds, free_port, progress
from servers import ServerProcess, server_command
from websockets.asyncio.client import ClientConnection, connect

MID, SEQ = "@@MID@@", 987654321  # placeholders in the pre-built frames
TXN = "bench-txn-{index}"


def value_201(sv: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "value": float(sv["value"]),
        "context": sv["context"],
        "measurand": sv["measurand"],
        "unitOfMeasure": {"unit": sv["unit"]},
    }
    out.update({k: sv[k] for k in ("phase", "location") if k in sv})
    return out


def frame_201(action: str, payload: dict[str, Any]) -> list[str]:
    """A Call as text pieces around the message id and (if present) the seqNo."""
    text = json.dumps([2, MID, action, payload], separators=(",", ":"))
    before, rest = text.split(MID)
    return [before, *rest.split(str(SEQ))]


def transaction_event(index: int, event_type: str, seq: int) -> dict[str, Any]:
    values = [value_201(sv) for sv in sampled_values() if sv["measurand"] != "Temperature"]
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": SAMPLE_TIME,
        "triggerReason": "Authorized" if event_type == "Started" else "MeterValuePeriodic",
        "seqNo": seq,
        "transactionInfo": {"transactionId": TXN.format(index=index), "chargingState": "Charging"},
        "meterValue": [{"timestamp": SAMPLE_TIME, "sampledValue": values}],
    }
    if event_type == "Started":
        payload["evse"] = {"id": 1, "connectorId": 1}
    return payload


async def send(ws: ClientConnection, pieces: list[str], mid: str, seq: int) -> None:
    text = pieces[0] + mid + (pieces[1] if len(pieces) == 2 else pieces[1] + str(seq) + pieces[2])
    await ws.send(text)
    check_answer(await ws.recv(), f'[3,"{mid}"', mid)


async def open_one(url: str, protocol: str, index: int, gate: asyncio.Semaphore):
    async with gate:
        ws = await connect(
            f"{url}/BENCH{index:05d}",
            subprotocols=["ocpp1.6" if protocol == "1.6" else "ocpp2.0.1"],  # type: ignore[list-item]
            compression=None,
            open_timeout=CONNECT_TIMEOUT_S,
            ping_interval=None,
            max_queue=4,
        )
    if protocol == "1.6":
        before, after = boot_frame(index)
        await send(ws, [before, after], f"b{index}", 0)
        return ws, list(meter_values_frame(index))
    station = {"vendorName": "BenchVendor", "model": "AC22", "serialNumber": f"B-{index}"}
    boot = {"chargingStation": station, "reason": "PowerUp"}
    await send(ws, frame_201("BootNotification", boot), f"b{index}", 0)
    await send(ws, frame_201("TransactionEvent", transaction_event(index, "Started", SEQ)), "s", 0)
    return ws, frame_201("TransactionEvent", transaction_event(index, "Updated", SEQ))


async def drive(ws: ClientConnection, pieces: list[str], index: int, window: Window) -> None:
    seq = 0
    while not window.stop:
        seq += 1
        started = time.perf_counter()
        await send(ws, pieces, f"m{index}-{seq}", seq)
        done = time.perf_counter()
        if window.start <= done < window.end:
            window.latencies.append(done - started)


async def run(protocol: str, chargers: int, seconds: float, workdir: Path) -> dict[str, float]:
    port = free_port()
    argv, ready = server_command("chargewatch", workdir, port, None)
    server = ServerProcess(f"chargewatch-{protocol}", argv, ready, workdir / "server.log")
    progress(f"starting chargewatch for OCPP {protocol}…")
    await server.start()
    url = f"ws://127.0.0.1:{port}/ocpp"
    try:
        gate = asyncio.Semaphore(50)
        opened = await asyncio.gather(*(open_one(url, protocol, i, gate) for i in range(chargers)))
        window = Window()
        window.start = time.perf_counter() + WARMUP_S
        window.end = window.start + seconds
        tasks = [asyncio.create_task(drive(ws, p, i, window)) for i, (ws, p) in enumerate(opened)]
        await asyncio.sleep(window.start - time.perf_counter())
        cpu0 = cpu_seconds(server.pid)
        progress(f"measuring OCPP {protocol} {seconds:g} s…")
        await asyncio.sleep(window.end - time.perf_counter())
        cpu1 = cpu_seconds(server.pid)
        window.stop = True
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_TIMEOUT_S)
        await asyncio.gather(*(ws.close() for ws, _ in opened), return_exceptions=True)
    finally:
        server.stop()
    latencies = sorted(window.latencies)
    count = len(latencies)
    return {
        "messages_per_s": count / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "server_cpu_us_per_message": (cpu1 - cpu0) / count * 1e6 if count else math.nan,
    }


ROWS = (
    ("messages/s", "messages_per_s", "{:.1f}"),
    ("p50 latency ms", "p50_ms", "{:.2f}"),
    ("p99 latency ms", "p99_ms", "{:.2f}"),
    ("server CPU µs per message", "server_cpu_us_per_message", "{:.0f}"),
)


def render(results: dict[str, dict[str, float]], chargers: int, seconds: float) -> str:
    lines = [
        f"ingest per protocol: {chargers} chargers, {seconds:g} s measured, journal on",
        f"{'':30}{'1.6 MeterValues':>20}{'2.0.1 TransactionEvent':>25}{'ratio':>9}",
    ]
    for label, key, style in ROWS:
        a, b = results["1.6"][key], results["2.0.1"][key]
        lines.append(
            f"{label:30}{style.format(a):>20}{style.format(b):>25}"
            f"{(f'{b / a:.2f}x' if a else 'n/a'):>9}"
        )
    lines.append("ratio = 2.0.1 / 1.6")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=50, help="connections (50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window (10)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="chargewatch-bench201-"))
    results: dict[str, dict[str, float]] = {}
    try:
        for protocol in ("1.6", "2.0.1"):
            (workdir / protocol).mkdir()
            results[protocol] = asyncio.run(
                run(protocol, args.chargers, args.seconds, workdir / protocol)
            )
    except (RuntimeError, TimeoutError, OSError) as exc:
        progress(f"benchmark failed: {exc or type(exc).__name__}")
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(render(results, args.chargers, args.seconds))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
