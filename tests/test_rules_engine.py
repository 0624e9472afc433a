"""The engine's own promises: deterministic whatever the tick rate, snapshots that continue
exactly, work per event limited to the rules that subscribed to it."""

from __future__ import annotations

import json
import random

from chargewatch import events as ev
from chargewatch.alerts import fingerprint
from rules import loader
from rules.engine import Engine
from rules.params import Override
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


# ---- lifecycle details ------------------------------------------------------------------
def temperature(cp: str, t: float, value: float, connector: int = 1) -> ev.MeterValuesReported:
    samples = (ev.Sample(t, "Temperature", value, "degC"),)
    return ev.MeterValuesReported(cp, t, connector_id=connector, samples=samples)


def faulted(cp: str, t: float, status: str = "Faulted") -> ev.StatusReported:
    code = "GroundFailure" if status == "Faulted" else "NoError"
    return ev.StatusReported(cp, t, connector_id=1, status=status, error_code=code)


def moves(transitions, rule: str) -> list[tuple[float, str | None, str]]:
    return [(t.at - T0, t.previous, t.alert.state) for t in transitions if t.alert.rule == rule]


def test_flapping_around_for_starts_over_and_fires_after_a_full_for() -> None:
    engine = make()
    out = engine.process(faulted("CP1", T0))
    out += engine.process(faulted("CP1", T0 + 60, "Available"))
    out += engine.process(faulted("CP1", T0 + 90))
    out += engine.advance(T0 + 600)
    assert moves(out, "ConnectorFaulted") == [
        (0, None, "pending"),
        (60, "pending", "inactive"),
        (90, None, "pending"),
        (210, "pending", "firing"),  # a full 2 min after the second fault, not after the first
    ]


def test_keep_firing_for_rearmed_is_the_same_alert_without_new_transitions() -> None:
    engine = make()
    out = engine.process(temperature("CP1", T0, 75))
    [alert] = [a for a in engine.active() if a.rule == "Overheating"]
    out += engine.process(temperature("CP1", T0 + 60, 60))
    out += engine.process(temperature("CP1", T0 + 180, 78))  # hot again within the 5 min
    out += engine.process(temperature("CP1", T0 + 240, 60))
    out += engine.advance(T0 + 3600)
    assert moves(out, "Overheating") == [(0, None, "firing"), (540, "firing", "resolved")]
    assert {t.alert.fingerprint for t in out if t.alert.rule == "Overheating"} == {
        alert.fingerprint
    }
    assert [t.alert.fired_at for t in out if t.alert.rule == "Overheating"] == [T0, T0]


def test_a_restored_pending_alert_keeps_its_timer_and_fires_at_the_original_time() -> None:
    first = make()
    first.process(faulted("CP1", T0))
    first.advance(T0 + 60)
    snapshot = json.loads(json.dumps(first.snapshot()))
    second = make()
    assert second.restore(snapshot, T0 + 90) == []
    [alert] = [a for a in second.active() if a.rule == "ConnectorFaulted"]
    assert (alert.state, alert.active_since) == ("pending", T0)
    assert second.next_due() == T0 + 120
    assert moves(second.advance(T0 + 119.9), "ConnectorFaulted") == []
    assert moves(second.advance(T0 + 600), "ConnectorFaulted") == [(120, "pending", "firing")]


def test_a_restore_after_the_due_time_fires_at_the_due_time_not_at_the_restore() -> None:
    first = make()
    first.process(faulted("CP1", T0))
    snapshot = json.loads(json.dumps(first.snapshot()))
    second = make()  # ChargeWatch was down from 0s to 5 min
    second.restore(snapshot, T0 + 300)
    [t] = [t for t in second.advance(T0 + 300) if t.alert.rule == "ConnectorFaulted"]
    assert (t.at, t.alert.fired_at) == (T0 + 120, T0 + 120)


def test_a_rule_with_a_shorter_for_after_restore_fires_at_once() -> None:
    engine = make()
    engine.process(faulted("CP1", T0))
    snapshot = json.loads(json.dumps(engine.snapshot()))
    specs = [
        s.model_copy(update={"params": {"faulted_for": 30.0}})
        if s.name == "ConnectorFaulted"
        else s
        for s in pack()
    ]
    again = Engine(specs, site_of=SITES, known_chargers=frozenset(SITES))
    again.restore(snapshot, T0 + 60)
    assert moves(again.advance(T0 + 61), "ConnectorFaulted") == [(60, "pending", "firing")]


def test_changed_overrides_reevaluate_the_alerts_at_restore() -> None:
    engine = make()
    engine.process(temperature("CP1", T0, 75))
    snapshot = json.loads(json.dumps(engine.snapshot()))
    tuned = Override(rules=("Overheating",), params={"max_temperature_c": 80.0})
    again = Engine(pack(), site_of=SITES, known_chargers=frozenset(SITES), overrides=[tuned])
    again.restore(snapshot, T0 + 60)
    # 75 degC is no longer too hot: cleared at once, then kept firing for its 5 min
    assert moves(again.advance(T0 + 3600), "Overheating") == [(360, "firing", "resolved")]
    # the same overrides as before: nothing to re-evaluate, the reading is 15 min valid
    same = make()
    same.restore(snapshot, T0 + 60)
    assert moves(same.advance(T0 + 3600), "Overheating") == [(1200, "firing", "resolved")]


