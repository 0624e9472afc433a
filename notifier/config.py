"""The `notifications:` section of chargewatch.yaml: receivers, the routing tree,
inhibition, time intervals, escalation, rate limits, Twilio, delivery.

Meaning checks that span keys (a route naming a receiver that does not exist, a time
interval that is not defined) are made here, so a mistake stops `chargewatch run` with the
key that holds it instead of surfacing as a lost notification at 3 a.m.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from chargewatch.durations import parse_duration
from chargewatch.timeintervals import NamedIntervals
from notifier.inhibition import InhibitSpec
from notifier.routes import RouteSpec
from notifier.targets import check_targets

Duration = Annotated[float, BeforeValidator(parse_duration)]
Targets = Annotated[list[str], Field(min_length=1), AfterValidator(check_targets)]
RECEIVER_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
LABEL_REF = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")  # receiver: "tech-{{ site }}"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Section):
    """At most `count` notifications per `per` to a receiver; the rest are summarised."""

    count: int = Field(ge=1)
    per: Duration = Field(gt=0)


class ReceiverConfig(_Section):
    name: str = Field(min_length=1, max_length=100)
    # apprise URLs (mailto://, mailtos://, ntfy://, pover://, json://, slack://, ...),
    # sms:+E164 (Twilio), file:PATH (JSON lines), console:
    targets: Targets
    send_resolved: bool = True
    rate_limit: RateLimit | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not RECEIVER_NAME.match(value):
            raise ValueError("letters, digits and _ . : - only")
        return value


class TwilioConfig(_Section):
    """SMS through Twilio's Messages API, with the Twilio SDK."""

    account_sid: str = Field(min_length=1)
    auth_token: SecretStr
    from_number: str | None = None  # E.164, e.g. "+15005550006"
    messaging_service_sid: str | None = None  # instead of from_number
    # Twilio's API; another base URL for a regional edge, a proxy, or a test server
    api_base_url: str = "https://api.twilio.com"
    timeout: Duration = Field(10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _sender(self) -> TwilioConfig:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of from_number and messaging_service_sid")
        return self

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class DeliveryConfig(_Section):
    retry_max_delay: Duration = 300.0  # cap of the exponential backoff between attempts
    give_up_after: Duration = 86400.0  # a message still undelivered this long is failed
    timeout: Duration = 30.0  # one attempt
    concurrency: int = Field(8, ge=1, le=64)  # targets delivered to at the same time
    retention: Duration = Field(30 * 86400.0, gt=0)  # delivered messages and the log kept


DRIVER_NOTICES = ("started", "finished", "interrupted", "idle")
DEFAULT_DRIVER_NOTICES = ["finished", "interrupted", "idle"]


class DriverConfig(_Section):
    """A driver (an idTag's owner) who hears about their own sessions, and only those."""

    id_tag: str = Field(min_length=1, max_length=36)  # 1.6 CiString20, 2.0.1 idToken 36
    name: str = Field("", max_length=100)
    targets: Targets  # same syntax as receivers' targets
    # what they opted in to; [] opts out of everything
    notify: list[Literal["started", "finished", "interrupted", "idle"]] = Field(
        default_factory=lambda: list(DEFAULT_DRIVER_NOTICES)
    )


class NotificationsConfig(_Section):
    receivers: list[ReceiverConfig] = Field(default_factory=list)
    route: RouteSpec | None = None
    inhibit_rules: list[InhibitSpec] = Field(default_factory=list)
    time_intervals: list[NamedIntervals] = Field(default_factory=list)
    twilio: TwilioConfig | None = None
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    dashboard_url: str | None = None  # links in e-mails: {dashboard_url}?var-charger=<id>
    drivers: list[DriverConfig] = Field(default_factory=list)
    # a driver whose car still occupies the bay this long after charging ended is warned
    driver_idle_warning_after: Duration = Field(600.0, gt=0)
    # a fault during a driver's session is told only if it lasts this long (many clear)
    driver_fault_grace: Duration = Field(30.0, ge=0)

    @model_validator(mode="after")
    def _references(self) -> NotificationsConfig:
        names = [r.name for r in self.receivers]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"receiver {name!r} is defined twice")
        intervals = [i.name for i in self.time_intervals]
        for name in intervals:
            if intervals.count(name) > 1:
                raise ValueError(f"time interval {name!r} is defined twice")
        if self.receivers and self.route is None:
            raise ValueError("route: receivers are defined but no route says who gets what")
        if self.route is not None:
            _check_route(self.route, set(names), set(intervals), "route")
        tags = [d.id_tag.upper() for d in self.drivers]  # idTags are case-insensitive
        for i, tag in enumerate(tags):
            if tags.index(tag) != i:
                raise ValueError(f"drivers[{i}].id_tag: idTag {tag!r} is listed twice")
        everyone = [*self.receivers, *self.drivers]
        sms = any(t.startswith("sms:") for r in everyone for t in r.targets)
        if sms and self.twilio is None:
            raise ValueError("twilio: a receiver has sms: targets, so the twilio section is needed")
        return self


