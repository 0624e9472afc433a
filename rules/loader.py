"""Reading rule files and checking what they mean, with errors naming file, line and key.

Syntax (the schema) is pydantic's job; meaning is checked here: duplicate names, parameters
used but not defined, a condition in a scope it cannot work in, a template naming a value
nobody provides, an aggregate over a rule that does not exist (or over itself, in a cycle),
windows that cannot be satisfied.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import yaml
from pydantic import ValidationError

from chargewatch.yamlfile import ConfigError, line_of, parse_yaml, validation_errors
from rules.conditions import SCOPES, scope_kind
from rules.conditions.counting import EVENT_DETAILS
from rules.conditions.device import AbsentCondition, StatusCondition
from rules.conditions.fleet import AggregateCondition
from rules.conditions.meter import MeasurandCondition
from rules.conditions.session import SessionCondition
from rules.conditions.sla import AvailabilityCondition, ResponseCondition
from rules.engine import default_scope
from rules.params import Override, make_override
from rules.schema import ACTION_SCOPES, PARAM_REF, ConditionSpec, RuleSpec

PACKS = Path(__file__).parent / "packs"
DOCS = "docs/rules.md"

# what annotation templates may name, besides labels, parameters and `value`
DETAILS: dict[str, tuple[str, ...]] = {
    "status": StatusCondition.details,
    "measurand": MeasurandCondition.details,
    "absent": AbsentCondition.details,
    "count": ("count", "event", *EVENT_DETAILS),
    "session": SessionCondition.details,
    "aggregate": AggregateCondition.details,
    "availability": AvailabilityCondition.details,
    "response": ResponseCondition.details,
}
SCOPE_LABELS = {
    "connector": ("charger", "connector", "site"),
    "charger": ("charger", "site"),
    "site": ("site",),
    "network": (),
    "alert": ("charger", "connector", "site", "alert"),
}


@dataclass(frozen=True)
class LoadedRule:
    spec: RuleSpec
    file: str
    root: yaml.Node | None
    index: int  # position in its file's `rules:` list

    def error(self, message: str, *path: Any) -> ConfigError:
        full = ("rules", self.index, *path)
        key = f"rules[{self.index}]" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in path
        )
        return ConfigError(
            message, file=self.file, line=line_of(self.root, full), key=f"{key} ({self.spec.name})"
        )


def default_files() -> list[Path]:
    return sorted(PACKS.glob("*.yaml"))


def expand(patterns: Iterable[str], base: Path | None = None) -> list[Path]:
    """Files named by paths or globs (relative to `base`); a pattern matching none is an error."""
    out: list[Path] = []
    for pattern in patterns:
        full = Path(pattern) if base is None or Path(pattern).is_absolute() else base / pattern
        matches = sorted(Path(p) for p in glob.glob(str(full)))
        if not matches:
            raise ConfigError(f"no rule file matches {pattern!r}", file=str(full))
        out.extend(m for m in matches if m not in out)
    return out


def for_config(
    builtin: bool,
    files: Sequence[str],
    disabled: Sequence[str],
    raw_overrides: Sequence[Mapping[str, Any]],
    base: Path,
    config_file: str | None = None,
) -> tuple[list[RuleSpec], list[Override]]:
    """The rules and overrides `chargewatch.yaml` asks for; RuleErrors lists every problem."""
    paths = default_files() if builtin else []
    paths += [p for p in expand(files, base) if p not in paths]
    specs = load_or_raise(paths, disabled)
    overrides = [make_override(o) for o in raw_overrides]
    errors = check_overrides(overrides, specs, config_file)
    if errors:
        raise RuleErrors(errors)
    return specs, overrides


def read_file(path: Path) -> tuple[list[LoadedRule], list[ConfigError], set[str]]:
    """The valid rules of one file, the errors, and the names of the rules that failed the
    schema (each rule is checked on its own, so one bad rule hides no error of another)."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [], [ConfigError(f"cannot read rule file: {exc.strerror}", file=file)], set()
    try:
        data, root = parse_yaml(text, file)
    except ConfigError as exc:
        return [], [exc], set()
    if data is None:
        data = {}
    shape = "a rule file is a mapping with a `rules:` list"
    if not isinstance(data, dict):
        return [], [ConfigError(shape, file=file, line=1)], set()
    errors = [
        ConfigError(f"unknown key (see {DOCS})", file=file, line=line_of(root, (key,)), key=key)
        for key in data
        if key != "rules"
    ]
    errors += _duplicate_keys(root, file)
    items = data.get("rules") or []
    if not isinstance(items, list):
        return [], [*errors, ConfigError(shape, file=file, line=line_of(root, ("rules",)))], set()
    rules: list[LoadedRule] = []
    broken: set[str] = set()
    for i, item in enumerate(items):
        try:
            rules.append(LoadedRule(RuleSpec.model_validate(item), file, root, i))
        except ValidationError as exc:
            errors += validation_errors(exc, root, file, DOCS, prefix=("rules", i))
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                broken.add(item["name"])
    return rules, errors, broken


