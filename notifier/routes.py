"""The routing tree: which receiver hears about an alert, and how its notifications are
grouped and repeated. Alertmanager's semantics, so its users find what they know:

* a route matches an alert when all its matchers match; the root matches everything;
* the alert goes down to the first child that matches (depth first) and stops there, unless
  that child says `continue: true`, in which case later siblings are tried too;
* when no child matches, the route itself takes the alert;
* children inherit what they do not set (receiver, group_by, timings, time intervals,
  escalation; `escalate: []` or `mute_time_intervals: []` switch inherited ones off).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from chargewatch.durations import parse_duration
from notifier.matchers import Matcher, matches_all, parse

ALL_LABELS = "..."  # group_by: ["..."] groups by every label, i.e. one group per alert
DEFAULT_GROUP_WAIT = 30.0  # Alertmanager's defaults
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0

Duration = Annotated[float, BeforeValidator(parse_duration)]


class EscalationStep(BaseModel):
    """If a firing alert is not acknowledged `after` its first notification, `receiver`
    hears of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    after: Duration = Field(gt=0)
    receiver: str = Field(min_length=1)


class RouteSpec(BaseModel):
    """A route as written in the config (`notifications.route`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    receiver: str | None = None
    matchers: list[str] = Field(default_factory=list)
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(False, alias="continue")
    mute_time_intervals: list[str] | None = None  # [] clears what the parent set
    active_time_intervals: list[str] | None = None
    escalate: list[EscalationStep] | None = None  # steps in order of `after`
    routes: list[RouteSpec] = Field(default_factory=list)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, values: list[str]) -> list[str]:
        for text in values:
            parse(text)  # ValueError names what is wrong
        return values

    @field_validator("escalate")
    @classmethod
    def _ordered(cls, steps: list[EscalationStep] | None) -> list[EscalationStep] | None:
        afters = [s.after for s in steps or ()]
        if afters != sorted(set(afters)):
            raise ValueError("escalation steps must come in increasing order of `after`")
        return steps


@dataclass(frozen=True)
class Route:
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] = ("alertname",)
    group_wait: float = DEFAULT_GROUP_WAIT
    group_interval: float = DEFAULT_GROUP_INTERVAL
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL
    continue_: bool = False
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    escalate: tuple[EscalationStep, ...] = ()
    routes: tuple[Route, ...] = field(default=())
    path: str = "route"  # where it is in the config, for errors and the notification log

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes that take an alert with these labels (empty: this subtree does not)."""
        if not matches_all(self.matchers, labels):
            return []
        taken: list[Route] = []
        for child in self.routes:
            found = child.match(labels)
            if found:
                taken += found
                if not child.continue_:
                    break
        return taken or [self]

    def group_key(self, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """Alerts with the same key are notified together."""
        names = sorted(labels) if ALL_LABELS in self.group_by else self.group_by
        return tuple((name, labels.get(name, "")) for name in names)


def build(spec: RouteSpec, parent: Route | None = None, path: str = "route") -> Route:
    """The route tree of a spec, children inheriting what they leave unset."""
    receiver = spec.receiver or (parent.receiver if parent else None)
    if receiver is None:
        raise ValueError(f"{path}.receiver: the root route needs a receiver")
    if parent is None and spec.matchers:
        raise ValueError(f"{path}.matchers: the root route takes every alert; match in routes")
    inherited: dict[str, Any] = {}
    if parent is not None:
        inherited = {
            "group_by": parent.group_by,
            "group_wait": parent.group_wait,
            "group_interval": parent.group_interval,
            "repeat_interval": parent.repeat_interval,
            "mute_time_intervals": parent.mute_time_intervals,
            "active_time_intervals": parent.active_time_intervals,
            "escalate": parent.escalate,
        }
    own = {
        "group_by": tuple(spec.group_by) if spec.group_by is not None else None,
        "group_wait": spec.group_wait,
        "group_interval": spec.group_interval,
        "repeat_interval": spec.repeat_interval,
        "mute_time_intervals": _opt(spec.mute_time_intervals),
        "active_time_intervals": _opt(spec.active_time_intervals),
        "escalate": tuple(spec.escalate) if spec.escalate is not None else None,
    }
    values = {**inherited, **{k: v for k, v in own.items() if v is not None}}
    route = Route(
        receiver=receiver,
        matchers=tuple(parse(m) for m in spec.matchers),
        continue_=spec.continue_,
        path=path,
        **values,
    )
    children = tuple(
        build(child, route, f"{path}.routes[{i}]") for i, child in enumerate(spec.routes)
    )
    return Route(**{**route.__dict__, "routes": children})


def _opt(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)
