"""What each OCPP version's spec allows as the answer to a frame: the fuzzing oracle,
written from the spec and the `ocpp` package's schemas (not from collector/framing.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jsonschema

V16, V201 = "ocpp1.6", "ocpp2.0.1"
MAX_FRAME = 65536  # ocpp.max_frame_bytes (default)


# ---- the oracle: what each version's spec allows ------------------------------------------
# OCPP-J 1.6 section 4.2.3 and OCPP-J 2.0.1 section 4.3: the whole code lists.
SPEC_CODES = {
    V16: {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    },
    V201: {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    },
}
# a frame that is not a well-formed Call (docs/ocpp.md, "Bad input")
FRAMING_CODES = {
    V16: {"FormationViolation"},
    V201: {"RpcFrameworkError", "FormatViolation", "MessageTypeNotSupported"},
}
# a well-formed Call whose payload breaks the action's schema
PAYLOAD_CODES = {
    V16: {
        "FormationViolation",
        "ProtocolError",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
    },
    V201: {
        "FormatViolation",
        "ProtocolError",
        "PropertyConstraintViolation",
        "OccurrenceConstraintViolation",
        "TypeConstraintViolation",
    },
}
# the charger-initiated actions docs/ocpp.md says are answered
HANDLED = {
    V16: {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "Authorize",
        "StartTransaction",
        "StopTransaction",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "SecurityEventNotification",
        "SignedFirmwareStatusNotification",
        "LogStatusNotification",
    },
    V201: {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "TransactionEvent",
        "MeterValues",
        "Authorize",
        "NotifyEvent",
        "SecurityEventNotification",
        "FirmwareStatusNotification",
        "LogStatusNotification",
        "NotifyReport",
        "DataTransfer",
    },
}
_PACKAGE = {V16: ("ocpp.v16", ""), V201: ("ocpp.v201", "Request")}


def _load_schemas(version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    package, suffix = _PACKAGE[version]
    requests, responses = {}, {}
    for path in (resources.files(package) / "schemas").iterdir():
        if not path.name.endswith(".json"):
            continue
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
        schema.pop("$schema", None)
        name = path.name[: -len(".json")]
        if name.endswith("Response"):
            responses[name.removesuffix("Response")] = schema
        else:
            requests[name.removesuffix(suffix) if suffix else name] = schema
    return requests, responses


SCHEMAS = {v: _load_schemas(v) for v in (V16, V201)}
ACTIONS = {v: frozenset(SCHEMAS[v][0]) for v in SCHEMAS}

# Draft 4 as written, with the readings the server (fastjsonschema, docs/ocpp.md) takes:
# 1.0 is an integer (later drafts spell it out) but 2**63 is not (the store's integers are
# 64-bit), and a date-time is RFC 3339 with an offset, a real calendar time, 1970 to 2199.
INT64 = (-(2**63), 2**63 - 1)
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _int64(checker: Any, value: Any) -> bool:
    is_integer = jsonschema.Draft6Validator.TYPE_CHECKER.is_type(value, "integer")
    return is_integer and INT64[0] <= value <= INT64[1]


_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("date-time")
def _date_time(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.fullmatch(value):
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return datetime(1970, 1, 1, tzinfo=UTC) <= parsed < datetime(2200, 1, 1, tzinfo=UTC)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    type_checker=jsonschema.Draft4Validator.TYPE_CHECKER.redefine("integer", _int64),
)


def _valid(schema: dict[str, Any], instance: Any) -> bool:
    return _Validator(schema, format_checker=_formats).is_valid(instance)


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def frame_text(frame: Any, ascii_only: bool = False) -> str:
    """JSON text of a frame; \\u escapes where it holds lone surrogates (unsendable as is)."""
    if not ascii_only:
        text = json.dumps(frame, ensure_ascii=False)
        try:
            text.encode()
            return text
        except UnicodeEncodeError:
            pass
    return json.dumps(frame)


_CLEAN_PREFIX = re.compile(r'\s*\[\s*2\s*,\s*"([A-Za-z0-9_\-.:]{1,36})"')


def expectation(version: str, text: str) -> tuple[str | None, set[str] | None]:
    """(the id an answer must carry or None for no answer, the CallError codes allowed;
    None: a CallResult is allowed too). For text that is not JSON only the clean case is
    decided (a complete `[2,"id"` prefix: must be answered); see `check_answer`."""
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        match = _CLEAN_PREFIX.match(text)
        return ("?" + match.group(1) if match else "?", FRAMING_CODES[version])
    if not isinstance(frame, list) or len(frame) < 2:
        return None, None
    mtype, raw_id = frame[0], frame[1]
    if type(raw_id) is int:
        mid = str(raw_id)  # best effort for chargers numbering their calls (docs/ocpp.md)
    elif isinstance(raw_id, str) and raw_id:
        mid = raw_id
    else:
        return None, None  # nothing to answer to
    if _has_lone_surrogate(mid):
        return None, None  # an id no answer could carry
    if type(mtype) is int and mtype in (3, 4):
        return None, None  # responses are never answered
    if _has_lone_surrogate(frame):
        return mid, FRAMING_CODES[version]
    call = (
        type(mtype) is int
        and mtype == 2
        and len(frame) == 4
        and isinstance(raw_id, str)
        and len(raw_id) <= 36
        and isinstance(frame[2], str)
        and frame[2] != ""
        and isinstance(frame[3], dict)
    )
    if not call:
        codes = set(FRAMING_CODES[version])
        if version == V16:
            return mid, codes
        if type(mtype) is int and mtype not in (2, 3, 4):
            return mid, {"MessageTypeNotSupported"}
        return mid, codes - {"MessageTypeNotSupported"}
    action, payload = frame[2], frame[3]
    if action not in ACTIONS[version]:
        return mid, {"NotImplemented"}
    if action not in HANDLED[version]:
        return mid, {"NotSupported"}
    requests, _ = SCHEMAS[version]
    if _valid(requests[action], payload):
        return mid, None  # a CallResult, or a semantic refusal
    return mid, PAYLOAD_CODES[version]


def check_answer(version: str, text: str, answer: Any) -> None:
    want_id, codes = expectation(version, text)
    if want_id is None:
        assert answer is None, f"no answer expected to {text[:300]!r}, got {answer!r}"
        return
    if want_id.startswith("?"):  # not JSON: answered only when its id is recoverable
        if want_id != "?":
            assert answer is not None, f"the id of {text[:300]!r} is recoverable"
            assert answer[1] == want_id[1:], answer
        if answer is None:
            return
        assert isinstance(answer, list) and len(answer) == 5 and answer[0] == 4, answer
        assert isinstance(answer[1], str) and answer[1], answer
        assert answer[2] in codes, answer
        return
    assert answer is not None, f"{text[:300]!r} has the recoverable id {want_id!r}"
    assert isinstance(answer, list) and answer[1] == want_id, answer
    if answer[0] == 3:
        assert codes is None, f"CallResult for {text[:300]!r}: {answer!r}"
        assert len(answer) == 3, answer
        action = json.loads(text)[2]
        response = SCHEMAS[version][1][action]
        _Validator(response, format_checker=_formats).validate(answer[2])  # a conformant answer
        return
    assert answer[0] == 4 and len(answer) == 5, answer
    code, description, details = answer[2], answer[3], answer[4]
    assert code in SPEC_CODES[version], answer
    assert code != "InternalError", f"a bug of ours: {text[:300]!r} -> {answer!r}"
    allowed = codes if codes is not None else {"PropertyConstraintViolation"}
    assert code in allowed, f"{text[:300]!r} -> {answer!r}, expected one of {allowed}"
    assert isinstance(description, str) and 0 < len(description) <= 255, answer
    assert isinstance(details, dict), answer
