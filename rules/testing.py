"""`chargewatch rules test`: timelines of events and the alerts expected at given times.

Like `promtool test rules`: a test file names rule files, optionally sites and overrides,
and tests. Each test feeds its events to a fresh engine in order and, at every `expect`
time, compares the active alerts (pending and firing) with the ones listed. `restart_at`
snapshots the engine to JSON and continues in a new one, as `chargewatch run` does across
a restart. docs/rules.md describes the format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chargewatch import events as ev
from chargewatch.alerts import Alert
from chargewatch.config import RuleOverrideConfig, SiteConfig
from chargewatch.durations import format_duration, parse_duration
from chargewatch.yamlfile import ConfigError, line_of, parse_yaml, validation_errors
from rules import loader
from rules.engine import Engine
from rules.params import make_override

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: `at: 0s` of every test
CANONICAL_UNITS = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Temperature": "degC",
    "SoC": "%",
    "Voltage": "V",
    "Current.Import": "A",
}
KINDS = {*ev.EVENT_TYPES, "ack"}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpectedAlert(_Spec):
    alertname: str
    state: Literal["pending", "firing"] = "firing"  # what an active alert can be
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    explained_by: str | None = None  # alertname of the explaining alert


class Expectation(_Spec):
    at: float
    alertname: str | None = None  # compare only alerts of this rule
    alerts: list[ExpectedAlert] = Field(default_factory=list)

    _at = field_validator("at", mode="before")(lambda v: parse_duration(v))


class TimelineEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    at: float
    kind: str
    charger: str = ""

    _at = field_validator("at", mode="before")(lambda v: parse_duration(v))

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown event kind {value!r}; one of {', '.join(sorted(KINDS))}")
        return value


class TestCase(_Spec):
    name: str
    events: list[TimelineEvent] = Field(default_factory=list)
    expect: list[Expectation] = Field(min_length=1)
    restart_at: list[float] = Field(default_factory=list)

    @field_validator("restart_at", mode="before")
    @classmethod
    def _durations(cls, values: list[Any]) -> list[float]:
        return [parse_duration(v) for v in values]


class TestFile(_Spec):
    rule_files: list[str] = Field(min_length=1)
    sites: list[SiteConfig] = Field(default_factory=list)
    overrides: list[RuleOverrideConfig] = Field(default_factory=list)
    tests: list[TestCase] = Field(min_length=1)


@dataclass
class Outcome:
    file: str
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def run_file(path: Path) -> list[Outcome]:
    """Run every test of one file; file problems raise ConfigError / loader.RuleErrors."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read test file: {exc.strerror}", file=file) from None
    data, root = parse_yaml(text, file)
    try:
        spec = TestFile.model_validate(data or {})
    except ValidationError as exc:
        raise loader.RuleErrors(validation_errors(exc, root, file, loader.DOCS)) from None
    rule_paths = loader.expand(spec.rule_files, path.parent)
    rules = loader.load_or_raise(rule_paths)
    overrides = [make_override(o.model_dump()) for o in spec.overrides]
    errors = loader.check_overrides(overrides, rules, file)
    if errors:
        raise loader.RuleErrors(errors)
    site_of = {c: s.id for s in spec.sites for c in s.chargers}
    outcomes = []
    for i, case in enumerate(spec.tests):
        for j, item in enumerate(case.events):
            if j and item.at < case.events[j - 1].at:
                raise ConfigError(
                    "events are listed in the order the collector receives them: "
                    "`at` must not go back (use charger timestamps for out-of-order data)",
                    file=file,
                    line=line_of(root, ("tests", i, "events", j, "at")),
                    key=f"tests[{i}].events[{j}].at",
                )
        outcomes.append(_run_case(file, case, rules, site_of, overrides, root, i))
    return outcomes


def _engine(rules, site_of, overrides) -> Engine:
    known = frozenset(site_of) or None
    return Engine(rules, site_of=site_of, known_chargers=known, overrides=overrides)


def _run_case(file, case: TestCase, rules, site_of, overrides, root, index) -> Outcome:
    outcome = Outcome(file, case.name)
    engine = _engine(rules, site_of, overrides)
    timeline: list[tuple[float, int, str, Any]] = []
    for j, item in enumerate(case.events):
        timeline.append((item.at, 0, "event", (j, item)))
    for t in case.restart_at:
        timeline.append((t, 1, "restart", None))
    for k, expectation in enumerate(case.expect):
        timeline.append((expectation.at, 2, "expect", (k, expectation)))
    timeline.sort(key=lambda x: (x[0], x[1]))
    for at, _, what, payload in timeline:
        now = EPOCH + at
        if what == "event":
            j, item = payload
            try:
                event = _event(item, now, engine)
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    f"cannot build a {item.kind} event: {exc}",
                    file=file,
                    line=line_of(root, ("tests", index, "events", j)),
                    key=f"tests[{index}].events[{j}]",
                ) from None
            if event is not None:
                engine.process(event, now)
        elif what == "restart":
            engine.advance(now)
            snapshot = json.loads(json.dumps(engine.snapshot()))
            engine = _engine(rules, site_of, overrides)
            engine.restore(snapshot, now)
        else:
            k, expectation = payload
            engine.advance(now)
            outcome.failures.extend(_compare(engine.active(), expectation, engine))
    return outcome


