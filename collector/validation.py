"""Schema validation of incoming calls with compiled validators.

The schemas are the ones shipped with the `ocpp` package; they are compiled once per
action with fastjsonschema into plain Python functions, which is what makes validation
cheap enough to run on every frame (the ocpp library's own jsonschema-based validation
costs far more per MeterValues; see docs/benchmarks.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema

# Version-neutral problem kinds; each protocol adapter maps them to its CallError codes.
TYPE = "type"  # a field has the wrong JSON type
MISSING = "missing"  # a required field is absent
UNKNOWN_FIELD = "unknown_field"  # a field the schema does not define
VALUE = "value"  # a value outside its enum, format or range
OCCURRENCE = "occurrence"  # too few / too many items
LENGTH = "length"  # a string longer than its CiString type allows

_RULE_KIND = {
    "type": TYPE,
    "required": MISSING,
    "additionalProperties": UNKNOWN_FIELD,
    "minItems": OCCURRENCE,
    "maxItems": OCCURRENCE,
    "maxLength": LENGTH,
    "minLength": LENGTH,
}


# SQLite's INTEGER (and so the store) holds 64-bit integers; JSON's are unbounded. Every
# integer field is bounded to that range, so a huge one is refused here as out of range
# instead of failing the group commit it would share with other chargers' messages.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _bound_integers(schema: Any) -> None:
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            schema["minimum"] = max(schema.get("minimum", INT64_MIN), INT64_MIN)
            schema["maximum"] = min(schema.get("maximum", INT64_MAX), INT64_MAX)
        for value in schema.values():
            _bound_integers(value)
    elif isinstance(schema, list):
        for value in schema:
            _bound_integers(value)


class PayloadError(Exception):
    """A payload that breaks its schema (or a semantic rule an adapter checks)."""

    def __init__(self, kind: str, description: str, field: str | None = None) -> None:
        super().__init__(description)
        self.kind, self.description, self.field = kind, description, field


def _field_path(name: str | None) -> str:
    if not name:
        return ""
    return name[5:] if name.startswith("data.") else ("" if name == "data" else name)


class SchemaSet:
    """Compiled request validators for one OCPP version, built on first use per action."""

    def __init__(self, package: str, request_suffix: str = "") -> None:
        self._dir = resources.files(package) / "schemas"
        self._suffix = request_suffix
        self._compiled: dict[str, Callable[[Any], Any]] = {}
        self.actions = frozenset(
            p.name[: -len(".json")].removesuffix(request_suffix)
            if request_suffix
            else p.name[: -len(".json")]
            for p in self._dir.iterdir()
            if p.name.endswith(".json") and not p.name.endswith("Response.json")
        )

    def validator(self, action: str) -> Callable[[Any], Any]:
        fn = self._compiled.get(action)
        if fn is None:
            text = (self._dir / f"{action}{self._suffix}.json").read_text(encoding="utf-8-sig")
            schema = json.loads(text)
            schema.pop("$schema", None)  # draft-04 either way; fastjsonschema defaults to it
            _bound_integers(schema)
            # no defaults written into the payload: adapters apply them knowingly (2.0.1's
            # unitOfMeasure.unit "Wh" would otherwise be put on power samples)
            fn = self._compiled[action] = fastjsonschema.compile(schema, use_default=False)
        return fn

    def validate(self, action: str, payload: dict[str, Any]) -> None:
        try:
            self.validator(action)(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            path = _field_path(exc.name)
            kind = _RULE_KIND.get(exc.rule or "", VALUE)
            message = exc.message
            if message.startswith("data."):
                message = message[5:]
            elif message.startswith("data "):
                message = "payload " + message[5:]
            if kind == UNKNOWN_FIELD and isinstance(exc.value, dict):
                known = (exc.definition or {}).get("properties", {})
                extra = sorted(k for k in exc.value if k not in known)
                where = f"{path}: " if path else ""
                message = f"{where}field(s) not in the schema: {', '.join(extra)}"
            if kind == UNKNOWN_FIELD and isinstance(exc.value, dict):
                known = (exc.definition or {}).get("properties", {})
                extra = sorted(k for k in exc.value if k not in known)
                where = f"{path}: " if path else ""
                message = f"{where}field(s) not in the schema: {', '.join(extra)}"
            if kind == MISSING and isinstance(exc.rule_definition, list):
                missing = [
                    k
                    for k in exc.rule_definition
                    if isinstance(exc.value, dict) and k not in exc.value
                ]
                where = f"{path}." if path else ""
                path = f"{where}{missing[0] if missing else '?'}"
                message = f"required field {path} is missing"
            raise PayloadError(kind, message, path or None) from None
