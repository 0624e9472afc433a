"""The rule engine: events and an explicit `now` in, alert transitions out.

Pure and deterministic: no I/O, no clock. Each event reaches only the conditions that
subscribed to its kind (or to an event derived from it), so the work per event follows the
rules that can match it, not rules x chargers. Time-driven changes (a `for` elapsing, a
silence growing, a window emptying) are timers that fire at their exact due time, whether
`advance` is called often or rarely: replaying the same events gives the same transitions,
which is what makes `rules test`, restarts and replays agree.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

from chargewatch import events as ev
from chargewatch.alerts import (
    FIRING,
    INACTIVE,
    PENDING,
    RESOLVED,
    Alert,
    Key,
    Transition,
    fingerprint,
)
from rules import snapshot
from rules.annotations import render
from rules.conditions import SCOPES, scope_kind
from rules.conditions.base import ALL_KINDS, Condition, Context, Params, Verdict, build, resolve
from rules.conditions.fleet import AggregateCondition
from rules.conditions.sla import ResponseCondition
from rules.facts import Facts
from rules.params import Override, ParamTable
from rules.schema import ConditionSpec, RuleSpec

# journal kinds that are not facts about chargers: our own transitions, the notifier's,
# operators' (acknowledgements change alerts: `process` takes them before this check)
NOT_FACTS = ev.OPERATOR_KINDS
IGNORED = NOT_FACTS - {ev.AlertAcknowledged.kind, ev.AlertUnacknowledged.kind}
MIN_STEP = 0.001  # seconds: the earliest a timer can be due after the engine's now


def default_scope(spec: ConditionSpec) -> str:
    if spec.kind in ("all", "any"):
        return default_scope(spec.spec[0])
    return SCOPES[scope_kind(spec.kind, spec.spec)][0]


@dataclass
class CompiledRule:
    index: int
    spec: RuleSpec
    scope: str
    condition: Condition
    params: ParamTable
    templates: dict[str, Template]
    digest: str  # changes when the rule's definition does

    @property
    def name(self) -> str:
        return self.spec.name


class Engine:
    def __init__(
        self,
        rules: Sequence[RuleSpec],
        *,
        site_of: Mapping[str, str] | None = None,
        known_chargers: frozenset[str] | None = None,
        overrides: Sequence[Override] = (),
    ) -> None:
        self.site_of = dict(site_of or {})
        self.facts = Facts(known_chargers)
        self.ctx = Context(self.facts, self.site_of, self._params)
        self.rules: list[CompiledRule] = []
        self.by_name: dict[str, CompiledRule] = {}
        for index, spec in enumerate(rules):
            scope = spec.scope or default_scope(spec.condition)
            condition = build(index, scope, self.ctx, spec.condition)
            rule = CompiledRule(
                index,
                spec,
                scope,
                condition,
                ParamTable(spec.name, spec.params, overrides),  # type: ignore[arg-type]
                {k: Template(v) for k, v in spec.annotations.items()},
                # the action is not the condition: adding one keeps the rule's alerts
                hashlib.sha256(spec.model_dump_json(exclude={"action"}).encode()).hexdigest()[:16],
            )
            self.rules.append(rule)
            self.by_name[spec.name] = rule
        self._index()
        self.alerts: dict[int, dict[Key, Alert]] = {r.index: {} for r in self.rules}
        self.by_fp: dict[str, tuple[int, Key]] = {}
        self._due: dict[tuple[int, Key], float] = {}
        self._heap: list[tuple[float, int, int, Key]] = []
        self._tie = itertools.count()
        self._out: list[Transition] = []
        self.now = float("-inf")

    def _index(self) -> None:
        self.by_kind: dict[str, list[int]] = {}
        self.every_event: list[int] = []
        self.by_derived: dict[str, list[int]] = {}
        self.watchers: list[int] = []
        self.explainers: dict[str, list[int]] = {}  # member rule -> aggregate rules
        response_rules = frozenset(
            r.name for r in self.rules if _has(r.condition, ResponseCondition)
        )
        for r in self.rules:
            c = r.condition
            if ALL_KINDS in c.kinds:
                self.every_event.append(r.index)
            else:
                for kind in c.kinds:
                    self.by_kind.setdefault(kind, []).append(r.index)
            for name in c.derived:
                self.by_derived.setdefault(name, []).append(r.index)
            if c.watches_alerts:
                self.watchers.append(r.index)
            for leaf in _leaves(c):
                if isinstance(leaf, AggregateCondition) and leaf.spec.explains:
                    self.explainers.setdefault(leaf.member, []).append(r.index)
                if isinstance(leaf, ResponseCondition):
                    leaf.own_rules = response_rules

    # ---- input -------------------------------------------------------------------------
    def process(self, event: ev.Event, now: float | None = None) -> list[Transition]:
        """Apply one event at `now` (default: its receive time); return the transitions.

        Time never runs backwards: an event older than the engine's clock is applied now.
        """
        now = max(event.ts if now is None else now, self.now)
        self._run_timers(now)
        self.now = now
        if isinstance(event, ev.AlertAcknowledged | ev.AlertUnacknowledged):
            self._acknowledge(event, now)
        elif event.kind not in NOT_FACTS:  # our own transitions, journaled for other consumers
            self._dispatch(event, now)
        return self._take()

    def advance(self, now: float) -> list[Transition]:
        """Let time pass to `now` without an event: timers due by then fire at their time."""
        self._run_timers(now)
        self.now = max(self.now, now)
        return self._take()

    def resume(self, at: float) -> None:
        """ChargeWatch itself was down until `at` (call after catching up on the journal):
        chargers are not blamed for the silence of that gap."""
        self.facts.resume(at)

    def active(self) -> list[Alert]:
        """Copies of the pending and firing alerts, in rule order."""
        return [a.copy() for r in self.rules for a in self.alerts[r.index].values()]

    def next_due(self) -> float | None:
        """When the earliest timer is due (None: nothing scheduled)."""
        while self._heap:
            t, _, index, key = self._heap[0]
            if self._due.get((index, key)) == t:
                return t
            heapq.heappop(self._heap)
        return None

    def _take(self) -> list[Transition]:
        out, self._out = self._out, []
        return out

    def _dispatch(self, event: ev.Event, now: float) -> None:
        derived = self.facts.apply(event)
        touched: dict[int, dict[Key, None]] = {}
        for index in itertools.chain(self.by_kind.get(event.kind, ()), self.every_event):
            keys = self.rules[index].condition.observe_event(event, now)
            touched.setdefault(index, {}).update(dict.fromkeys(keys))
        for d in derived:
            for index in self.by_derived.get(d.name, ()):
                keys = self.rules[index].condition.observe_derived(d, now)
                touched.setdefault(index, {}).update(dict.fromkeys(keys))
        for index in sorted(touched):
            rule = self.rules[index]
            for key in touched[index]:
                self._evaluate(rule, key, now)

    def _acknowledge(
        self, event: ev.AlertAcknowledged | ev.AlertUnacknowledged, now: float
    ) -> None:
        where = self.by_fp.get(event.fingerprint)
        if where is None:
            return
        alert = self.alerts[where[0]][where[1]]
        if isinstance(event, ev.AlertAcknowledged) and alert.acknowledged_at is None:
            alert.acknowledged_by, alert.acknowledged_at = event.by, now
            self._emit(alert, alert.state, now)
        elif isinstance(event, ev.AlertUnacknowledged) and alert.acknowledged_at is not None:
            alert.acknowledged_by, alert.acknowledged_at = None, None
            self._emit(alert, alert.state, now)

    # ---- timers ------------------------------------------------------------------------
    def _schedule(self, index: int, key: Key, at: float) -> None:
        # a check due now or earlier would fire again at once, forever: always move on
        at = max(at, self.now + MIN_STEP)
        current = self._due.get((index, key))
        if current is not None and current <= at:
            return  # an earlier check re-evaluates and schedules again if still needed
        self._due[(index, key)] = at
        heapq.heappush(self._heap, (at, next(self._tie), index, key))

    def _run_timers(self, now: float) -> None:
        heap, due = self._heap, self._due
        while heap and heap[0][0] <= now:
            at, _, index, key = heapq.heappop(heap)
            if due.get((index, key)) != at:
                continue
            del due[(index, key)]
            self.now = max(self.now, at)
            self._evaluate(self.rules[index], key, self.now)

    # ---- the alert lifecycle -----------------------------------------------------------
    def _params(self, index: int, key: Key) -> Params:
        rule = self.rules[index]
        charger = site = vendor = model = None
        if rule.scope in ("connector", "charger"):
            charger = key[0]
        elif rule.scope == "site":
            site = key[0]
        elif rule.scope == "alert":
            labels = rule.condition.labels(key) or {}
            charger, site = labels.get("charger"), labels.get("site")
        if charger is not None:
            site = self.site_of.get(charger)
            facts = self.facts.chargers.get(charger)
            if facts is not None:
                vendor, model = facts.vendor, facts.model
        return rule.params.get(charger, site, vendor, model)

    def _labels(self, rule: CompiledRule, key: Key) -> dict[str, str] | None:
        labels = rule.condition.labels(key)
        if labels is None:
            labels = {}
            if rule.scope in ("connector", "charger"):
                labels["charger"] = key[0]
                site = self.site_of.get(key[0])
                if site is not None:
                    labels["site"] = site
                if rule.scope == "connector":
                    labels["connector"] = str(key[1])
            elif rule.scope == "site":
                labels["site"] = key[0]
        return {
            **labels,
            **rule.spec.labels,
            "alertname": rule.name,
            "severity": rule.spec.severity,
        }

    def _annotate(self, rule: CompiledRule, alert: Alert, v: Verdict, params: Params) -> None:
        alert.annotations = render(rule.templates, params, v.details, alert.labels, v.value)

    def _evaluate(self, rule: CompiledRule, key: Key, now: float) -> None:
        params = self._params(rule.index, key)
        v = rule.condition.evaluate(key, now, params)
        if v.recheck is not None:
            self._schedule(rule.index, key, v.recheck)
        alerts = self.alerts[rule.index]
        alert = alerts.get(key)
        if v.active:
            for_ = resolve(rule.spec.for_, params) or 0.0
            if alert is None:
                labels = self._labels(rule, key)
                if labels is None:
                    return
                alert = Alert(
                    fingerprint(labels),
                    rule.name,
                    rule.spec.severity,
                    labels,
                    PENDING,
                    active_since=now,
                    runbook_url=rule.spec.runbook_url,
                )
                alerts[key] = alert
                self.by_fp[alert.fingerprint] = (rule.index, key)
                alert.value = v.value
                self._annotate(rule, alert, v, params)
                self._explain_new(rule, alert)
                if for_ <= 0:
                    alert.state, alert.fired_at = FIRING, now
                    self._emit(alert, None, now)
                else:
                    self._emit(alert, None, now)
                    self._schedule(rule.index, key, now + for_)
                return
            alert.value, alert.clear_since = v.value, None
            self._annotate(rule, alert, v, params)
            if alert.state == PENDING:
                if now >= alert.active_since + for_:
                    alert.state, alert.fired_at = FIRING, now
                    self._emit(alert, PENDING, now)
                else:
                    self._schedule(rule.index, key, alert.active_since + for_)
            return
        if alert is not None:
            if alert.state == PENDING:
                self._end(rule, key, alert, INACTIVE, now)
            else:
                keep = resolve(rule.spec.keep_firing_for, params) or 0.0
                if alert.clear_since is None:
                    alert.clear_since = now
                if now >= alert.clear_since + keep:
                    alert.resolved_at = now
                    self._end(rule, key, alert, RESOLVED, now)
                else:
                    self._schedule(rule.index, key, alert.clear_since + keep)
                    return
        rule.condition.forget(key)

    def _end(self, rule: CompiledRule, key: Key, alert: Alert, state: str, now: float) -> None:
        previous = alert.state
        alert.state = state
        del self.alerts[rule.index][key]
        self.by_fp.pop(alert.fingerprint, None)
        self._emit(alert, previous, now)

    def _emit(self, alert: Alert, previous: str | None, now: float) -> None:
        self._out.append(Transition(now, previous, alert.copy()))
        self._explain_members(alert, previous, now)
        for index in self.watchers:
            watcher = self.rules[index]
            if watcher.name == alert.rule:
                continue
            for key in list(watcher.condition.observe_alert(alert, previous, now)):
                self._evaluate(watcher, key, now)

    # ---- explanation: a site alert explains the charger alerts it counts ---------------
    def _explain_new(self, rule: CompiledRule, alert: Alert) -> None:
        for index in self.explainers.get(rule.name, ()):
            explainer = self.rules[index]
            charger = alert.labels.get("charger")
            key = None if charger is None else self.ctx.key(explainer.scope, charger, None)
            wide = None if key is None else self.alerts[index].get(key)
            if wide is not None and wide.state == FIRING:
                alert.explained_by = wide.fingerprint
                return

    def _explain_members(self, alert: Alert, previous: str | None, now: float) -> None:
        rule = self.by_name.get(alert.rule)
        if rule is None or alert.state == previous:
            return
        starts, ends = alert.state == FIRING, previous == FIRING
        if not (starts or ends):
            return
        for leaf in _leaves(rule.condition):
            if not (isinstance(leaf, AggregateCondition) and leaf.spec.explains):
                continue
            member = self.by_name[leaf.member]
            wide_key = self.by_fp[alert.fingerprint][1] if starts else None
            for target in list(self.alerts[member.index].values()):
                charger = target.labels.get("charger")
                if charger is None:
                    continue
                in_scope = self.ctx.key(rule.scope, charger, None)
                if starts and in_scope == wide_key and target.explained_by is None:
                    target.explained_by = alert.fingerprint
                elif ends and target.explained_by == alert.fingerprint:
                    target.explained_by = None
                else:
                    continue
                if target.state == FIRING:
                    self._emit(target, FIRING, now)

    # ---- snapshot (rules/snapshot.py) -------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue after a restart, as JSON-ready data."""
        return snapshot.dump(self)

    def restore(self, data: Mapping[str, Any], now: float) -> list[Transition]:
        """Continue from a snapshot (see rules.snapshot.restore)."""
        return snapshot.restore(self, data, now)


def _leaves(condition: Condition) -> Iterable[Condition]:
    children = getattr(condition, "children", None)
    if children is None:
        yield condition
        return
    for child in children:
        yield from _leaves(child)


def _has(condition: Condition, cls: type) -> bool:
    return any(isinstance(leaf, cls) for leaf in _leaves(condition))
