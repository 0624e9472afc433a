"""Alert annotations: a rule's `$name` templates filled with its parameters, the condition's
details, the alert's labels and `$value`, and tidied where a detail was empty."""

from __future__ import annotations

import re
from collections.abc import Mapping
from string import Template
from typing import Any

_SPACES = re.compile(r"[ \t]{2,}")  # left where a template names a detail that was empty
_BEFORE_STOP = re.compile(r"[ \t]+([.,;:)])")
_EMPTY_BRACKETS = re.compile(r"\([ \t]*\)|\[[ \t]*\]")  # "($fault_category)" left empty


def tidy(text: str) -> str:
    """Text as a person would write it after empty details were left out."""
    text = _SPACES.sub(" ", _EMPTY_BRACKETS.sub("", text))
    return _BEFORE_STOP.sub(r"\1", text).strip()


class _Blank(dict):
    """Template values: a detail a condition did not give renders as empty text."""

    def __missing__(self, key: str) -> str:
        return ""


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def render(
    templates: Mapping[str, Template],
    params: Mapping[str, Any],
    details: Mapping[str, Any] | None,
    labels: Mapping[str, str],
    value: float | None,
) -> dict[str, str]:
    """The annotations of an alert; labels win over details, details over parameters."""
    values = _Blank({k: format_value(x) for k, x in params.items()})
    values.update({k: format_value(x) for k, x in (details or {}).items()})
    values.update(labels)
    values["value"] = "" if value is None else format_value(value)
    return {k: tidy(t.safe_substitute(values)) for k, t in templates.items()}
