"""Site (or network) aggregation: how many chargers have an alert of another rule at once.

A site-wide outage is "ChargerOffline active on every charger of the site": one site alert
that, once firing, marks the charger alerts it explains (the engine does the marking).
Chargers are counted once however many of their connectors have an alert.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chargewatch.alerts import ACTIVE_STATES, Alert, Key
from rules.conditions.base import INACTIVE, Condition, Context, Params, Verdict, resolve
from rules.schema import AggregateSpec

LISTED = 10  # chargers named in the `chargers` annotation detail


class AggregateCondition(Condition):
    watches_alerts = True
    details = ("affected", "total", "share", "chargers")

    def __init__(self, rule: int, scope: str, ctx: Context, spec: AggregateSpec) -> None:
        super().__init__(rule, scope, ctx)
        self.spec = spec
        self.member = spec.rule
        # key -> charger -> number of its active member alerts
        self.active: dict[Key, dict[str, int]] = {}

    def observe_alert(self, alert: Alert, previous: str | None, now: float) -> Iterable[Key]:
        if alert.rule != self.member:
            return ()
        charger = alert.labels.get("charger")
        if charger is None:
            return ()
        key = self.ctx.key(self.scope, charger, None)
        if key is None:
            return ()
        was, now_active = previous in ACTIVE_STATES, alert.state in ACTIVE_STATES
        if was == now_active:
            return ()
        counts = self.active.setdefault(key, {})
        counts[charger] = counts.get(charger, 0) + (1 if now_active else -1)
        if counts[charger] <= 0:
            del counts[charger]
        return (key,)

    def total(self, key: Key) -> int:
        if self.scope == "site":
            return len(self.ctx.chargers_of_site.get(key[0], ()))
        return max(len(self.ctx.site_of), len(self.ctx.facts.chargers))

    def evaluate(self, key: Key, now: float, params: Params) -> Verdict:
        counts = self.active.get(key)
        if not counts:
            return INACTIVE
        affected, total = len(counts), self.total(key)
        share = affected / total if total else 0.0
        if affected < resolve(self.spec.min_count, params):
            return INACTIVE
        min_share = resolve(self.spec.min_share, params)
        if min_share is not None and share < min_share - 1e-9:
            return INACTIVE
        names = sorted(counts)
        listed = ", ".join(names[:LISTED]) + (
            f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
        )
        details = {
            "affected": affected,
            "total": total,
            "share": round(share * 100, 1),
            "chargers": listed,
        }
        return Verdict(True, float(affected), details)

    def forget(self, key: Key) -> None:
        if not self.active.get(key):
            self.active.pop(key, None)

    def dump(self) -> Any:
        return [[list(k), v] for k, v in self.active.items() if v]

    def load(self, data: Any) -> None:
        for key, counts in data or []:
            self.active[tuple(key)] = dict(counts)
