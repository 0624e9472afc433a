"""The condition kinds a rule can use, by the key that names them in YAML."""

from __future__ import annotations

from typing import Any

from rules.conditions.base import Builder, Condition, Context
from rules.conditions.counting import CountCondition
from rules.conditions.device import AbsentCondition, StatusCondition
from rules.conditions.fleet import AggregateCondition
from rules.conditions.meter import MeasurandCondition
from rules.conditions.session import SessionCondition
from rules.conditions.sla import AvailabilityCondition, ResponseCondition
from rules.schema import SlaSpec


def _sla(rule: int, scope: str, ctx: Context, spec: SlaSpec) -> Condition:
    if spec.availability_below is not None:
        return AvailabilityCondition(rule, scope, ctx, spec)
    return ResponseCondition(rule, scope, ctx, spec)


BUILDERS: dict[str, Builder] = {
    "status": StatusCondition,
    "measurand": MeasurandCondition,
    "absent": AbsentCondition,
    "count": CountCondition,
    "session": SessionCondition,
    "aggregate": AggregateCondition,
    "sla": _sla,
}

# the scopes each kind can work in; the first is the default when a rule gives none
SCOPES: dict[str, tuple[str, ...]] = {
    "status": ("connector", "charger"),
    "measurand": ("connector",),
    "absent": ("charger",),
    "count": ("charger", "connector", "site", "network"),
    "session": ("connector",),
    "aggregate": ("site", "network"),
    "availability": ("connector", "charger", "site"),
    "response": ("alert",),
}


def scope_kind(kind: str, spec: Any) -> str:
    """The name SCOPES knows a condition by (sla splits into availability and response)."""
    if kind == "sla":
        return "availability" if spec.availability_below is not None else "response"
    return kind