def _check_route(
    spec: RouteSpec, receivers: set[str], intervals: set[str], path: str, group_by: Any = None
) -> None:
    group_by = spec.group_by if spec.group_by is not None else group_by
    if path == "route" and spec.receiver is not None and LABEL_REF.search(spec.receiver):
        raise ValueError("route.receiver: the root route's receiver is the fallback, a name")
    if path == "route" and spec.matchers:
        raise ValueError("route.matchers: the root route takes every alert; match in routes")
    if spec.receiver is not None:
        _check_receiver(spec.receiver, receivers, f"{path}.receiver", group_by)
    for i, step in enumerate(spec.escalate or ()):
        _check_receiver(step.receiver, receivers, f"{path}.escalate[{i}].receiver", group_by)
    for key in ("mute_time_intervals", "active_time_intervals"):
        for name in getattr(spec, key) or ():
            if name not in intervals:
                raise ValueError(f"{path}.{key}: time interval {name!r} is not defined")
    for i, child in enumerate(spec.routes):
        _check_route(child, receivers, intervals, f"{path}.routes[{i}]", group_by)


def _check_receiver(name: str, receivers: set[str], where: str, group_by: Any) -> None:
    refs = LABEL_REF.findall(name)
    if not refs:
        if name not in receivers:
            known = ", ".join(sorted(receivers)) or "none are defined"
            raise ValueError(f"{where}: receiver {name!r} is not defined ({known})")
        return
    grouped = set(group_by or ("alertname",))
    for label in refs:
        if "..." not in grouped and label not in grouped:
            raise ValueError(
                f"{where}: {name!r} uses label {label!r}, which is not in group_by "
                "(all alerts of a group must go to the same receiver)"
            )


def receiver_for(template: str, labels: dict[str, str]) -> str:
    """A receiver name with `{{ label }}` references filled from the group's labels."""
    return LABEL_REF.sub(lambda m: labels.get(m.group(1), ""), template)


LOCAL_RECEIVER = "local"


def local_default(data_dir: Path, cfg: NotificationsConfig) -> NotificationsConfig:
    """What `chargewatch run` notifies when the config names no receivers: every alert, as
    a log line and a JSON line in DATA_DIR/notifications.jsonl, so a first run shows what
    would be sent without any account anywhere. The rest of the section (drivers, twilio,
    delivery) is kept."""
    return cfg.model_copy(
        update=dict(
            receivers=[
                ReceiverConfig(
                    name=LOCAL_RECEIVER,
                    targets=["console:", f"file:{data_dir.resolve() / 'notifications.jsonl'}"],
                )
            ],
            route=RouteSpec(
                receiver=LOCAL_RECEIVER, group_by=["alertname", "site"], group_wait=5.0
            ),
        )
    )
