"""Rule parameters and their overrides per site, charger model or charger.

One pack serves a mixed fleet: a rule names its thresholds (`params:`), and the config's
`rules.overrides` change them where a selector matches. The most specific selector wins:
charger, then vendor/model, then site; among equals, the later override.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chargewatch.durations import parse_duration


@dataclass(frozen=True)
class Override:
    site: str | None = None
    vendor: str | None = None
    model: str | None = None
    charger: str | None = None
    rules: tuple[str, ...] = ()  # empty: every rule that has these parameters
    params: Mapping[str, float] = field(default_factory=dict)

    @property
    def specificity(self) -> int:
        if self.charger is not None:
            return 3
        if self.model is not None or self.vendor is not None:
            return 2
        return 1 if self.site is not None else 0

    def concerns(self, rule: str, rule_params: Mapping[str, float]) -> bool:
        if self.rules:
            return rule in self.rules
        return any(name in rule_params for name in self.params)

    def matches(
        self, charger: str | None, site: str | None, vendor: str | None, model: str | None
    ) -> bool:
        return (
            (self.charger is None or self.charger == charger)
            and (self.site is None or self.site == site)
            and (self.vendor is None or self.vendor == vendor)
            and (self.model is None or self.model == model)
        )


def make_override(raw: Mapping[str, object]) -> Override:
    """An Override from the config's plain mapping (durations in params become seconds)."""
    params = {
        k: float(v) if isinstance(v, int | float) else parse_duration(str(v))
        for k, v in dict(raw.get("params") or {}).items()  # type: ignore[call-overload]
    }
    return Override(
        site=raw.get("site"),  # type: ignore[arg-type]
        vendor=raw.get("vendor"),  # type: ignore[arg-type]
        model=raw.get("model"),  # type: ignore[arg-type]
        charger=raw.get("charger"),  # type: ignore[arg-type]
        rules=tuple(raw.get("rules") or ()),  # type: ignore[arg-type]
        params=params,
    )


class ParamTable:
    """Parameters of one rule for one charger or site, cached per (charger, site, model)."""

    def __init__(self, rule: str, defaults: Mapping[str, float], overrides: Sequence[Override]):
        self.defaults = dict(defaults)
        mine = [o for o in overrides if o.concerns(rule, defaults)]
        # stable sort: equal specificity keeps config order, later wins when applied last
        self.overrides = sorted(mine, key=lambda o: o.specificity)
        # changes with the overrides of this rule: a snapshot taken under other ones has
        # alerts to re-evaluate (rules/snapshot.py)
        self.digest = hashlib.sha256(repr(self.overrides).encode()).hexdigest()[:16]
        self._cache: dict[tuple[str | None, ...], dict[str, float]] = {}

    def get(
        self, charger: str | None, site: str | None, vendor: str | None, model: str | None
    ) -> Mapping[str, float]:
        if not self.overrides:
            return self.defaults
        key = (charger, site, vendor, model)
        found = self._cache.get(key)
        if found is None:
            found = dict(self.defaults)
            for o in self.overrides:
                if o.matches(charger, site, vendor, model):
                    found.update({k: v for k, v in o.params.items() if k in self.defaults})
            self._cache[key] = found
        return found