def _duplicate_keys(node: yaml.Node | None, file: str, path: str = "") -> list[ConfigError]:
    """YAML lets a later key silently replace an earlier one (a second `for:` would win
    unseen): in a rule file that is an error, named where the repeat is."""
    errors: list[ConfigError] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value in node.value:
            key = key_node.value
            here = f"{path}.{key}" if path else str(key)
            if key in seen:
                line = key_node.start_mark.line + 1
                errors.append(ConfigError("duplicate key", file=file, line=line, key=here))
            seen.add(key)
            errors += _duplicate_keys(value, file, here)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            errors += _duplicate_keys(item, file, f"{path}[{i}]")
    return errors


def load(paths: Sequence[Path]) -> tuple[list[LoadedRule], list[ConfigError]]:
    """Read and check every file; all errors are returned, not only the first."""
    rules: list[LoadedRule] = []
    errors: list[ConfigError] = []
    broken: set[str] = set()
    for path in paths:
        found, problems, failed = read_file(path)
        rules.extend(found)
        errors.extend(problems)
        broken |= failed
    errors.extend(check(rules, broken))
    return rules, errors


def load_or_raise(paths: Sequence[Path], disabled: Iterable[str] = ()) -> list[RuleSpec]:
    rules, errors = load(paths)
    if errors:
        raise RuleErrors(errors)
    off = set(disabled)
    unknown = off - {r.spec.name for r in rules}
    if unknown:
        raise RuleErrors(
            [
                ConfigError(f"disabled rule {n!r} does not exist", key="rules.disabled")
                for n in sorted(unknown)
            ]
        )
    return [r.spec for r in rules if r.spec.name not in off]


