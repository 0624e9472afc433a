"""The OCPP 2.0.1 simulator: the pure translation of a plan, and a station over a real socket."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any

import ocpp
import pytest
from jsonschema import FormatChecker, validators
from ocpp.messages import MessageType, unpack
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from chargewatch.cli import build_parser, fleet_options
from collector.simulator import FleetOptions, run_fleet
from collector.simulator.messages_v201 import V201Translator, build_call_v201
from collector.simulator.plan import plan_steps
from collector.simulator.profiles import CHARGEX_VENDOR_ID
from collector.simulator.steps import CALL, Step, wire_payload

SCHEMAS = Path(ocpp.__file__).parent / "v201" / "schemas"
TIMESTAMP = "2025-01-01T12:00:00.000Z"


def options(**overrides: Any) -> FleetOptions:
    values: dict[str, Any] = {"url": "ws://unused/ocpp", "seed": 42, "faults": 0.5}
    values.update(overrides)
    return FleetOptions(**values)


@cache
def validator(action: str) -> Any:
    schema = json.loads((SCHEMAS / f"{action}Request.json").read_text())
    return validators.validator_for(schema)(schema, format_checker=FormatChecker())


def both(index: int, ticks: float = 1200, **overrides: Any) -> tuple[list[Step], list[Step]]:
    """One charger's plan as 1.6 calls and as the 2.0.1 calls translated from it."""
    v16 = plan_steps(options(**overrides), index, ticks, heartbeat_interval=60)
    v201 = list(V201Translator("nonce").steps(v16))
    return [s for s in v16 if s.op == CALL], [s for s in v201 if s.op == CALL]


def wire(step: Step) -> dict[str, Any]:
    return wire_payload(build_call_v201(step, TIMESTAMP))


def events(steps: list[Step], kind: str | None = None) -> list[Step]:
    return [
        s for s in steps if s.action == "TransactionEvent" and kind in (None, s.data["event_type"])
    ]


def test_every_translated_call_validates_against_the_201_schemas() -> None:
    seen: Counter[str] = Counter()
    for index in range(1, 7):
        for step in both(index, 400, faults=0.6)[1]:
            validator(step.action).validate(wire(step))
            seen[step.action] += 1
    assert set(seen) == {
        "BootNotification",
        "SecurityEventNotification",
        "Heartbeat",
        "StatusNotification",
        "NotifyEvent",
        "Authorize",
        "TransactionEvent",
    }


def test_sessions_are_the_plans_with_the_same_energy_and_reasons() -> None:
    total = 0
    for index in range(1, 7):
        v16, v201 = both(index)
        starts = [s for s in v16 if s.action == "StartTransaction"]
        stops = [s for s in v16 if s.action == "StopTransaction"]
        started, ended = events(v201, "Started"), events(v201, "Ended")
        assert [s.session for s in started] == [s.session for s in starts]
        assert [s.session for s in ended] == [s.session for s in stops]
        for old, new in zip(starts, started, strict=True):
            (begin,) = new.data["meter_value"][0]["sampled_value"]
            assert (begin["context"], begin["value"]) == (
                "Transaction.Begin",
                old.data["meter_start"],
            )
            assert new.data["id_token"]["id_token"] == old.data["id_tag"]
            assert new.data["trigger_reason"] == "Authorized"
            assert new.data["transaction_info"]["charging_state"] == "EVConnected"
        for old, new in zip(stops, ended, strict=True):
            (end,) = new.data["meter_value"][0]["sampled_value"]
            scale = 10 ** end["unit_of_measure"].get("multiplier", 0)
            assert round(end["value"] * scale) == old.data["meter_stop"]
            assert new.data["transaction_info"]["stopped_reason"] == old.data["reason"]
        # seqNo counts every message of a transaction from 0; Ended is the last
        by_txn: dict[str, list[Step]] = defaultdict(list)
        for step in events(v201):
            by_txn[step.data["transaction_info"]["transaction_id"]].append(step)
        for txn in by_txn.values():
            assert [s.data["seq_no"] for s in txn] == list(range(len(txn)))
            kinds = [s.data["event_type"] for s in txn]
            assert kinds[0] == "Started" and "Started" not in kinds[1:]
            assert "Ended" not in kinds[:-1]
        assert len(by_txn) == len(starts)
        total += len(stops)
    assert total > 30


