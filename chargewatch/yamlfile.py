"""YAML files whose errors name file, line and key: shared by the config and the rule files.

PyYAML gives the data and, separately, the node tree with line marks; a pydantic error's
location is a path of keys and indexes, which `line_of` walks in that tree.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import ValidationError


class ConfigError(Exception):
    """A problem in a config or rule file, phrased as `file:line: key: message`."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.file, self.line, self.key, self.reason = file, line, key, message
        where = file or "<config>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


def parse_yaml(text: str, file: str) -> tuple[Any, yaml.Node | None]:
    """The data and the node tree of a YAML document; ConfigError on a syntax error."""
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"invalid YAML: {problem}", file=file, line=mark.line + 1 if mark else None
        ) from None


def line_of(root: yaml.Node | None, path: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at `path` (or its nearest existing parent)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    child = value_node
                    line = key_node.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def dotted(path: tuple[Any, ...]) -> str:
    """A location as a reader writes it: `rules[2].condition.threshold`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_errors(
    exc: ValidationError, root: yaml.Node | None, file: str, docs: str, prefix: tuple = ()
) -> list[ConfigError]:
    """Every problem pydantic found, each pointing at its line and key."""
    out = []
    for err in exc.errors():
        path = prefix + tuple(p for p in err["loc"] if not _is_union_tag(p))
        message = err["msg"].removeprefix("Value error, ")
        inner, message = _inner_path(message)  # a check across keys names the one at fault
        path += inner
        if err["type"] == "extra_forbidden":
            message = f"unknown key (see {docs})"
        out.append(
            ConfigError(message, file=file, line=line_of(root, path), key=dotted(path) or None)
        )
    return out


_INNER = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\]|\.[A-Za-z_]\w*)*): (.+)$", re.DOTALL)
_PART = re.compile(r"\[(\d+)\]|\.?([A-Za-z_]\w*)")


def _inner_path(message: str) -> tuple[tuple[Any, ...], str]:
    """`route.routes[0].receiver: receiver 'x' is not defined` -> the path and the rest."""
    m = _INNER.match(message)
    if m is None:
        return (), message
    parts = tuple(int(i) if i else name for i, name in _PART.findall(m.group(1)))
    return parts, m.group(2)


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the chosen member of a union in the location, e.g. "function-after[...]"
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))
