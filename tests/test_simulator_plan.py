"""The simulator's planner is pure: these tests need no sockets and no clock."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

import ocpp
import pytest
from jsonschema import Draft4Validator, FormatChecker
from ocpp.v16.enums import ChargePointErrorCode, Measurand, ReadingContext

from collector.simulator import FAULT_KINDS, FleetOptions
from collector.simulator.plan import plan_steps
from collector.simulator.profiles import CHARGEX_VENDOR_ID
from collector.simulator.steps import (
    CALL,
    CONNECT,
    DISCONNECT,
    ENERGY_BACKWARDS,
    NOTE,
    QUEUED_WHILE_OFFLINE,
    Step,
    build_call,
    wire_payload,
)

SCHEMAS = Path(ocpp.__file__).parent / "v16" / "schemas"
TIMESTAMP = "2025-01-01T12:00:00.000Z"


def options(**overrides: object) -> FleetOptions:
    values: dict = {"url": "ws://unused/ocpp", "seed": 42, "meter_interval": 10.0, "faults": 0.3}
    values.update(overrides)
    return FleetOptions(**values)


@cache
def validator(action: str) -> Draft4Validator:
    schema = json.loads((SCHEMAS / f"{action}.json").read_text())
    return Draft4Validator(schema, format_checker=FormatChecker())


def calls(steps: list[Step], action: str) -> list[Step]:
    return [s for s in steps if s.op == CALL and s.action == action]


def energy_wh(sample: dict) -> int:
    value = float(sample["value"])
    return round(value * 1000) if sample["unit"] == "kWh" else round(value)


def test_same_seed_gives_identical_plan() -> None:
    first = plan_steps(options(), 3, 600, heartbeat_interval=60)
    second = plan_steps(options(), 3, 600, heartbeat_interval=60)
    assert len(first) > 200
    assert first == second


def test_different_seed_or_charger_gives_different_plan() -> None:
    base = plan_steps(options(seed=42), 3, 300)
    assert base != plan_steps(options(seed=43), 3, 300)
    assert base != plan_steps(options(seed=42), 4, 300)


def test_plan_does_not_depend_on_the_number_of_chargers() -> None:
    # A charger's scenario is derived from (seed, its index) only.
    assert plan_steps(options(chargers=1), 1, 300) == plan_steps(options(chargers=500), 1, 300)


def test_no_faults_at_rate_zero() -> None:
    for index in range(1, 4):
        steps = plan_steps(options(faults=0.0), index, 1500)
        assert not [s for s in steps if s.op in (NOTE, DISCONNECT)]
        assert len(calls(steps, "BootNotification")) == 1
        statuses = {s.data["status"] for s in calls(steps, "StatusNotification")}
        assert "Faulted" not in statuses
        assert len(calls(steps, "StopTransaction")) > 20


def test_every_fault_kind_appears_at_rate_one() -> None:
    kinds: Counter[str] = Counter()
    for index in range(1, 4):
        steps = plan_steps(options(faults=1.0), index, 1500)
        kinds.update(s.data["kind"] for s in steps if s.op == NOTE)
    assert set(kinds) == set(FAULT_KINDS)


def test_meter_values_carry_ten_valid_samples() -> None:
    measurands = {m.value for m in Measurand}
    count = 0
    for index in range(1, 9):
        for step in calls(plan_steps(options(), index, 400), "MeterValues"):
            assert step.session is not None  # always within a transaction
            (meter_value,) = step.data["meter_value"]
            samples = meter_value["sampled_value"]
            assert len(samples) == 10
            assert {s["measurand"] for s in samples} <= measurands
            assert all(s["context"] == ReadingContext.sample_periodic for s in samples)
            by = Counter(s["measurand"] for s in samples)
            assert by == {
                "Energy.Active.Import.Register": 1,
                "Power.Active.Import": 1,
                "Current.Import": 3,
                "Voltage": 3,
                "SoC": 1,
                "Temperature": 1,
            }
            phases = [s.get("phase") for s in samples if s["measurand"] == "Current.Import"]
            assert phases == ["L1", "L2", "L3"]
            phases = [s.get("phase") for s in samples if s["measurand"] == "Voltage"]
            assert phases == ["L1-N", "L2-N", "L3-N"]
            soc = next(s for s in samples if s["measurand"] == "SoC")
            assert (soc["location"], soc["unit"]) == ("EV", "Percent")
            assert 0 <= float(soc["value"]) <= 100
            temp = next(s for s in samples if s["measurand"] == "Temperature")
            assert (temp["location"], temp["unit"]) == ("Body", "Celsius")
            units = {s["measurand"]: s["unit"] for s in samples}
            assert units["Energy.Active.Import.Register"] in ("Wh", "kWh")
            assert units["Power.Active.Import"] in ("W", "kW")
            assert all(float(s["value"]) >= 0 for s in samples)
            count += 1
    assert count > 500


def test_energy_register_only_goes_back_where_the_fault_was_injected() -> None:
    injected_total = 0
    for index in range(1, 9):
        steps = plan_steps(options(faults=0.5), index, 1000)
        readings: dict[int, list[int]] = defaultdict(list)
        decreases: Counter[int] = Counter()
        injected: Counter[int] = Counter()
        for step in steps:
            connector = step.connector
            if step.op == NOTE and step.data["kind"] == ENERGY_BACKWARDS:
                injected[connector] += 1
            if step.op != CALL:
                continue
            values: list[int] = []
            if step.action == "StartTransaction":
                values = [step.data["meter_start"]]
            elif step.action == "MeterValues":
                samples = step.data["meter_value"][0]["sampled_value"]
                values = [energy_wh(s) for s in samples if s["measurand"].startswith("Energy")]
            elif step.action == "StopTransaction":
                (end,) = step.data["transaction_data"][0]["sampled_value"]
                assert end["context"] == "Transaction.End"
                values = [energy_wh(end), step.data["meter_stop"]]
            for value in values:
                if readings[connector] and value < readings[connector][-1]:
                    decreases[connector] += 1
                readings[connector].append(value)
        assert decreases == injected, f"charger {index}"
        injected_total += injected.total()
    assert injected_total >= 3


def test_every_call_validates_against_the_ocpp_schema() -> None:
    seen: Counter[str] = Counter()
    for index in range(1, 6):
        for step in plan_steps(options(faults=0.6), index, 300, heartbeat_interval=30):
            if step.op != CALL:
                continue
            transaction_id = 1000 + index if step.session else None
            payload = wire_payload(build_call(step, TIMESTAMP, transaction_id))
            validator(step.action).validate(payload)
            seen[step.action] += 1
    assert set(seen) == {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "Authorize",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    }


def test_fault_statuses_use_real_error_codes_and_chargex_pairs() -> None:
    codes = {c.value for c in ChargePointErrorCode} - {"NoError"}
    chargex = 0
    for index in range(1, 9):
        for step in calls(plan_steps(options(faults=1.0), index, 800), "StatusNotification"):
            data = step.data
            if data["status"] != "Faulted":
                assert data["error_code"] == "NoError"
                continue
            assert data["error_code"] in codes
            if data.get("vendor_id") == CHARGEX_VENDOR_ID:
                chargex += 1
                assert re.fullmatch(r"CX0(0[1-9]|1\d|2[0-6])", data["vendor_error_code"])
    assert chargex > 0


@pytest.mark.parametrize("index", range(1, 7))
def test_offline_window_queues_transaction_messages(index: int) -> None:
    steps = plan_steps(options(faults=1.0), index, 1500)
    offline = False
    for step in steps:
        if step.op == DISCONNECT:
            offline = True
        elif step.op == CONNECT:
            offline = False
        elif offline and step.op == CALL:
            pytest.fail(f"{step.action} planned while the charger is offline")
        if step.send is not None:  # sent late: only queued transaction messages
            assert step.action in QUEUED_WHILE_OFFLINE
            assert step.send > step.at
        assert step.due >= 0


def test_boot_loop_boots_three_to_five_times_in_quick_succession() -> None:
    found = 0
    for index in range(1, 7):
        steps = plan_steps(options(faults=1.0), index, 1500)
        notes = [s for s in steps if s.op == NOTE and s.data["kind"] == "boot_loop"]
        boots = [s.at for s in calls(steps, "BootNotification")]
        ends = [n.at for n in notes[1:]] + [float("inf")]
        for note, end in zip(notes, ends, strict=True):
            reboots = [at for at in boots if note.at < at < end]
            assert len(reboots) == note.data["reboots"]
            assert 3 <= len(reboots) <= 5
            found += 1
    assert found > 0
