"""What every condition offers the engine.

A condition is told about the events, derived events and alert changes it subscribed to
(`observe_*`), answers with the keys whose truth may have changed, and is then asked for a
`Verdict` per key. A verdict may name a `recheck` time: the moment its truth can change
without any new event (a window emptying, a silence growing too long), for which the
engine sets a timer. Conditions never read a clock; `now` is always given.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from chargewatch import events as ev
from chargewatch.alerts import Alert, Key
from rules.facts import Derived, Facts

if TYPE_CHECKING:
    from rules.schema import ConditionSpec

Params = Mapping[str, float]
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
ALL_KINDS = "*"  # subscribes to every journal event kind


class Verdict(NamedTuple):
    active: bool
    value: float | None = None
    details: Mapping[str, Any] | None = None
    recheck: float | None = None


INACTIVE = Verdict(False)


def resolve(value: float | str | None, params: Params) -> float | None:
    """A number, or the value of the `$param` it names (always defined: the loader checks)."""
    if isinstance(value, str):
        return params[value[1:]]
    return value


class Context:
    """What the engine lends its conditions: facts, where chargers are, parameters."""

    def __init__(
        self,
        facts: Facts,
        site_of: Mapping[str, str],
        params: Callable[[int, Key], Params],
    ) -> None:
        self.facts = facts
        self.site_of = site_of
        self.params = params
        self.chargers_of_site: dict[str, list[str]] = {}
        for charger, site in site_of.items():
            self.chargers_of_site.setdefault(site, []).append(charger)

    def key(self, scope: str, charger: str, connector: int | None) -> Key | None:
        """The key of a charger's (or connector's) event in a scope; None if it has none."""
        if scope == "connector":
            return None if connector is None else (charger, connector)
        if scope == "charger":
            return (charger,)
        if scope == "site":
            site = self.site_of.get(charger)
            return None if site is None else (site,)
        return ()


class Condition:
    """Base: subscribes to nothing, never true. Subclasses override what they need."""

    kinds: frozenset[str] = frozenset()  # journal event kinds, or ALL_KINDS
    derived: frozenset[str] = frozenset()  # derived event names (rules.facts.Derived)
    watches_alerts: bool = False  # wants every alert change (aggregate, response time)
    details: tuple[str, ...] = ()  # names its verdict details offer to annotation templates

    def __init__(self, rule: int, scope: str, ctx: Context) -> None:
        self.rule, self.scope, self.ctx = rule, scope, ctx

    def observe_event(self, e: ev.Event, now: float) -> Iterable[Key]:
        key = self.ctx.key(self.scope, e.charger_id, getattr(e, "connector_id", None))
        return () if key is None else (key,)

    def observe_derived(self, d: Derived, now: float) -> Iterable[Key]:
        return ()

    def observe_alert(self, alert: Alert, previous: str | None, now: float) -> Iterable[Key]:
        return ()

    def evaluate(self, key: Key, now: float, params: Params) -> Verdict:
        return INACTIVE

    def forget(self, key: Key) -> None:
        """The alert of this key is gone and the verdict inactive: drop per-key state."""

    def labels(self, key: Key) -> dict[str, str] | None:
        """Labels of a key when the scope alone does not tell them (None: use the scope's)."""
        return None

    def dump(self) -> Any:
        return None

    def load(self, data: Any) -> None:
        pass


class Composite(Condition):
    """`all` / `any` of conditions of the same scope."""

    def __init__(
        self, rule: int, scope: str, ctx: Context, children: list[Condition], need_all: bool
    ) -> None:
        super().__init__(rule, scope, ctx)
        self.children, self.need_all = children, need_all
        kinds: set[str] = set()
        for child in children:
            kinds |= child.kinds
        self.kinds = frozenset({ALL_KINDS}) if ALL_KINDS in kinds else frozenset(kinds)
        self.derived = frozenset().union(*(c.derived for c in children))
        self.watches_alerts = any(c.watches_alerts for c in children)
        self.details = tuple(dict.fromkeys(d for c in children for d in c.details))

    def observe_event(self, e: ev.Event, now: float) -> Iterable[Key]:
        keys: dict[Key, None] = {}
        for child in self.children:
            if ALL_KINDS in child.kinds or e.kind in child.kinds:
                keys.update(dict.fromkeys(child.observe_event(e, now)))
        return keys

    def observe_derived(self, d: Derived, now: float) -> Iterable[Key]:
        keys: dict[Key, None] = {}
        for child in self.children:
            if d.name in child.derived:
                keys.update(dict.fromkeys(child.observe_derived(d, now)))
        return keys

    def observe_alert(self, alert: Alert, previous: str | None, now: float) -> Iterable[Key]:
        keys: dict[Key, None] = {}
        for child in self.children:
            if child.watches_alerts:
                keys.update(dict.fromkeys(child.observe_alert(alert, previous, now)))
        return keys

    def evaluate(self, key: Key, now: float, params: Params) -> Verdict:
        verdicts = [child.evaluate(key, now, params) for child in self.children]
        rechecks = [v.recheck for v in verdicts if v.recheck is not None]
        recheck = min(rechecks) if rechecks else None
        true = [v for v in verdicts if v.active]
        active = len(true) == len(verdicts) if self.need_all else bool(true)
        if not active:
            return Verdict(False, recheck=recheck)
        details: dict[str, Any] = {}
        for v in true:
            details.update(v.details or {})
        return Verdict(True, true[0].value, details, recheck)

    def forget(self, key: Key) -> None:
        for child in self.children:
            child.forget(key)

    def dump(self) -> Any:
        return [child.dump() for child in self.children]

    def load(self, data: Any) -> None:
        for child, part in zip(self.children, data or [], strict=False):
            child.load(part)


Builder = Callable[[int, str, Context, Any], Condition]


def build(rule: int, scope: str, ctx: Context, spec: ConditionSpec) -> Condition:
    """The condition object of a condition spec (composites built recursively)."""
    from rules.conditions import BUILDERS

    if spec.kind in ("all", "any"):
        children = [build(rule, scope, ctx, child) for child in spec.spec]
        return Composite(rule, scope, ctx, children, spec.kind == "all")
    return BUILDERS[spec.kind](rule, scope, ctx, spec.spec)