def test_meter_values_are_numbers_with_units_and_without_temperature() -> None:
    multiplied = 0
    for index in range(1, 9):
        v16, v201 = both(index, 300)
        old = [s for s in v16 if s.action == "MeterValues"]
        new = events(v201, "Updated")
        new = [s for s in new if s.data["trigger_reason"] == "MeterValuePeriodic"]
        assert len(old) == len(new) > 5
        for a, b in zip(old, new, strict=True):
            values_16 = [v for v in a.data["meter_value"][0]["sampled_value"]]
            values_201 = b.data["meter_value"][0]["sampled_value"]
            assert len(values_201) == 9  # Temperature is no 2.0.1 measurand
            kept = [v for v in values_16 if v["measurand"] != "Temperature"]
            for v16_value, v201_value in zip(kept, values_201, strict=True):
                assert isinstance(v201_value["value"], float)
                uom = v201_value["unit_of_measure"]
                if v16_value["unit"] in ("kWh", "kW"):
                    assert uom == {"unit": v16_value["unit"][1:], "multiplier": 3}
                    multiplied += 1
                else:
                    assert uom == {"unit": v16_value["unit"]}
                assert v201_value["value"] == float(v16_value["value"])
    assert multiplied > 0


def test_faults_arrive_as_notify_event_before_faulted_and_are_cleared() -> None:
    chargex = plain = 0
    for index in range(1, 9):
        v16, v201 = both(index, 800, faults=1.0)
        # a Faulted resent after a reconnect is the same fault: announced once
        faulted_16, last = [], {}
        for s in v16:
            if s.action == "StatusNotification":
                if s.data["status"] == "Faulted" and last.get(s.connector) != s.data:
                    faulted_16.append(s)
                last[s.connector] = s.data
        problems = [
            s
            for s in v201
            if s.action == "NotifyEvent"
            and s.data["event_data"][0]["variable"]["name"] in ("Problem", "Tripped")
        ]
        raised = [p for p in problems if not p.data["event_data"][0].get("cleared")]
        assert len(raised) == len(faulted_16)
        for old, new in zip(faulted_16, raised, strict=True):
            (item,) = new.data["event_data"]
            assert item["actual_value"] == "true"
            assert item["component"]["evse"] == {"id": old.connector, "connector_id": 1}
            if old.data.get("vendor_id") == CHARGEX_VENDOR_ID:
                assert item["tech_code"] == old.data["vendor_error_code"]
                chargex += 1
            else:
                # the vendor's code, else the 1.6 error code when no component names it
                named = old.data["error_code"] if item["component"]["name"] == "EVSE" else None
                assert item.get("tech_code") == (old.data.get("vendor_error_code") or named)
                assert item["tech_info"].startswith(old.data["error_code"])
                plain += 1
            # the connector's Faulted status follows its NotifyEvent
            after = v201[v201.index(new) + 1]
            assert (after.action, after.data["connector_status"]) == (
                "StatusNotification",
                "Faulted",
            )
        cleared = [p for p in problems if p.data["event_data"][0].get("cleared")]
        assert len(raised) - len(cleared) in (0, 1)  # the last fault may still be active
        for p in cleared:  # the connector is reported Available first, then the clearing
            before = v201[v201.index(p) - 1]
            assert before.data.get("connector_status") == "Available"
    assert chargex > 0 and plain > 0


def test_charging_states_follow_the_1_6_statuses() -> None:
    states: Counter[str] = Counter()
    for index in range(1, 7):
        v16, v201 = both(index, 600)
        # per connector, every change into Charging / SuspendedEV (a status resent after a
        # reconnect included: it may carry a change planned while offline)
        old: dict[int, list[str]] = defaultdict(list)
        previous: dict[int, str] = {}
        for s in v16:
            if s.action == "StatusNotification":
                status = s.data["status"]
                if status in ("Charging", "SuspendedEV") and previous.get(s.connector) != status:
                    old[s.connector].append(status)
                previous[s.connector] = status
        new: dict[int, list[str]] = defaultdict(list)
        for s in events(v201, "Updated"):
            if s.data["trigger_reason"] == "ChargingStateChanged":
                new[s.connector].append(s.data["transaction_info"]["charging_state"])
        assert new == old
        states.update(x for seq in new.values() for x in seq)
        statuses = {s.data["connector_status"] for s in v201 if s.action == "StatusNotification"}
        assert statuses <= {"Available", "Occupied", "Faulted", "Unavailable", "Reserved"}
        assert all(s.data["evse_id"] >= 1 for s in v201 if s.action == "StatusNotification")
        ended = {s.data["transaction_info"]["charging_state"] for s in events(v201, "Ended")}
        assert ended <= {"EVConnected", "Idle"}
    assert states["Charging"] > 20 and states["SuspendedEV"] > 0


