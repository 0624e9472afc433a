"""Engine snapshots: everything needed to continue after a restart, as JSON-ready data.

Facts and condition state are saved with each rule's digest: a rule whose definition changed
starts from fresh state and its alerts are re-evaluated; alerts of a rule that no longer
exists resolve. Keys are tuples, which JSON writes as arrays; restore turns them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chargewatch.alerts import RESOLVED, Alert, Transition

if TYPE_CHECKING:
    from rules.engine import Engine

VERSION = 2


def dump(engine: Engine) -> dict[str, Any]:
    """Everything needed to continue after a restart, as JSON-ready data."""
    names = [r.name for r in engine.rules]
    return {
        "version": VERSION,
        "now": engine.now if engine.now != float("-inf") else None,
        "facts": engine.facts.dump(),
        "rules": {r.name: {"digest": r.digest, "state": r.condition.dump()} for r in engine.rules},
        "alerts": [
            {"rule": r.name, "key": key, "alert": a.to_dict()}
            for r in engine.rules
            for key, a in engine.alerts[r.index].items()
        ],
        # keys are tuples: JSON writes them as arrays, restore turns them back
        "timers": [[names[index], key, at] for (index, key), at in engine._due.items()],
    }


def restore(engine: Engine, data: Mapping[str, Any], now: float) -> list[Transition]:
    """Continue from a snapshot. Alerts of rules that no longer exist resolve at `now`;
    the alerts of a rule whose definition changed are re-evaluated from scratch.
    ValueError if the snapshot was written by another version of the engine."""
    if data.get("version") != VERSION:
        raise ValueError(f"snapshot version {data.get('version')}, this engine reads {VERSION}")
    if data.get("now") is not None:
        engine.now = data["now"]
    engine.facts.load(data.get("facts") or {})
    changed: set[str] = set()
    for name, saved in (data.get("rules") or {}).items():
        rule = engine.by_name.get(name)
        if rule is None:
            continue
        if saved.get("digest") == rule.digest:
            rule.condition.load(saved.get("state"))
        else:
            changed.add(name)
    for item in data.get("alerts") or []:
        alert, key = Alert.from_dict(item["alert"]), tuple(item["key"])
        rule = engine.by_name.get(item["rule"])
        if rule is None:
            alert.resolved_at = max(engine.now, now)
            previous, alert.state = alert.state, RESOLVED
            engine._out.append(Transition(alert.resolved_at, previous, alert))
            continue
        engine.alerts[rule.index][key] = alert
        engine.by_fp[alert.fingerprint] = (rule.index, key)
    for name, key, at in data.get("timers") or []:
        rule = engine.by_name.get(name)
        if rule is not None and name not in changed:
            engine._schedule(rule.index, tuple(key), at)
    for name in sorted(changed):
        rule = engine.by_name[name]
        for key in list(engine.alerts[rule.index]):
            engine._schedule(rule.index, key, max(engine.now, now))
    return engine._take()
