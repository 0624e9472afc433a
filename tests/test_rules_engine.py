"""The engine's own promises: deterministic whatever the tick rate, snapshots that continue
exactly, work per event limited to the rules that subscribed to it."""

from __future__ import annotations

import json
import random

from chargewatch import events as ev
from chargewatch.alerts import fingerprint
from rules import loader
from rules.engine import Engine
from rules.schema import RuleSpec

T0 = 1_767_225_600.0
SITES = {f"CP{i}": "depot" if i < 4 else "mall" for i in range(8)}


def pack() -> list[RuleSpec]:
    rules, errors = loader.load(loader.default_files())
    assert not errors
    return [r.spec for r in rules]


def timeline(seed: int = 1, n: int = 600) -> list[ev.Event]:
    """A random but reproducible mix of what chargers say, over about two hours."""
    rng = random.Random(seed)
    out: list[ev.Event] = []
    t = T0
    for _ in range(n):
        t += rng.uniform(0, 25)
        cp = f"CP{rng.randrange(8)}"
        kind = rng.random()
        if kind < 0.1:
            out.append(ev.Booted(cp, t, heartbeat_interval=60))
        elif kind < 0.2:
            out.append(ev.Disconnected(cp, t, code=1006))
        elif kind < 0.3:
            out.append(ev.Connected(cp, t))
        elif kind < 0.6:
            status = rng.choice(["Available", "Charging", "Faulted", "Preparing", "SuspendedEV"])
            code = "GroundFailure" if status == "Faulted" else "NoError"
            out.append(
                ev.StatusReported(
                    cp, t, connector_id=rng.randrange(3), status=status, error_code=code
                )
            )
        else:
            samples = (
                ev.Sample(t, "Energy.Active.Import.Register", rng.uniform(0, 1e5), "Wh"),
                ev.Sample(t, "Power.Active.Import", rng.choice([0.0, 7000.0]), "W"),
                ev.Sample(t, "Temperature", rng.uniform(20, 90), "degC"),
            )
            out.append(
                ev.MeterValuesReported(cp, t, connector_id=1 + rng.randrange(2), samples=samples)
            )
    return out


def run(engine: Engine, events: list[ev.Event], tick: float | None) -> list[dict]:
    out = []
    for e in events:
        if tick is not None:
            t = engine.now if engine.now != float("-inf") else e.ts
            while t + tick < e.ts:
                t += tick
                out += engine.advance(t)
        out += engine.process(e)
    out += engine.advance(events[-1].ts + 86400)
    return [x.to_dict() for x in out]


def make() -> Engine:
    return Engine(pack(), site_of=SITES, known_chargers=frozenset(SITES))


def test_same_transitions_whatever_the_tick_rate() -> None:
    events = timeline()
    never = run(make(), events, None)
    every_second = run(make(), events, 1.0)
    assert len(never) > 50  # the timeline does exercise the rules
    assert never == every_second


def test_a_snapshot_continues_exactly_where_the_engine_was() -> None:
    events = timeline(seed=2)
    straight = run(make(), events, None)
    first = make()
    out = [t.to_dict() for e in events[:300] for t in first.process(e)]
    snapshot = json.loads(json.dumps(first.snapshot()))
    second = make()
    assert second.restore(snapshot, events[299].ts) == []
    assert [a.to_dict() for a in second.active()] == [a.to_dict() for a in first.active()]
    out += run(second, events[300:], None)
    assert out == straight


def test_a_removed_rule_resolves_its_alerts_and_a_changed_one_is_reevaluated() -> None:
    engine = make()
    engine.process(
        ev.StatusReported("CP1", T0, connector_id=1, status="Faulted", error_code="GroundFailure")
    )
    engine.process(
        ev.StatusReported("CP2", T0, connector_id=1, status="Preparing", error_code="NoError")
    )
    engine.advance(T0 + 600)
    names = {a.rule for a in engine.active()}
    assert {"ConnectorFaulted", "StuckPreparing"} <= names
    snapshot = json.loads(json.dumps(engine.snapshot()))
    specs = [s for s in pack() if s.name != "ConnectorFaulted"]
    specs = [
        s.model_copy(update={"params": {"preparing_for": 3600.0}})
        if s.name == "StuckPreparing"
        else s
        for s in specs
    ]
    again = Engine(specs, site_of=SITES, known_chargers=frozenset(SITES))
    resolved = again.restore(snapshot, T0 + 601)
    assert [(t.alert.rule, t.previous, t.alert.state) for t in resolved] == [
        ("ConnectorFaulted", "firing", "resolved")
    ]
    # StuckPreparing now needs an hour: re-evaluated, it is still active (condition true)
    again.advance(T0 + 602)
    assert any(a.rule == "StuckPreparing" for a in again.active())


def test_an_acknowledgement_is_a_transition_to_the_same_state() -> None:
    engine = make()
    engine.process(ev.SecurityEventReported("CP1", T0, type="TamperDetectionActivated"))
    [alert] = [a for a in engine.active() if a.rule == "TamperDetected"]
    [t] = engine.process(ev.AlertAcknowledged("", T0 + 5, alert.fingerprint, "alice"))
    assert (t.previous, t.alert.state, t.alert.acknowledged_by) == ("firing", "firing", "alice")
    assert engine.process(ev.AlertAcknowledged("", T0 + 6, alert.fingerprint, "bob")) == []
    assert engine.process(ev.AlertAcknowledged("", T0 + 7, "unknown", "bob")) == []


def test_fingerprints_depend_on_labels_only() -> None:
    a = fingerprint({"alertname": "X", "charger": "CP1", "connector": "1"})
    assert a == fingerprint({"connector": "1", "charger": "CP1", "alertname": "X"})
    assert a != fingerprint({"alertname": "X", "charger": "CP1", "connector": "2"})
    assert len(a) == 16


def test_an_event_reaches_only_the_rules_subscribed_to_it() -> None:
    engine = make()
    calls: list[str] = []
    for rule in engine.rules:
        original = rule.condition.evaluate

        def spy(key, now, params, _name=rule.name, _original=original):
            calls.append(_name)
            return _original(key, now, params)

        rule.condition.evaluate = spy  # type: ignore[method-assign]
    engine.process(ev.HeartbeatReceived("CP1", T0))
    assert set(calls) == {"ChargerOffline"}  # silence is the only rule a heartbeat can change
    calls.clear()
    samples = (ev.Sample(T0, "Temperature", 30.0, "degC"),)
    engine.process(ev.MeterValuesReported("CP1", T0 + 1, connector_id=1, samples=samples))
    # silence, temperature and zero power read MeterValues; no status, count or SLA rule does
    assert set(calls) == {"ChargerOffline", "Overheating", "ChargingWithoutPower"}


def test_annotations_leave_out_empty_details_tidily() -> None:
    engine = make()
    engine.process(ev.StatusReported("CP1", T0, connector_id=1, status="Faulted"))
    engine.advance(T0 + 120)
    [alert] = [a for a in engine.active() if a.rule == "ConnectorFaulted"]
    assert alert.annotations["summary"] == "Connector 1 of CP1 is faulted:"
    assert "  " not in alert.annotations["description"]
