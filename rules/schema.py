"""The rule file schema: what an operator may write, checked with errors that name the key.

A rule file is `rules: [ ... ]`. Each condition is a mapping with exactly one kind key
(`status`, `measurand`, `absent`, `count`, `session`, `aggregate`, `sla`, or the composites
`all` / `any`); docs/rules.md has an example of each. Numbers and durations may name a
parameter of the rule as `$name`, so thresholds can be overridden per site, model or charger.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus, Measurand
from ocpp.v201.enums import ConnectorStatusEnumType, MeasurandEnumType
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from chargewatch.durations import parse_duration
from chargewatch.faults import CATEGORIES

STATUSES = frozenset(s.value for s in ChargePointStatus) | frozenset(
    s.value for s in ConnectorStatusEnumType
)
ERROR_CODES = frozenset(c.value for c in ChargePointErrorCode)
MEASURANDS = frozenset(m.value for m in Measurand) | frozenset(m.value for m in MeasurandEnumType)
SEVERITIES = ("critical", "major", "warning", "info")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PARAM_REF = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")

# What count conditions can count (docs/rules.md, "Countable events").
COUNTABLE = (
    "boot",  # BootNotification
    "status_change",  # a connector's status differs from its previous one
    "fault",  # a status report carrying a fault (Faulted, or an error code other than NoError)
    "auth_rejected",  # Authorize or StartTransaction answered with a status other than Accepted
    "tag_blocked",  # ... answered Blocked or Expired: a blocked or expired card was presented
    "security_event",  # SecurityEventNotification (match: {type: [...]})
    "energy_backwards",  # the energy register decreased, or meterStop < meterStart
    "unknown_charger",  # a charger the config does not list connected
    "pending_commissioning",  # an unknown charger admitted as pending sent BootNotification
    "auth_lockout",  # failed OCPP handshake authentications locked an address or id out
    "connect",
    "disconnect",
)


def _number_or_param(value: Any) -> Any:
    if isinstance(value, str) and PARAM_REF.match(value.strip()):
        return value.strip()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number or a parameter reference like $max_temperature_c")
    return float(value)


def _duration_or_param(value: Any) -> Any:
    if isinstance(value, str) and PARAM_REF.match(value.strip()):
        return value.strip()
    return parse_duration(value)


Number = Annotated[float | str, BeforeValidator(_number_or_param)]
Duration = Annotated[float | str, BeforeValidator(_duration_or_param)]
Op = Literal[">", ">=", "<", "<=", "==", "!="]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StatusSpec(_Spec):
    """True while the connector's current status report matches."""

    in_: list[str] = Field(default_factory=list, alias="in")
    error_codes: list[str] = Field(default_factory=list)
    fault_categories: list[str] = Field(default_factory=list)
    vendor_codes: list[str] = Field(default_factory=list)  # vendorErrorCode, e.g. ChargeX CX003

    @field_validator("in_")
    @classmethod
    def _known_status(cls, values: list[str]) -> list[str]:
        return _known(values, STATUSES, "status")

    @field_validator("error_codes")
    @classmethod
    def _known_error(cls, values: list[str]) -> list[str]:
        return _known(values, ERROR_CODES, "error code")

    @field_validator("fault_categories")
    @classmethod
    def _known_category(cls, values: list[str]) -> list[str]:
        return _known(values, frozenset(CATEGORIES), "fault category")

    @model_validator(mode="after")
    def _something(self) -> StatusSpec:
        if not (self.in_ or self.error_codes or self.fault_categories or self.vendor_codes):
            raise ValueError("give at least one of in, error_codes, fault_categories, vendor_codes")
        return self