class RuleErrors(ConfigError):
    """Every problem found in rule files (a ConfigError, so callers treat it as one)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


# ---- meaning -----------------------------------------------------------------------------
def check(rules: Sequence[LoadedRule], broken: Iterable[str] = ()) -> list[ConfigError]:
    """Meaning errors; `broken` names rules that failed the schema (already reported)."""
    errors: list[ConfigError] = []
    seen: dict[str, LoadedRule] = {}
    for rule in rules:
        first = seen.get(rule.spec.name)
        if first is not None:
            errors.append(
                rule.error(
                    f"duplicate rule name (first defined in {first.file}:"
                    f"{line_of(first.root, ('rules', first.index))})",
                    "name",
                )
            )
        else:
            seen[rule.spec.name] = rule
    skip = frozenset(broken)
    for rule in rules:
        errors.extend(_check_rule(rule, seen, skip))
    errors.extend(_check_cycles(seen))
    return errors


def _check_rule(
    rule: LoadedRule, by_name: dict[str, LoadedRule], broken: frozenset[str]
) -> list[ConfigError]:
    spec = rule.spec
    errors: list[ConfigError] = []
    scope = spec.scope or default_scope(spec.condition)
    kinds: list[str] = []
    for path, cond in _walk(spec.condition, ("condition",)):
        kind = scope_kind(cond.kind, cond.spec)
        kinds.append(kind)
        allowed = SCOPES[kind]
        if scope not in allowed:
            where = ("scope",) if spec.scope else path
            errors.append(
                rule.error(
                    f"a {kind} condition works in scope {' or '.join(allowed)}, not {scope}",
                    *where,
                )
            )
        if cond.kind == "aggregate":
            target = by_name.get(cond.spec.rule)
            if target is None and cond.spec.rule not in broken:
                errors.append(
                    rule.error(f"no rule named {cond.spec.rule!r}", *path, "aggregate", "rule")
                )
            elif target is not None and (
                target.spec.scope or default_scope(target.spec.condition)
            ) in ("site", "network"):
                errors.append(
                    rule.error(
                        "aggregate counts chargers: its rule must be connector or charger scope",
                        *path,
                        "aggregate",
                        "rule",
                    )
                )
        errors.extend(_check_windows(rule, cond, path))
    for path, ref in _param_refs(spec):
        if ref[1:] not in spec.params:
            errors.append(rule.error(f"parameter {ref} is not defined in params", *path))
    available = set(spec.labels) | set(spec.params) | {"value", "alertname", "severity"}
    available |= set(SCOPE_LABELS[scope])
    for kind in kinds:
        available |= set(DETAILS[kind])
    for name, text in spec.annotations.items():
        template = Template(text)
        if not template.is_valid():
            errors.append(
                rule.error(
                    "invalid placeholder; write $name or ${name}, $$ for $", "annotations", name
                )
            )
            continue
        for ident in template.get_identifiers():
            if ident not in available:
                errors.append(
                    rule.error(
                        f"${ident} is not defined here (available: {', '.join(sorted(available))})",
                        "annotations",
                        name,
                    )
                )
    if spec.action is not None and scope not in ACTION_SCOPES:
        errors.append(
            rule.error(
                f"an action is sent to a charger: the rule's scope must be "
                f"{' or '.join(ACTION_SCOPES)}, not {scope}",
                "action",
            )
        )
    if spec.action is not None and spec.action.when == "pending" and spec.for_ == 0:
        errors.append(
            rule.error(
                "when: pending needs a `for:` (without one the alert fires at once)",
                "action",
                "when",
            )
        )
    if spec.runbook_url is not None and not spec.runbook_url.startswith(("http://", "https://")):
        errors.append(rule.error("runbook_url must be an http(s) URL", "runbook_url"))
    return errors


def _check_windows(rule: LoadedRule, cond: ConditionSpec, path: tuple) -> list[ConfigError]:
    errors = []
    s = cond.spec
    numbers = [
        (name, getattr(s, name, None))
        for name in (
            "window",
            "silent_for",
            "longer_than",
            "idle_for",
            "stale_after",
            "resolution",
            "unacknowledged_for",
            "unresolved_for",
        )
    ]
    for name, value in numbers:
        if isinstance(value, float) and value <= 0:
            errors.append(rule.error(f"{name} must be longer than 0s", *path, cond.kind, name))
    if cond.kind == "sla" and s.availability_below is not None:
        if (
            isinstance(s.window, float)
            and isinstance(s.min_observed, float)
            and s.min_observed >= s.window
        ):
            errors.append(
                rule.error(
                    "min_observed must be shorter than the window it is judged in",
                    *path,
                    "sla",
                    "min_observed",
                )
            )
        if (
            isinstance(s.window, float)
            and isinstance(s.resolution, float)
            and s.resolution > s.window
        ):
            errors.append(
                rule.error("resolution must not exceed the window", *path, "sla", "resolution")
            )
    return errors


def _walk(cond: ConditionSpec, path: tuple) -> Iterable[tuple[tuple, ConditionSpec]]:
    if cond.kind in ("all", "any"):
        for i, child in enumerate(cond.spec):
            yield from _walk(child, (*path, cond.kind, i))
    else:
        yield path, cond


def _param_refs(spec: RuleSpec) -> Iterable[tuple[tuple, str]]:
    data = spec.model_dump(by_alias=True)
    data.pop("params", None)
    data.pop("annotations", None)
    yield from _refs(data, ())


def _refs(value: Any, path: tuple) -> Iterable[tuple[tuple, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _refs(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _refs(v, (*path, i))
    elif isinstance(value, str) and PARAM_REF.match(value):
        yield path, value


def _check_cycles(by_name: dict[str, LoadedRule]) -> list[ConfigError]:
    graph = {
        name: [c.spec.rule for _, c in _walk(r.spec.condition, ()) if c.kind == "aggregate"]
        for name, r in by_name.items()
    }
    errors = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    rule = by_name[start]
                    errors.append(
                        rule.error(
                            f"aggregates form a cycle: {' -> '.join([*trail, start])}", "condition"
                        )
                    )
                    stack = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    return errors


def check_overrides(
    overrides: Sequence[Override], rules: Sequence[RuleSpec], file: str | None = None
) -> list[ConfigError]:
    """Overrides must name rules and parameters that exist (config key rules.overrides[i])."""
    errors = []
    names = {r.name: r for r in rules}
    all_params = {p for r in rules for p in r.params}
    for i, o in enumerate(overrides):
        key = f"rules.overrides[{i}]"
        for name in o.rules:
            if name not in names:
                errors.append(ConfigError(f"no rule named {name!r}", file=file, key=f"{key}.rules"))
        scope = [names[n] for n in o.rules if n in names] if o.rules else list(rules)
        known = {p for r in scope for p in r.params} if o.rules else all_params
        for param in o.params:
            if param not in known:
                errors.append(
                    ConfigError(
                        f"no {'such rule' if o.rules else 'rule'} has a parameter {param!r}",
                        file=file,
                        key=f"{key}.params.{param}",
                    )
                )
    return errors
