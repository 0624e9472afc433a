"""Hypothesis strategies for OCPP frames: random JSON, frame-shaped arrays, garbled text,
and payloads generated from the request schemas with defects."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from fuzz_oracle import ACTIONS, HANDLED, MAX_FRAME, SCHEMAS, frame_text
from hypothesis import strategies as st

# ---- strategies --------------------------------------------------------------------------
_surrogate = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
strings = st.one_of(
    st.text(max_size=30),
    st.text(st.characters() | _surrogate, max_size=10),  # lone surrogates, \\u escaped
    st.sampled_from(["", "Heartbeat", "NaN", "\x00", "\u202e", "\U0001f50c", '"', "\\"]),
    st.integers(1, 4000).map(lambda n: "x" * n),  # over every CiString / string[0..N]
)
huge_ints = st.sampled_from([2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30])
numbers = st.one_of(
    st.integers(),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),  # NaN / Infinity tokens Python accepts
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(strings, children, max_size=4)
    ),
    max_leaves=20,
)
message_ids = st.one_of(
    st.from_regex(r"[A-Za-z0-9\-]{1,36}", fullmatch=True),
    st.text(max_size=40),
    st.integers(),
    st.sampled_from(["", "x" * 37, "x" * 200, None, True, {}, []]),
)


def _date_times() -> st.SearchStrategy[str]:
    base = datetime(2026, 11, 22, 10, tzinfo=UTC)
    return st.builds(
        lambda seconds, fmt: (base + timedelta(seconds=seconds)).strftime(fmt),
        st.integers(-(10**8), 10**8),
        st.sampled_from(
            ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f+00:00", "%Y-%m-%dT%H:%M:%S+01:00"]
        ),
    )


def from_schema(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid instances of the subset of draft 4 the OCPP schemas use."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: from_schema(root["definitions"][name], root))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: from_schema(v, root) for k, v in props.items() if k in required},
            optional={k: from_schema(v, root) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", low + 2), low + 2)
        return st.lists(from_schema(schema.get("items", {}), root), min_size=low, max_size=high)
    if kind == "string":
        if schema.get("format") == "date-time":
            return _date_times()
        return st.text(st.characters(codec="utf-8"), max_size=min(schema.get("maxLength", 40), 40))
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31 - 1))
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.integers(-(10**6), 10**6) | st.floats(
            low, high, allow_nan=False, allow_infinity=False
        )
    if kind == "boolean":
        return st.booleans()
    return json_values  # no type (2.0.1's DataTransfer data, customData): anything


_payloads: dict[tuple[str, str], st.SearchStrategy[Any]] = {}


def valid_payload(version: str, action: str) -> st.SearchStrategy[Any]:
    key = (version, action)
    if key not in _payloads:
        schema = SCHEMAS[version][0][action]
        _payloads[key] = from_schema(schema, schema)
    return _payloads[key]


def _containers(value: Any, out: list[Any]) -> list[Any]:
    if isinstance(value, dict | list):
        out.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            _containers(child, out)
    return out


@st.composite
def mutated_payload(draw: st.DrawFn, version: str, action: str) -> dict[str, Any]:
    """A valid payload of `action`, then (mostly) one or two defects somewhere in it."""
    payload = copy.deepcopy(draw(valid_payload(version, action)))
    for _ in range(draw(st.integers(0, 2))):
        target = draw(st.sampled_from(_containers(payload, [])))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        how = draw(
            st.sampled_from(
                ["drop", "extra", "wrong", "huge", "long", "date", "empty", "nest"]
                if keys
                else ["extra", "nest"]
            )
        )
        key = draw(st.sampled_from(keys)) if keys else None
        if how == "drop":
            del target[key]
        elif how == "extra":
            if isinstance(target, dict):
                target[draw(strings)] = draw(json_values)
            else:
                target.append(draw(json_values))
        elif how == "wrong":
            target[key] = draw(json_values)
        elif how == "huge":
            target[key] = draw(huge_ints | st.sampled_from([1e308, -1e308, 1.5, 1.0]))
        elif how == "long":
            target[key] = "x" * draw(st.integers(21, 3000))
        elif how == "date":
            target[key] = draw(
                st.sampled_from(
                    [
                        "2026-13-45T10:00:00Z",
                        "9999-12-31T23:59:59-23:59",
                        "0001-01-01T00:00:00+23:59",
                        "1969-12-31T23:59:59Z",
                        "2200-01-01T00:00:00Z",
                        "2026-11-22T25:00:00Z",
                        "yesterday",
                    ]
                )
            )
        elif how == "empty":
            target[key] = draw(st.sampled_from([[], {}, ""]))
        elif how == "nest":
            depth = draw(st.integers(10, 900))
            nested: Any = 0
            for _ in range(depth):
                nested = [nested] if depth % 2 else {"a": nested}
            if isinstance(target, dict):
                target["data" if "data" in target or not target else key] = nested
            else:
                target.append(nested)
    return payload


def _garble(text: str, data: st.DataObject) -> str:
    how = data.draw(st.sampled_from(["truncate", "delete", "insert", "replace", "surrogate"]))
    at = data.draw(st.integers(0, len(text)))
    if how == "truncate":
        return text[:at]
    if how == "delete":
        return text[:at] + text[at + data.draw(st.integers(1, 10)) :]
    if how == "surrogate":
        escape = data.draw(st.sampled_from(["\\ud800", "\\udfff", '"\\ud83d"']))
        return text[:at] + escape + text[at:]
    junk = data.draw(st.text(st.sampled_from('[]{}",:\\ 0123456789eE.-+ntrufalsNI'), max_size=5))
    if how == "insert":
        return text[:at] + junk + text[at:]
    return text[:at] + junk + text[at + len(junk) :]


@st.composite
def frames(draw: st.DrawFn, version: str) -> str | bytes:
    """Anything a broken (or hostile) charger might send."""
    kind = draw(
        st.sampled_from(
            ["json", "shaped", "call", "garbled", "text", "nesting", "digits", "binary", "big"]
        )
    )
    if kind == "json":
        return frame_text(draw(json_values))
    if kind == "shaped":  # frame-like arrays with wrong parts
        parts = [
            draw(st.sampled_from([2, 3, 4, 0, 5, -1, 2**70, "2", True, None, 2.0])),
            draw(message_ids),
            draw(st.sampled_from(sorted(ACTIONS[version])) | strings | json_values),
            draw(json_values),
            draw(json_values),
        ]
        return frame_text(parts[: draw(st.integers(0, 5))], draw(st.booleans()))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "nesting":
        opener = draw(st.sampled_from(["[", '{"a":', '[2,"n-1","Heartbeat",{"a":[']))
        depth = draw(st.integers(1, 30000 // len(opener)))  # under the frame limit
        return opener * depth + draw(st.sampled_from(["", "]" * depth, "0" + "]" * depth]))
    if kind == "digits":  # beyond Python's int parsing limit (4300 digits)
        n = draw(st.integers(4000, 6000))
        return f'[2,"d-1","StatusNotification",{{"connectorId":{"9" * n}}}]'
    if kind == "binary":
        return draw(st.binary(max_size=50))
    action = draw(st.sampled_from(sorted(HANDLED[version])))
    text = frame_text([2, draw(message_ids), action, draw(mutated_payload(version, action))])
    if kind == "big":  # over the frame limit
        return frame_text([2, "big", action, {"pad": "x" * MAX_FRAME}])
    if kind == "garbled":
        data = draw(st.data())
        return _garble(text, data)
    return text
