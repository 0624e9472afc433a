"""Conditions on a device's reported state: its connector status, and its silence."""

from __future__ import annotations

from collections.abc import Iterable

from chargewatch import events as ev
from chargewatch.alerts import Key
from chargewatch.faults import chargex_code
from rules.conditions.base import ALL_KINDS, INACTIVE, Condition, Context, Params, Verdict, resolve
from rules.facts import ConnectorFacts
from rules.schema import AbsentSpec, StatusSpec


class StatusCondition(Condition):
    """True while the current status report matches (any connector, for charger scope)."""

    kinds = frozenset({"status"})
    details = (
        "status",
        "error_code",
        "info",
        "vendor_id",
        "vendor_error_code",
        "fault_category",
        "chargex_code",
        "connector_id",
    )

    def __init__(self, rule: int, scope: str, ctx: Context, spec: StatusSpec) -> None:
        super().__init__(rule, scope, ctx)
        self.statuses = frozenset(spec.in_)
        self.error_codes = frozenset(spec.error_codes)
        self.categories = frozenset(spec.fault_categories)
        self.vendor_codes = frozenset(code.upper() for code in spec.vendor_codes)
        self.any_fault = bool(self.error_codes or self.categories or self.vendor_codes)

    def matches(self, c: ConnectorFacts) -> bool:
        if c.status is None or (self.statuses and c.status not in self.statuses):
            return False
        if not self.any_fault:
            return True
        return (
            c.error_code in self.error_codes
            or c.fault_category in self.categories
            or (c.vendor_error_code or "").strip().upper() in self.vendor_codes
        )

    def evaluate(self, key: Key, now: float, params: Params) -> Verdict:
        charger = self.ctx.facts.chargers.get(key[0])
        if charger is None:
            return INACTIVE
        if self.scope == "connector":
            found = [(key[1], charger.connectors.get(key[1]))]
        else:
            found = sorted(charger.connectors.items())
        for connector_id, c in found:
            if c is not None and self.matches(c):
                since = c.status_since if c.status_since is not None else now
                details = {
                    "status": c.status,
                    "error_code": c.error_code or "",
                    "info": c.info or "",
                    "vendor_id": c.vendor_id or "",
                    "vendor_error_code": c.vendor_error_code or "",
                    "fault_category": c.fault_category or "",
                    "chargex_code": chargex_code(c.vendor_id, c.vendor_error_code) or "",
                    "connector_id": connector_id,
                }
                return Verdict(True, now - since, details)
        return INACTIVE


class AbsentCondition(Condition):
    """No message of any kind for max(k x heartbeat interval, silent_for), or a closed socket."""

    kinds = frozenset({ALL_KINDS})
    details = ("silent_for_s", "limit_s", "connected")

    def __init__(self, rule: int, scope: str, ctx: Context, spec: AbsentSpec) -> None:
        super().__init__(rule, scope, ctx)
        self.spec = spec

    def observe_event(self, e: ev.Event, now: float) -> Iterable[Key]:
        return ((e.charger_id,),)

    def evaluate(self, key: Key, now: float, params: Params) -> Verdict:
        charger = self.ctx.facts.chargers.get(key[0])
        if charger is None or charger.last_seen is None:
            return INACTIVE
        spec = self.spec
        limits = []
        beats = resolve(spec.heartbeats, params)
        if beats is not None:
            interval = charger.heartbeat_interval or resolve(spec.default_heartbeat, params)
            limits.append(beats * interval)
        silent_for = resolve(spec.silent_for, params)
        if silent_for is not None:
            limits.append(silent_for)
        silent = now - charger.last_seen
        details = {"connected": charger.connected, "silent_for_s": round(silent)}
        if spec.when_disconnected and charger.connected is False:
            return Verdict(True, silent, {**details, "limit_s": 0})
        if not limits:
            return INACTIVE
        limit = max(limits)
        if silent >= limit:
            return Verdict(True, silent, {**details, "limit_s": round(limit)})
        return Verdict(False, recheck=charger.last_seen + limit)
