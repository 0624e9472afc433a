"""How many derived events (boots, status changes, rejected tags, ...) fell in a window."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from chargewatch.alerts import Key
from rules.conditions.base import INACTIVE, OPS, Condition, Context, Params, Verdict, resolve
from rules.facts import Derived
from rules.schema import CountSpec

# detail names derived events carry, offered to annotation templates
EVENT_DETAILS = (
    "type",
    "tech_info",
    "status",
    "error_code",
    "vendor_error_code",
    "fault_category",
    "id_tag",
    "auth_status",
    "previous_wh",
    "value_wh",
    "reason",
    "remote",
    "vendor",
    "model",
    "serial_number",
    "address",
    "locked",
    "failures",
)


class CountCondition(Condition):
    details = ("count", "event", *EVENT_DETAILS)

    def __init__(self, rule: int, scope: str, ctx: Context, spec: CountSpec) -> None:
        super().__init__(rule, scope, ctx)
        self.spec = spec
        self.derived = frozenset(spec.events)
        self.compare = OPS[spec.op]
        self.match = {k: frozenset(v) for k, v in spec.match.items()}
        self.seen: dict[Key, deque[float]] = {}  # times of the events in the window
        self.last: dict[Key, tuple[str, dict[str, Any]]] = {}  # the latest, for annotations

    def observe_derived(self, d: Derived, now: float) -> Iterable[Key]:
        for name, allowed in self.match.items():
            if str(d.details.get(name, "")) not in allowed:
                return ()
        key = self.ctx.key(self.scope, d.charger, d.connector)
        if key is None:
            return ()
        self.seen.setdefault(key, deque()).append(now)
        self.last[key] = (d.name, d.details)
        return (key,)

    def evaluate(self, key: Key, now: float, params: Params) -> Verdict:
        seen = self.seen.get(key)
        if not seen:
            return INACTIVE
        window = resolve(self.spec.window, params)
        while seen and seen[0] <= now - window:
            seen.popleft()
        if not seen:
            return INACTIVE
        count = len(seen)
        recheck = seen[0] + window
        if not self.compare(count, resolve(self.spec.threshold, params)):
            return Verdict(False, recheck=recheck)
        name, last = self.last[key]
        return Verdict(True, count, {**last, "count": count, "event": name}, recheck)

    def forget(self, key: Key) -> None:
        if not self.seen.get(key):
            self.seen.pop(key, None)
            self.last.pop(key, None)

    def dump(self) -> Any:
        last = self.last
        return [[k, list(v), last[k]] for k, v in self.seen.items() if v]

    def load(self, data: Any) -> None:
        for key, seen, (name, details) in data or []:
            self.seen[tuple(key)] = deque(seen)
            self.last[tuple(key)] = (name, details)
