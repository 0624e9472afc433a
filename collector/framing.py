"""OCPP-J RPC framing: parse incoming frames, build CallResult / CallError frames.

A frame is a JSON array: [2, id, action, payload] (Call), [3, id, payload] (CallResult),
[4, id, code, description, details] (CallError). Problems are raised as FrameError with a
version-neutral `kind`; the protocol adapter turns the kind into its version's error code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4
MAX_MESSAGE_ID = 36  # OCPP-J: the unique id is at most 36 characters
MAX_DESCRIPTION = 255

# FrameError kinds (also the `reason` label of chargewatch_ocpp_bad_frames_total)
INVALID_JSON = "invalid_json"
NOT_ARRAY = "not_array"
BAD_STRUCTURE = "bad_structure"
UNKNOWN_MESSAGE_TYPE = "unknown_message_type"

_ID_PREFIX = re.compile(r'^\s*\[\s*(\d+)\s*,\s*"((?:[^"\\]|\\.){1,64})"')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(slots=True, frozen=True)
class Call:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(slots=True, frozen=True)
class CallResult:
    message_id: str
    payload: Any


@dataclass(slots=True, frozen=True)
class CallError:
    message_id: str
    code: str
    description: str
    details: Any


class FrameError(Exception):
    """A frame that is not a well-formed OCPP-J message.

    `message_id` is set when one could be recovered (then the sender gets a CallError)
    and `answerable` tells whether the broken frame was a Call (only Calls are answered).
    """

    def __init__(
        self, kind: str, description: str, message_id: str | None = None, answerable: bool = True
    ) -> None:
        super().__init__(description)
        self.kind, self.description = kind, description
        self.message_id, self.answerable = message_id, answerable


def _recover_id(text: str) -> tuple[int | None, str | None]:
    """Best effort: the type and message id at the start of a frame that is not valid JSON."""
    match = _ID_PREFIX.match(text)
    if not match:
        return None, None
    try:  # the id as the charger meant it ("a\\"b" is a"b), not its escaped source text
        message_id = json.loads(f'"{match.group(2)}"')
    except ValueError:
        return None, None
    return int(match.group(1)), message_id if _encodable(message_id) else None


def _encodable(text: str) -> bool:
    """False for a string with a lone surrogate: no answer, log or store could hold it."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _frame_id(frame: Any) -> tuple[Any, str | None]:
    """The type and the id answered with, of a parsed frame: a string as sent, an integer
    as its digits (a charger that numbers its calls may match them); an empty string, null,
    true or an object is no id."""
    if not isinstance(frame, list) or not frame:
        return None, None
    raw_id = frame[1] if len(frame) > 1 else None
    mid = raw_id if isinstance(raw_id, str) and raw_id else None
    if type(raw_id) is int:
        mid = str(raw_id)
    return frame[0], mid


def _has_lone_surrogate(frame: Any) -> bool:
    """Only called when the text has a surrogate escape: a proper pair (an emoji) is fine."""
    try:
        json.dumps(frame, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def parse(text: str) -> Call | CallResult | CallError:
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        mtype, mid = _recover_id(text)
        raise FrameError(
            INVALID_JSON, f"frame is not valid JSON: {exc}", mid, answerable=mtype == CALL
        ) from None
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(frame):
        # JSON allows "\ud800" alone, Unicode does not: no string could hold it (not our
        # store, not the next consumer), so it is refused like malformed JSON
        mtype, mid = _frame_id(frame)
        raise FrameError(
            INVALID_JSON,
            "frame is not valid Unicode: a \\uD800-\\uDFFF escape without its pair",
            mid if mid is not None and _encodable(mid) else None,
            answerable=not (type(mtype) is int and mtype in (CALL_RESULT, CALL_ERROR)),
        )
    if not isinstance(frame, list):
        raise FrameError(NOT_ARRAY, f"frame must be a JSON array, got {type(frame).__name__}")
    if not frame:
        raise FrameError(BAD_STRUCTURE, "frame is an empty array")
    mtype, mid = _frame_id(frame)
    raw_id = frame[1] if len(frame) > 1 else None
    if type(mtype) is not int:
        raise FrameError(BAD_STRUCTURE, "MessageTypeId must be an integer", mid)
    if mtype not in (CALL, CALL_RESULT, CALL_ERROR):
        raise FrameError(UNKNOWN_MESSAGE_TYPE, f"MessageTypeId {mtype} is not 2, 3 or 4", mid)
    answerable = mtype == CALL
    if not isinstance(raw_id, str) or not raw_id:
        raise FrameError(BAD_STRUCTURE, "UniqueId must be a non-empty string", mid, answerable)
    if len(raw_id) > MAX_MESSAGE_ID:
        raise FrameError(
            BAD_STRUCTURE,
            f"UniqueId is {len(raw_id)} characters, at most {MAX_MESSAGE_ID} allowed",
            raw_id,
            answerable,
        )
    if mtype == CALL:
        if len(frame) != 4:
            raise FrameError(
                BAD_STRUCTURE,
                f"a Call has 4 elements [2, id, action, payload], got {len(frame)}",
                raw_id,
            )
        action, payload = frame[2], frame[3]
        if not isinstance(action, str) or not action:
            raise FrameError(BAD_STRUCTURE, "Action must be a non-empty string", raw_id)
        if not isinstance(payload, dict):
            raise FrameError(
                BAD_STRUCTURE,
                f"payload must be a JSON object, got {type(payload).__name__}",
                raw_id,
            )
        return Call(raw_id, action, payload)
    if mtype == CALL_RESULT:
        if len(frame) != 3:
            raise FrameError(BAD_STRUCTURE, "a CallResult has 3 elements", raw_id, False)
        return CallResult(raw_id, frame[2])
    if len(frame) != 5:
        raise FrameError(BAD_STRUCTURE, "a CallError has 5 elements", raw_id, False)
    return CallError(raw_id, str(frame[2]), str(frame[3]), frame[4])


def call_result(message_id: str, payload: dict[str, Any]) -> str:
    return json.dumps([CALL_RESULT, message_id, payload], separators=(",", ":"))


def call_error(
    message_id: str, code: str, description: str, details: dict[str, Any] | None = None
) -> str:
    return json.dumps(
        [CALL_ERROR, message_id, code, description[:MAX_DESCRIPTION], details or {}],
        separators=(",", ":"),
    )
