"""Engine snapshots: everything needed to continue after a restart, as JSON-ready data.

Facts and condition state are saved with each rule's digest: a rule whose definition changed
starts from fresh state and its alerts are re-evaluated; a rule whose parameter overrides
changed keeps its state, but its alerts are re-evaluated too (new thresholds apply at once);
alerts of a rule that no longer exists resolve, and what watched or was explained by them
hears of it. Keys are tuples, which JSON writes as arrays; restore turns them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chargewatch.alerts import FIRING, RESOLVED, Alert, Transition

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
        "rules": {
            r.name: {"digest": r.digest, "tuning": r.params.digest, "state": r.condition.dump()}
            for r in engine.rules
        },
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
    at = max(engine.now, now)
    changed: set[str] = set()
    retuned: set[str] = set()
    for name, saved in (data.get("rules") or {}).items():
        rule = engine.by_name.get(name)
        if rule is None:
            continue
        if saved.get("digest") == rule.digest:
            rule.condition.load(saved.get("state"))
            if saved.get("tuning") != rule.params.digest:
                retuned.add(name)
        else:
            changed.add(name)
    gone: list[Alert] = []
    for item in data.get("alerts") or []:
        alert, key = Alert.from_dict(item["alert"]), tuple(item["key"])
        rule = engine.by_name.get(item["rule"])
        if rule is None:
            gone.append(alert)
            continue
        engine.alerts[rule.index][key] = alert
        engine.by_fp[alert.fingerprint] = (rule.index, key)
    for name, key, at_ in data.get("timers") or []:
        rule = engine.by_name.get(name)
        if rule is not None and name not in changed:
            engine._schedule(rule.index, tuple(key), at_)
    for alert in gone:
        # through _emit, so response-time rules stop watching it
        previous, alert.state, alert.resolved_at = alert.state, RESOLVED, at
        engine._emit(alert, previous, at)
    _release_orphans(engine, at)
    for name in sorted(changed | retuned):
        rule = engine.by_name[name]
        for key in list(engine.alerts[rule.index]):
            engine._schedule(rule.index, key, at)
    return engine._take()


def _release_orphans(engine: Engine, at: float) -> None:
    """Alerts explained by an alert that no longer exists (its rule was removed) are not
    explained any more: the notifier must stop holding them back."""
    for alerts in engine.alerts.values():
        for alert in alerts.values():
            if alert.explained_by is not None and alert.explained_by not in engine.by_fp:
                alert.explained_by = None
                if alert.state == FIRING:
                    engine._emit(alert, FIRING, at)
