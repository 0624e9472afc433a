"""The fleet over real sockets: a recording OCPP 1.6 central system sees the same calls twice."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from ocpp.messages import MessageType, unpack
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from collector.simulator import FleetOptions, FleetStats, run_fleet

ACCEPTED = {"status": AuthorizationStatus.accepted}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def without_timestamps(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timestamps(v) for k, v in value.items() if k != "timestamp"}
    if isinstance(value, list):
        return [without_timestamps(v) for v in value]
    return value


class Recorder:
    """What the central system saw, per charger id, across all of that charger's connections."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        self.connections: Counter[str] = Counter()
        self.per_connection: dict[str, list[list[str]]] = defaultdict(list)  # actions
        self._transactions: Counter[str] = Counter()

    def next_transaction_id(self, charger_id: str) -> int:
        # Per charger, so ids do not depend on how chargers interleave.
        self._transactions[charger_id] += 1
        return self._transactions[charger_id]


class RecordingCentralSystem(ChargePoint):
    def __init__(self, charger_id: str, ws: ServerConnection, recorder: Recorder) -> None:
        super().__init__(charger_id, ws)
        self.recorder = recorder

    async def route_message(self, raw_msg: str) -> None:
        msg = unpack(raw_msg)
        if msg.message_type_id == MessageType.Call:
            self.recorder.calls[self.id].append((msg.action, without_timestamps(msg.payload)))
            self.recorder.per_connection[self.id][-1].append(msg.action)
        await super().route_message(raw_msg)

    @on(Action.boot_notification)
    def on_boot(self, **_: Any):
        return call_result.BootNotification(
            current_time=now(), interval=1, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any):
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **_: Any):
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_: Any):
        return call_result.Authorize(id_tag_info=ACCEPTED)

    @on(Action.start_transaction)
    def on_start(self, **_: Any):
        transaction_id = self.recorder.next_transaction_id(self.id)
        return call_result.StartTransaction(transaction_id=transaction_id, id_tag_info=ACCEPTED)

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any):
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop(self, **_: Any):
        return call_result.StopTransaction(id_tag_info=ACCEPTED)