def test_overheating_is_reported_by_the_temperature_monitor() -> None:
    hot = 0
    for index in range(1, 9):
        v16, v201 = both(index, 1500, faults=1.0)
        temperatures = [
            float(s.data["event_data"][0]["actual_value"])
            for s in v201
            if s.action == "NotifyEvent"
            and s.data["event_data"][0]["variable"]["name"] == "Temperature"
        ]
        peak_16 = max(
            float(v["value"])
            for s in v16
            if s.action == "MeterValues"
            for v in s.data["meter_value"][0]["sampled_value"]
            if v["measurand"] == "Temperature"
        )
        assert temperatures and max(temperatures) > peak_16 - 5.0  # a Delta monitor of 5 degC
        hot += max(temperatures) > 80.0
    assert hot > 0


def test_boots_say_why_and_log_a_security_event() -> None:
    loops = 0
    for index in range(1, 7):
        _, v201 = both(index, 1500, faults=1.0)
        boots = [s for s in v201 if s.action == "BootNotification"]
        security = [s for s in v201 if s.action == "SecurityEventNotification"]
        assert boots[0].data["reason"] == "PowerUp"
        assert {b.data["reason"] for b in boots[1:]} <= {"Watchdog"}
        assert [s.data["type"] for s in security] == ["StartupOfTheDevice"] + ["ResetOrReboot"] * (
            len(boots) - 1
        )
        loops += len(boots) > 1
    assert loops > 0


@pytest.mark.parametrize("index", range(1, 6))
def test_queued_transaction_events_are_marked_offline(index: int) -> None:
    _, v201 = both(index, 1500, faults=1.0)
    for step in events(v201):
        queued = step.send is not None
        reboot = step.data["transaction_info"].get("stopped_reason") == "Reboot"
        assert step.data.get("offline", False) == (queued or reboot)


def test_transaction_ids_depend_on_the_runs_nonce_only() -> None:
    plan = plan_steps(options(), 1, 300)
    first = [s for s in V201Translator("a").steps(plan) if s.action == "TransactionEvent"]
    again = [s for s in V201Translator("a").steps(plan) if s.action == "TransactionEvent"]
    other = [s for s in V201Translator("b").steps(plan) if s.action == "TransactionEvent"]
    assert first == again
    ids = {s.data["transaction_info"]["transaction_id"] for s in first}
    assert ids.isdisjoint(s.data["transaction_info"]["transaction_id"] for s in other)
    assert all(len(i) == 36 for i in ids)


def test_a_mixed_fleet_spreads_its_201_chargers_evenly() -> None:
    mixed = options(ocpp="mixed", ocpp_201_share=0.3)
    chosen = [mixed.protocol_of(i) for i in range(1, 101)]
    assert chosen.count("2.0.1") == 30
    assert all(chosen[i : i + 10].count("2.0.1") == 3 for i in range(0, 100, 10))
    assert [options(ocpp="mixed").protocol_of(i) for i in (1, 2, 3, 4)] == [
        "1.6",
        "2.0.1",
        "1.6",
        "2.0.1",
    ]
    assert {options(ocpp="2.0.1").protocol_of(i) for i in range(1, 9)} == {"2.0.1"}
    assert {options().protocol_of(i) for i in range(1, 9)} == {"1.6"}
    with pytest.raises(ValueError, match="ocpp must be"):
        options(ocpp="2.1").validate()


def test_cli_flags_reach_the_fleet_options() -> None:
    for command in ("simulate", "demo"):
        args = build_parser().parse_args([command, "--ocpp", "mixed", "--ocpp-201-share", "0.25"])
        opts = fleet_options(args, "ws://h/ocpp")
        assert (opts.ocpp, opts.ocpp_201_share) == ("mixed", 0.25)
    assert fleet_options(build_parser().parse_args(["simulate"]), "ws://h").ocpp == "1.6"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "--ocpp", "2.1"])


# ---- a real OCPP 2.0.1 CSMS on loopback ---------------------------------------------------
class Csms(ChargePoint):
    """Records every call of a station and answers as a permissive 2.0.1 CSMS."""

    def __init__(self, station_id: str, ws: ServerConnection, log: dict[str, list]) -> None:
        super().__init__(station_id, ws)
        self.log = log
        self.booted = asyncio.Event()

    async def route_message(self, raw_msg: str) -> None:
        msg = unpack(raw_msg)
        if msg.message_type_id == MessageType.Call:
            self.log[self.id].append((msg.action, msg.payload))
        await super().route_message(raw_msg)

    @on(Action.boot_notification)
    def on_boot(self, **_: Any):
        self.booted.set()
        return call_result.BootNotification(current_time=TIMESTAMP, interval=1, status="Accepted")

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any):
        return call_result.Heartbeat(current_time=TIMESTAMP)

    @on(Action.authorize)
    def on_authorize(self, **_: Any):
        return call_result.Authorize(id_token_info={"status": "Accepted"})

    @on(Action.transaction_event)
    def on_transaction_event(self, id_token: Any = None, **_: Any):
        if id_token is None:
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(id_token_info={"status": "Accepted"})

    @on(Action.status_notification)
    def on_status(self, **_: Any):
        return call_result.StatusNotification()

    @on(Action.notify_event)
    def on_notify_event(self, **_: Any):
        return call_result.NotifyEvent()

    @on(Action.security_event_notification)
    def on_security_event(self, **_: Any):
        return call_result.SecurityEventNotification()