def test_a_removed_rule_is_no_longer_watched_for_its_response_time() -> None:
    engine = make()
    engine.process(ev.SecurityEventReported("CP1", T0, type="TamperDetectionActivated"))
    snapshot = json.loads(json.dumps(engine.snapshot()))
    again = Engine(
        [s for s in pack() if s.name != "TamperDetected"],
        site_of=SITES,
        known_chargers=frozenset(SITES),
    )
    assert moves(again.restore(snapshot, T0 + 60), "TamperDetected") == [(60, "firing", "resolved")]
    assert moves(again.advance(T0 + 3600), "CriticalNotAcknowledged") == []


def site_down(engine: Engine) -> None:
    for cp in ("CP0", "CP1", "CP2", "CP3"):
        engine.process(ev.Connected(cp, T0))
        engine.process(ev.Disconnected(cp, T0 + 10, code=1006))
    engine.advance(T0 + 300)


def test_a_removed_site_rule_releases_the_alerts_it_explained() -> None:
    engine = make()
    site_down(engine)
    [site] = [a for a in engine.active() if a.rule == "SiteOutage"]
    offline = [a for a in engine.active() if a.rule == "ChargerOffline"]
    assert len(offline) == 4 and {a.explained_by for a in offline} == {site.fingerprint}
    snapshot = json.loads(json.dumps(engine.snapshot()))
    again = Engine(
        [s for s in pack() if s.name != "SiteOutage"],
        site_of=SITES,
        known_chargers=frozenset(SITES),
    )
    out = again.restore(snapshot, T0 + 301)
    assert sorted(moves(out, "ChargerOffline")) == [(301, "firing", "firing")] * 4
    assert all(a.explained_by is None for a in again.active())


def test_a_site_alert_that_resolves_releases_the_charger_alerts() -> None:
    engine = make()
    site_down(engine)
    out = engine.process(ev.Connected("CP0", T0 + 400))
    assert moves(out, "SiteOutage") == [(400, "firing", "resolved")]
    assert sorted(moves(out, "ChargerOffline")) == [(400, "firing", "firing")] * 3 + [
        (400, "firing", "resolved")
    ]
    assert all(a.explained_by is None for a in engine.active())


def test_an_engine_alert_fingerprint_is_its_labels_only() -> None:
    engine = make()
    engine.process(temperature("CP1", T0, 75))
    engine.process(temperature("CP1", T0 + 1, 95))  # other annotations, same alert
    engine.process(temperature("CP1", T0 + 2, 99, connector=2))
    one, two = [a for a in engine.active() if a.rule == "Overheating"]
    assert one.fingerprint == fingerprint(one.labels)
    assert one.fingerprint != two.fingerprint
    restored = make()
    restored.restore(json.loads(json.dumps(engine.snapshot())), T0 + 3)
    assert [a.fingerprint for a in restored.active() if a.rule == "Overheating"] == [
        one.fingerprint,
        two.fingerprint,
    ]
    # a new engine, the same labels: the same fingerprint
    fresh = make()
    fresh.process(temperature("CP1", T0 + 100, 80))
    assert [a.fingerprint for a in fresh.active()] == [one.fingerprint]


def test_dispatch_tables_leave_out_rules_an_event_kind_cannot_change() -> None:
    engine = make()
    names = {kind: {engine.rules[i].name for i in idx} for kind, idx in engine.by_kind.items()}
    every = {engine.rules[i].name for i in engine.every_event}
    assert every == {"ChargerOffline"}  # silence: any message ends it
    assert "ConnectorFaulted" not in names["meter"] and "StuckPreparing" not in names["meter"]
    assert names["meter"] == {"Overheating", "ChargingWithoutPower"}
    assert "heartbeat" not in names
    watchers = {engine.rules[i].name for i in engine.watchers}
    assert watchers == {
        "SiteOutage",
        "CriticalNotAcknowledged",
        "CriticalNotResolved",
        "MajorNotResolved",
    }


def test_blank_template_values_render_empty_and_tidy() -> None:
    from string import Template

    from rules.annotations import render, tidy

    text = Template("Reading $reading (limit $limit degC); reported $code $other.")
    assert render({"d": text}, {"limit": 70.0}, None, {}, None) == {
        "d": "Reading (limit 70 degC); reported."
    }
    assert render({"d": Template("$value at $charger")}, {}, {}, {"charger": "CP"}, 1.5) == {
        "d": "1.5 at CP"
    }
    assert tidy("Faulted for 5 s (). Info: ") == "Faulted for 5 s. Info:"
    assert tidy("keeps $$ and (real) text") == "keeps $$ and (real) text"


def test_same_transitions_with_acknowledgements_and_response_times() -> None:
    """Acks and SLA timers too: the tick rate changes nothing."""
    events = timeline(seed=3, n=300)
    extra: list[ev.Event] = []
    for i, e in enumerate(events[::40]):
        site = SITES[e.charger_id]
        extra.append(ev.SecurityEventReported(e.charger_id, e.ts, type="TamperDetectionActivated"))
        if i % 2:
            labels = {
                "alertname": "TamperDetected",
                "severity": "critical",
                "charger": e.charger_id,
                "site": site,
                "team": "security",
            }
            extra.append(ev.AlertAcknowledged("", e.ts + 300, fingerprint(labels), "alice"))
    merged = sorted(events + extra, key=lambda e: e.ts)
    never = run(make(), merged, None)
    every_second = run(make(), merged, 1.0)
    assert any(t["alert"]["rule"] == "CriticalNotAcknowledged" for t in never)
    assert any(t["alert"]["acknowledged_by"] == "alice" for t in never)
    assert never == every_second
