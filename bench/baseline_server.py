"""Baseline for bench/ingest.py: the smallest OCPP 1.6J central system the `ocpp` library allows.

This is what "just use the ocpp library" looks like, so ChargeWatch's ingest throughput can be
judged against it: one `ocpp.v16.ChargePoint` per connection, `@on` handlers for
BootNotification and MeterValues, the library's default schema validation (jsonschema, run in
the default thread pool, which is the library's default), and no persistence at all.
Deliberately nothing is tuned: a faster baseline would make the comparison flattering to no
one, a slower one would make it meaningless.

Run: `python bench/baseline_server.py --host 127.0.0.1 --port 9100`. It prints one line
starting with "baseline" once it listens and stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class BaselineCentralSystem(ChargePoint):
    """Central-system side of one charger connection, as in the library's own examples."""

    @on(Action.boot_notification)
    def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=datetime.now(UTC).isoformat(),
            interval=300,
            status=RegistrationStatus.accepted,
        )

    @on(Action.meter_values)
    def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> call_result.MeterValues:
        return call_result.MeterValues()


async def _on_connect(ws: ServerConnection) -> None:
    """One ChargePoint per connection; the charger id is the last path segment."""
    charger_id = ws.request.path.rstrip("/").rsplit("/", 1)[-1] if ws.request else "?"
    cp = BaselineCentralSystem(charger_id, ws)
    with contextlib.suppress(ConnectionClosed):
        await cp.start()


async def _serve(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # compression=None as in ChargeWatch, so both servers do the same WebSocket work.
    async with serve(_on_connect, host, port, subprotocols=["ocpp1.6"], compression=None) as srv:
        bound = srv.sockets[0].getsockname()[1]
        print(f"baseline (ocpp library) listening on ws://{host}:{bound}/ocpp/<id>", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