@asynccontextmanager
async def csms() -> AsyncIterator[tuple[str, dict[str, list], dict[str, Csms]]]:
    log: dict[str, list] = defaultdict(list)
    stations: dict[str, Csms] = {}

    async def handler(ws: ServerConnection) -> None:
        assert ws.subprotocol == "ocpp2.0.1"
        station_id = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
        cp = stations[station_id] = Csms(station_id, ws, log)
        with suppress(ConnectionClosed):
            await cp.start()

    async with serve(handler, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ocpp", log, stations


def without_volatile(value: Any) -> Any:
    volatile = {"timestamp", "generatedAt", "transactionId"}
    if isinstance(value, dict):
        return {k: without_volatile(v) for k, v in value.items() if k not in volatile}
    if isinstance(value, list | tuple):
        return [without_volatile(v) for v in value]
    return value


async def _fleet(seed: int) -> dict[str, list]:
    async with csms() as (url, log, _):
        opts = FleetOptions(
            url=url, chargers=3, meter_interval=0.05, faults=0.5, duration=2.0, seed=seed
        )
        stats = await run_fleet(FleetOptions(**{**opts.__dict__, "ocpp": "2.0.1"}))
    assert stats.total_call_errors == 0 and stats.sessions_started > 0
    return log


async def test_same_seed_gives_the_same_201_wire_sequence() -> None:
    first, second = await _fleet(17), await _fleet(17)
    assert sorted(first) == sorted(second) == ["SIM-0001", "SIM-0002", "SIM-0003"]
    actions: Counter[str] = Counter()
    for station, calls in first.items():
        other = second[station]
        common = min(len(calls), len(other))
        assert common > 40, station
        assert without_volatile(calls[:common]) == without_volatile(other[:common]), station
        actions.update(a for a, _ in calls)
        assert calls[0][0] == "BootNotification"
    for action in ("TransactionEvent", "StatusNotification", "NotifyEvent", "Heartbeat"):
        assert actions[action] > 0, action


async def test_station_answers_csms_calls_and_reboots_on_reset() -> None:
    async with csms() as (url, log, stations):
        opts = FleetOptions(
            url=url, chargers=1, meter_interval=0.05, faults=0.0, seed=3, ocpp="2.0.1"
        )
        stop = asyncio.Event()
        fleet = asyncio.create_task(run_fleet(opts, stop=stop))
        for _ in range(100):
            if "SIM-0001" in stations:
                break
            await asyncio.sleep(0.05)
        cp = stations["SIM-0001"]
        await asyncio.wait_for(cp.booted.wait(), 5)
        heartbeat = {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
        }
        unknown_var = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nope"}}
        unknown_comp = {"component": {"name": "Nope"}, "variable": {"name": "Nope"}}
        got = await cp.call(
            call.GetVariables(get_variable_data=[heartbeat, unknown_var, unknown_comp])
        )
        statuses = [r["attribute_status"] for r in got.get_variable_result]
        assert statuses == ["Accepted", "UnknownVariable", "UnknownComponent"]
        assert got.get_variable_result[0]["attribute_value"] == "1"
        setting = {**heartbeat, "attribute_value": "5"}
        set_result = await cp.call(call.SetVariables(set_variable_data=[setting]))
        assert set_result.set_variable_result[0]["attribute_status"] == "Rejected"
        token = {"id_token": "ABC", "type": "ISO14443"}
        start = await cp.call(call.RequestStartTransaction(id_token=token, remote_start_id=1))
        assert start.status == "Rejected"
        stop_result = await cp.call(call.RequestStopTransaction(transaction_id="x"))
        assert stop_result.status == "Rejected"
        reset = await cp.call(call.Reset(type="Immediate"))
        assert reset.status == "Accepted"
        for _ in range(100):
            boots = [p for a, p in log["SIM-0001"] if a == "BootNotification"]
            if len(boots) == 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(fleet, 5)
    assert [b["reason"] for b in boots] == ["PowerUp", "RemoteReset"]
    security = [p["type"] for a, p in log["SIM-0001"] if a == "SecurityEventNotification"]
    assert security == ["StartupOfTheDevice", "ResetOrReboot"]
