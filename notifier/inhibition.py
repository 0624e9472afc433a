"""Inhibition, as in Alertmanager: a firing source alert mutes target alerts that share
some labels — a site outage mutes its chargers' offline alerts, a charger offline mutes its
connectors' alerts.

A rule mutes an alert when the alert matches the target matchers, some *other* firing alert
matches the source matchers, and both have the same value for each `equal` label (a label
both lack counts as equal, as in Alertmanager).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifier.matchers import Matcher, matches_all, parse


class InhibitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source_matchers: list[str] = Field(min_length=1)
    target_matchers: list[str] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _matchers(cls, values: list[str]) -> list[str]:
        for text in values:
            parse(text)
        return values


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    @classmethod
    def of(cls, spec: InhibitSpec) -> InhibitRule:
        return cls(
            tuple(parse(m) for m in spec.source_matchers),
            tuple(parse(m) for m in spec.target_matchers),
            tuple(spec.equal),
        )


def muted_by(
    rules: Sequence[InhibitRule],
    labels: Mapping[str, str],
    firing: Iterable[tuple[str, Mapping[str, str]]],
    fingerprint: str,
) -> str | None:
    """The fingerprint of a firing alert that mutes this one, or None.

    `firing` gives (fingerprint, labels) of the alerts firing now; an alert never mutes
    itself, even when it matches both sides of a rule.
    """
    candidates = [r for r in rules if matches_all(r.target, labels)]
    if not candidates:
        return None
    for other, other_labels in firing:
        if other == fingerprint:
            continue
        for rule in candidates:
            if matches_all(rule.source, other_labels) and all(
                labels.get(name, "") == other_labels.get(name, "") for name in rule.equal
            ):
                return other
    return None