class MeasurandSpec(_Spec):
    """A measurand compared with a threshold, optionally aggregated over a window."""

    name: str
    phase: str | None = None
    location: str | None = None
    aggregate: Literal["last", "avg", "min", "max", "rate", "delta"] = "last"
    window: Duration | None = None
    op: Op = ">"
    threshold: Number
    stale_after: Duration = 900.0  # a `last` value older than this no longer counts

    @field_validator("name")
    @classmethod
    def _known_measurand(cls, value: str) -> str:
        return _known([value], MEASURANDS, "measurand")[0]

    @model_validator(mode="after")
    def _window_when_aggregated(self) -> MeasurandSpec:
        if self.aggregate != "last" and self.window is None:
            raise ValueError(f"aggregate {self.aggregate} needs a window")
        if self.aggregate == "last" and self.window is not None:
            raise ValueError("a window needs an aggregate (avg, min, max, rate, delta)")
        return self  # a window of 0s is refused by the loader, which names the key


class AbsentSpec(_Spec):
    """No message of any kind from a charger for a while (or its socket is closed)."""

    heartbeats: Number | None = None  # silent for this many heartbeat intervals
    silent_for: Duration | None = None  # or for this long (the larger of the two counts)
    when_disconnected: bool = False  # a closed socket counts at once
    default_heartbeat: Duration = 300.0  # when the charger never said its interval

    @model_validator(mode="after")
    def _some_limit(self) -> AbsentSpec:
        if self.heartbeats is None and self.silent_for is None and not self.when_disconnected:
            raise ValueError("give heartbeats, silent_for or when_disconnected: true")
        return self


class CountSpec(_Spec):
    """How many events of some kinds happened within a window."""

    events: list[str] = Field(min_length=1)
    window: Duration
    op: Op = ">="
    threshold: Number
    match: dict[str, list[str]] = Field(default_factory=dict)  # detail -> allowed values

    @field_validator("events")
    @classmethod
    def _countable(cls, values: list[str]) -> list[str]:
        return _known(values, frozenset(COUNTABLE), "countable event")


class SessionSpec(_Spec):
    """A condition on the session of a connector; exactly one check."""

    longer_than: Duration | None = None  # a session open for longer than this
    idle_for: Duration | None = None  # SuspendedEV/Finishing this long after charging
    zero_power_samples: Number | None = None  # Charging, power ~0 and register flat N samples
    power_below_w: Number = 50.0  # what "power ~0" means for zero_power_samples
    energy_below_wh: Number | None = None  # open for `after` with less energy than this
    after: Duration = 1800.0

    @model_validator(mode="after")
    def _one_check(self) -> SessionSpec:
        checks = [
            name
            for name in ("longer_than", "idle_for", "zero_power_samples", "energy_below_wh")
            if getattr(self, name) is not None
        ]
        if len(checks) != 1:
            raise ValueError(
                "give exactly one of longer_than, idle_for, zero_power_samples, energy_below_wh"
            )
        return self


class AggregateSpec(_Spec):
    """How many chargers of a site (or the network) have an alert of another rule at once."""

    rule: str
    min_share: Number | None = None  # share of the chargers (0..1)
    min_count: Number = 1.0
    explains: bool = True  # mark the counted alerts as explained by this one

    @field_validator("min_share")
    @classmethod
    def _share(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, float) and not 0 < value <= 1:
            raise ValueError("min_share is a share between 0 (exclusive) and 1")
        return value