@asynccontextmanager
async def central_system(
    port: int = 0,
    drop_first_after: float | None = None,
    cls: type[RecordingCentralSystem] = RecordingCentralSystem,
) -> AsyncIterator[tuple[str, Recorder]]:
    """A real OCPP 1.6 central system on 127.0.0.1 (a free port unless one is given).

    With `drop_first_after`, each charger's first connection is closed by the server after
    that many seconds, as a restarting load balancer would.
    """
    recorder = Recorder()

    async def handler(ws: ServerConnection) -> None:
        charger_id = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
        recorder.connections[charger_id] += 1
        recorder.per_connection[charger_id].append([])
        closer = None
        if drop_first_after is not None and recorder.connections[charger_id] == 1:
            closer = asyncio.create_task(close_later(ws, drop_first_after))
        with suppress(ConnectionClosed):
            await cls(charger_id, ws, recorder).start()
        if closer is not None:
            await closer

    async with serve(handler, "127.0.0.1", port, subprotocols=["ocpp1.6"]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ocpp", recorder


async def close_later(ws: ServerConnection, delay: float) -> None:
    await asyncio.sleep(delay)
    await ws.close()


async def run_once(seed: int) -> tuple[Recorder, FleetStats, Counter[str]]:
    events: Counter[str] = Counter()
    async with central_system() as (url, recorder):
        opts = FleetOptions(
            url=url,
            chargers=4,
            connectors=2,
            meter_interval=0.05,
            faults=0.3,
            duration=2.0,
            seed=seed,
        )
        stats = await run_fleet(opts, on_event=lambda _id, kind, _d: events.update([kind]))
    return recorder, stats, events


async def test_same_seed_gives_the_same_wire_sequence_per_charger() -> None:
    # Seed 17 plans a boot loop and a dropped connection within the first second.
    first, stats, events = await run_once(seed=17)
    second, _, _ = await run_once(seed=17)

    assert sorted(first.calls) == sorted(second.calls) == [f"SIM-000{i}" for i in range(1, 5)]
    seen: Counter[str] = Counter()
    for charger_id, calls in first.calls.items():
        other = second.calls[charger_id]
        common = min(len(calls), len(other))
        assert common > 40, charger_id
        assert calls[:common] == other[:common], charger_id
        actions = Counter(action for action, _ in calls[:common])
        assert actions["BootNotification"] >= 1
        assert actions["StatusNotification"] >= 3  # connector 0 and both connectors
        assert actions["MeterValues"] >= 10
        seen.update(actions)
    for action in ("Authorize", "StartTransaction", "StopTransaction", "Heartbeat"):
        assert seen[action] > 0, action
    # Transaction ids came back from the central system and were used.
    stops = [p for c in first.calls.values() for a, p in c if a == "StopTransaction"]
    assert all(p["transactionId"] >= 1 for p in stops)

    assert stats.total_call_errors == 0
    assert stats.sessions_started > 0 and stats.sessions_completed > 0
    assert stats.total_calls > 150
    assert stats.connected == 0  # every connection closed on return
    assert stats.faults.total() == events["fault"] > 0
    assert {"drop", "boot_loop"} <= set(stats.faults)
    assert stats.reconnects > 0 and stats.connect_failures == 0
    assert max(first.connections.values()) >= 4  # the boot loop's reconnects
    assert events["session_started"] == stats.sessions_started


async def test_stop_event_ends_the_run_and_closes_connections() -> None:
    async with central_system() as (url, recorder):
        stop = asyncio.Event()
        opts = FleetOptions(url=url, chargers=3, meter_interval=0.05, faults=0.0, seed=1)
        task = asyncio.create_task(run_fleet(opts, stop=stop))
        await asyncio.sleep(0.5)
        stop.set()
        stats = await asyncio.wait_for(task, 5)
    assert stats.seed == 1
    assert stats.connected == 0
    assert stats.reconnects == 0
    assert set(recorder.calls) == {"SIM-0001", "SIM-0002", "SIM-0003"}


async def test_charger_retries_until_the_central_system_is_up() -> None:
    # Reserve a port, start the fleet against it while nothing listens, then start serving.
    async with central_system() as (url, _):
        pass
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    events: Counter[str] = Counter()
    opts = FleetOptions(url=url, chargers=1, meter_interval=0.05, faults=0.0, seed=3, duration=2.5)
    task = asyncio.create_task(
        run_fleet(opts, on_event=lambda _id, kind, _d: events.update([kind]))
    )
    await asyncio.sleep(0.3)
    async with central_system(port=port) as (_, recorder):
        stats = await task
    assert stats.connect_failures >= 1
    assert events["connect_failed"] >= 1
    assert recorder.calls["SIM-0001"][0][0] == "BootNotification"


async def test_charger_reconnects_after_the_server_drops_it_and_resends_status() -> None:
    events: Counter[str] = Counter()
    async with central_system(drop_first_after=0.4) as (url, recorder):
        opts = FleetOptions(
            url=url, chargers=1, meter_interval=0.05, faults=0.0, seed=5, duration=1.2
        )
        stats = await run_fleet(opts, on_event=lambda _id, kind, _d: events.update([kind]))

    first, second = recorder.per_connection["SIM-0001"]
    assert first[0] == "BootNotification"
    # Same charger, same boot: it only tells the central system where each connector is.
    assert second[:3] == ["StatusNotification"] * 3
    assert "BootNotification" not in second
    assert stats.reconnects == 1
    assert events["disconnected"] == 1


class GrumpyCentralSystem(RecordingCentralSystem):
    """Rejects every idTag and fails every Heartbeat with a CallError."""

    @on(Action.authorize)
    def on_authorize(self, **_: Any):
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.invalid})

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any):
        raise RuntimeError("heartbeat store down")  # the library answers InternalError


async def test_call_errors_are_counted_and_rejected_tags_never_charge() -> None:
    events: Counter[str] = Counter()
    async with central_system(cls=GrumpyCentralSystem) as (url, recorder):
        opts = FleetOptions(
            url=url, chargers=2, meter_interval=0.05, faults=0.0, seed=9, duration=1.5
        )
        stats = await run_fleet(opts, on_event=lambda _id, kind, _d: events.update([kind]))

    actions = Counter(a for calls in recorder.calls.values() for a, _ in calls)
    assert actions["Authorize"] > 0
    assert actions["StartTransaction"] == actions["MeterValues"] == 0
    assert stats.sessions_started == 0
    assert events["session_aborted"] == actions["Authorize"]
    assert stats.call_errors["Heartbeat"] == actions["Heartbeat"] > 0
    assert stats.total_call_errors == stats.call_errors["Heartbeat"]
