"""Label matchers in Alertmanager's syntax: `severity="critical"`, `site=~"north-.*"`.

Operators are `=`, `!=`, `=~` and `!~`; regular expressions are anchored at both ends, as in
Alertmanager, and a label that is absent has the value "". Routes, inhibition rules and
silences all select alerts with lists of these, every matcher of a list having to match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_MATCHER = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>"(?:[^"\\]|\\.)*"|[^"\s]*)\s*$"""
)
OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"operator {self.op!r} is not one of {', '.join(OPS)}")
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_regex", re.compile(f"(?:{self.value})"))
            except re.error as exc:
                raise ValueError(f"invalid regular expression {self.value!r}: {exc}") from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = self._regex.fullmatch(actual) is not None  # type: ignore[attr-defined]
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def parse(text: str) -> Matcher:
    """One matcher; ValueError says what is wrong with the text."""
    m = _MATCHER.match(text)
    if m is None:
        raise ValueError(f'{text!r} is not a matcher; write name="value" (operators =, !=, =~, !~)')
    value = m["value"]
    if value.startswith('"'):
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return Matcher(m["name"], m["op"], value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