class SlaSpec(_Spec):
    """Availability below a target, or an alert not acknowledged/resolved in time."""

    availability_below: Number | None = None  # percent
    window: Duration = 30 * 86400.0
    min_observed: Duration = 3600.0  # do not judge a port watched for less than this
    resolution: Duration = 300.0  # how often a degraded port's availability is recomputed
    severities: list[str] = Field(default_factory=list)  # of the alerts watched for response
    unacknowledged_for: Duration | None = None
    unresolved_for: Duration | None = None

    @field_validator("severities")
    @classmethod
    def _severity(cls, values: list[str]) -> list[str]:
        return _known(values, frozenset(SEVERITIES), "severity")

    @model_validator(mode="after")
    def _one_kind(self) -> SlaSpec:
        kinds = [
            self.availability_below is not None,
            self.unacknowledged_for is not None,
            self.unresolved_for is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError(
                "give exactly one of availability_below, unacknowledged_for, unresolved_for"
            )
        if (self.unacknowledged_for is not None or self.unresolved_for is not None) and not (
            self.severities
        ):
            raise ValueError("a response-time condition needs the severities it watches")
        if isinstance(self.availability_below, float) and not 0 < self.availability_below <= 100:
            raise ValueError("availability_below is a percentage between 0 and 100")
        return self


# self-healing actions a rule may name (rules/healer.py): action -> the remote command it sends
ACTIONS = {
    "trigger-status": "trigger-message",  # ask for a StatusNotification (harmless)
    "soft-reset": "reset",  # 1.6 Reset Soft / 2.0.1 Reset OnIdle: never during a session
}
ACTION_SCOPES = ("charger", "connector")  # an action is sent to the charger an alert names


class ActionSpec(_Spec):
    """What to try, once per alert, when the alert enters `when` (docs/rules.md, Actions).
    Runs only when `rules.self_healing.enabled` is on (a monitor must not reset unasked)."""

    do: str
    when: Literal["pending", "firing"] = "firing"
    max_per_day: int = Field(1, ge=1, le=100)  # per charger and UTC day, for this rule

    @field_validator("do")
    @classmethod
    def _known_action(cls, value: str) -> str:
        if value not in ACTIONS:
            raise ValueError(f"unknown action {value!r} (known: {', '.join(ACTIONS)})")
        return value


KINDS = ("status", "measurand", "absent", "count", "session", "aggregate", "sla", "all", "any")


class ConditionSpec(_Spec):
    status: StatusSpec | None = None
    measurand: MeasurandSpec | None = None
    absent: AbsentSpec | None = None
    count: CountSpec | None = None
    session: SessionSpec | None = None
    aggregate: AggregateSpec | None = None
    sla: SlaSpec | None = None
    all: list[ConditionSpec] | None = Field(None, min_length=1)
    any: list[ConditionSpec] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> ConditionSpec:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a condition has exactly one kind ({', '.join(KINDS)}); "
                + (f"got {', '.join(given)}" if given else "got none")
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> Any:
        return getattr(self, self.kind)


class RuleSpec(_Spec):
    name: str
    description: str = ""
    scope: Literal["connector", "charger", "site", "network"] | None = None
    condition: ConditionSpec
    for_: Duration = Field(0.0, alias="for")
    keep_firing_for: Duration = 0.0
    severity: Literal["critical", "major", "warning", "info"] = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    runbook_url: str | None = None
    params: dict[str, float | str] = Field(default_factory=dict)
    action: ActionSpec | None = None  # self-healing (rules/healer.py); not part of the digest

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("a rule name is letters, digits and _ (like a Prometheus alertname)")
        return value

    @field_validator("labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if not NAME.match(key):
                raise ValueError(f"label name {key!r}: letters, digits and _ only")
            if "$" in value:
                raise ValueError(
                    f"label {key!r} is templated; labels identify an alert and must not "
                    "change, put changing values in annotations"
                )
        return labels

    @field_validator("params")
    @classmethod
    def _params(cls, params: dict[str, float | str]) -> dict[str, float | str]:
        out: dict[str, float | str] = {}
        for key, value in params.items():
            if not NAME.match(key):
                raise ValueError(f"parameter name {key!r}: letters, digits and _ only")
            out[key] = value if isinstance(value, int | float) else parse_duration(value)
        return out


def _known(values: list[str], known: frozenset[str], what: str) -> list[str]:
    for value in values:
        if value not in known:
            close = sorted(k for k in known if k.lower() == value.lower())
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValueError(f"unknown {what} {value!r}{hint}")
    return values