def _event(item: TimelineEvent, now: float, engine: Engine) -> ev.Event | None:
    extra = dict(item.model_extra or {})
    if item.kind == "ack":
        alert = _find(engine.active(), extra.pop("alert", ""), extra.pop("labels", {}))
        if alert is None:
            raise ValueError("no active alert matches this acknowledgement")
        return ev.AlertAcknowledged(
            alert.labels.get("charger", ""), now, alert.fingerprint, str(extra.get("by", "test"))
        )
    cls = ev.EVENT_TYPES[item.kind]
    if "charger_ts" in extra:
        extra["charger_ts"] = now + _signed(extra["charger_ts"])
    for name in ("started_at", "stopped_at"):
        if name in extra:
            extra[name] = EPOCH + parse_duration(extra[name])
    if cls is ev.MeterValuesReported:
        extra["samples"] = tuple(_sample(s, now) for s in extra.get("samples", []))
    types = {f.name: str(f.type) for f in fields(cls)}
    unknown = set(extra) - set(types)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    for name, value in extra.items():
        if not _fits(value, types[name]):
            raise ValueError(f"{name} must be {types[name]}, not {value!r}")
    return cls(charger_id=item.charger, ts=now, **extra)


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "dict": (dict,),
    "tuple": (tuple,),
}


def _fits(value: Any, annotation: str) -> bool:
    """Whether a value from YAML suits a field annotated like `int | None`."""
    for part in annotation.split("|"):
        base = part.strip().split("[")[0]
        if base == "None" and value is None:
            return True
        allowed = _PY_TYPES.get(base)
        if allowed is None:
            return True  # a type this check does not know: let the event decide
        if isinstance(value, allowed) and not (isinstance(value, bool) and base != "bool"):
            return True
    return False


def _signed(value: Any) -> float:
    """A charger clock offset: `-5m`, `+2h` or seconds."""
    if isinstance(value, str) and value.strip().startswith(("-", "+")):
        text = value.strip()
        return (-1 if text[0] == "-" else 1) * parse_duration(text[1:])
    return float(value) if isinstance(value, int | float) else parse_duration(value)


def _sample(raw: dict[str, Any], now: float) -> ev.Sample:
    measurand = raw.get("measurand", "Energy.Active.Import.Register")
    ts = now + _signed(raw["offset"]) if "offset" in raw else now
    value = raw.get("value")
    return ev.Sample(
        ts,
        measurand,
        None if value is None else float(value),
        raw.get("unit", CANONICAL_UNITS.get(measurand, "")),
        raw.get("phase"),
        raw.get("context"),
        raw.get("location"),
    )


def _find(alerts: Sequence[Alert], name: str, labels: dict[str, str]) -> Alert | None:
    for a in alerts:
        if a.rule == name and all(a.labels.get(k) == str(v) for k, v in labels.items()):
            return a
    return None


def _compare(active: list[Alert], expectation: Expectation, engine: Engine) -> list[str]:
    at = format_duration(expectation.at)
    if expectation.alertname is not None:
        active = [a for a in active if a.rule == expectation.alertname]
    names = {a.fingerprint: a.rule for a in active}
    for alerts in engine.alerts.values():
        names.update({a.fingerprint: a.rule for a in alerts.values()})
    left = list(active)
    failures = []
    for want in expectation.alerts:
        match = None
        for a in left:
            if (
                a.rule == want.alertname
                and a.state == want.state
                and all(a.labels.get(k) == v for k, v in want.labels.items())
                and all(a.annotations.get(k) == v for k, v in want.annotations.items())
                and (
                    want.explained_by is None
                    or names.get(a.explained_by or "") == want.explained_by
                )
            ):
                match = a
                break
        if match is None:
            failures.append(f"at {at}: expected {_show_expected(want)}, not found")
        else:
            left.remove(match)
    for a in left:
        failures.append(f"at {at}: unexpected {_show(a)}")
    return failures


def _show_expected(want: ExpectedAlert) -> str:
    extra = f" annotations {want.annotations}" if want.annotations else ""
    why = f" explained by {want.explained_by}" if want.explained_by else ""
    return f"{want.alertname} {want.state} {want.labels}{extra}{why}"


def _show(a: Alert) -> str:
    labels = {k: v for k, v in a.labels.items() if k not in ("alertname", "severity")}
    return f"{a.rule} {a.state} {labels} annotations {a.annotations}"
