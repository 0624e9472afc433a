"""The calls we sent a charger and still wait for: keyed by our message id, per connection.

The charger answers with [3, id, payload] or [4, id, code, description, details]; the reader
task hands those frames here, and the task that made the call gets the answer. A connection
that drops fails every call still waiting, so no caller waits for a timeout that cannot help.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from collector import framing


class CallFailed(Exception):
    """A call of ours that got no answer."""


class NotConnected(CallFailed):
    """The charger has no open connection."""


class CallTimeout(CallFailed):
    """The charger did not answer within the timeout."""


class ConnectionLost(CallFailed):
    """The connection closed before the charger answered."""


@dataclass(slots=True, frozen=True)
class Answer:
    """The charger's answer: a CallResult payload or a CallError, and how long it took."""

    message_id: str
    payload: Any  # the CallResult payload (None for a CallError)
    error: framing.CallError | None
    elapsed_ms: float


class PendingCalls:
    """Futures of one connection's outstanding calls."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[framing.CallResult | framing.CallError]] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def open(self) -> tuple[str, asyncio.Future[framing.CallResult | framing.CallError]]:
        """A fresh message id (a UUID: 36 characters, the OCPP-J maximum) and its future."""
        mid = str(uuid.uuid4())
        future = asyncio.get_running_loop().create_future()
        self._waiting[mid] = future
        return mid, future

    def resolve(self, frame: framing.CallResult | framing.CallError) -> bool:
        """Hand an answer to its caller; False when it answers nothing we wait for."""
        future = self._waiting.pop(frame.message_id, None)
        if future is None:
            return False
        if not future.done():
            future.set_result(frame)
        return True

    def discard(self, mid: str) -> None:
        self._waiting.pop(mid, None)

    def fail_all(self, reason: str) -> None:
        """The connection is gone: every waiting caller learns it now."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(ConnectionLost(reason))


async def wait_answer(
    pending: PendingCalls,
    mid: str,
    future: asyncio.Future[framing.CallResult | framing.CallError],
    started: float,
    timeout_s: float,
) -> Answer:
    """The answer to call `mid`, or CallTimeout / ConnectionLost."""
    try:
        frame = await asyncio.wait_for(future, timeout_s)
    except TimeoutError:
        raise CallTimeout(f"no answer within {timeout_s:g} s") from None
    finally:
        pending.discard(mid)
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    if isinstance(frame, framing.CallError):
        return Answer(mid, None, frame, elapsed)
    return Answer(mid, frame.payload, None, elapsed)
