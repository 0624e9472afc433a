"""Run one remote command: translate it for the charger's version, send it over the live
connection, check the answer, and journal what happened (a `command` event).

Everything that went out is journaled, however it ended (answer, CallError, an answer that
breaks the schema, timeout, disconnect), so the history says what the charger was asked.
What never went out (unknown charger, not connected, a command the version lacks) is not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chargewatch import events as ev
from chargewatch.journal import Journal, JournalError
from collector.commands import Command
from collector.pending import CallTimeout, ConnectionLost, NotConnected
from collector.server import OcppServer

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0  # OCPP leaves it to the CSMS; the 1.6 simulators use 30 s too

# outcomes
ANSWERED = "answered"
CALL_ERROR = "call_error"
INVALID_ANSWER = "invalid_answer"
TIMEOUT = "timeout"
DISCONNECTED = "disconnected"


class UnknownCharger(Exception):
    """No charger of that id ever connected."""


@dataclass(slots=True, frozen=True)
class Outcome:
    charger: str
    protocol: str
    command: str
    action: str
    outcome: str
    status: str | None
    result: Any  # the charger's payload, as it sent it
    error: str | None  # what went wrong, in a sentence
    elapsed_ms: float | None
    request: dict[str, Any] = field(default_factory=dict)  # the OCPP payload sent


class Commander:
    """Remote commands to connected chargers, through the OCPP server."""

    def __init__(self, server: OcppServer, journal: Journal) -> None:
        self.server, self.journal = server, journal
        # per command: completes its parameters before they are translated (send-local-list
        # without entries gets the idTag registry's, collector/local_list.py)
        self.prepare: dict[str, Callable[[Command], Command]] = {}

    async def run(
        self, charger_id: str, name: str, params: Command, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> Outcome:
        """Raises UnknownCharger, NotConnected, Unsupported or BadParams before sending."""
        known = self.journal.state.chargers.get(charger_id)
        if known is None and charger_id not in self.server.connections:
            raise UnknownCharger(f"no charger {charger_id!r} has connected")
        adapter = self.server.adapter_of(charger_id)  # NotConnected
        prepare = self.prepare.get(name)
        if prepare is not None:
            params = prepare(params)
        action, payload = adapter.commands.request(name, params)  # Unsupported, BadParams
        protocol = adapter.subprotocol
        result: Any = None
        status: str | None = None
        error: str | None = None
        elapsed: float | None = None
        message_id = ""
        try:
            answer = await self.server.call(charger_id, action, payload, timeout_s)
        except CallTimeout as exc:
            outcome, error = TIMEOUT, f"{charger_id} did not answer {action}: {exc}"
        except ConnectionLost as exc:
            outcome, error = DISCONNECTED, str(exc)
        except NotConnected:
            raise
        else:
            message_id, elapsed = answer.message_id, answer.elapsed_ms
            if answer.error is not None:
                outcome = CALL_ERROR
                error = f"{charger_id} answered {action} with CallError {answer.error.code}" + (
                    f": {answer.error.description}" if answer.error.description else ""
                )
            else:
                result = answer.payload
                broken = adapter.commands.check_answer(action, result)
                if broken is not None:
                    outcome = INVALID_ANSWER
                    error = (
                        f"{charger_id}'s answer to {action} breaks the "
                        f"{adapter.commands.version} {action}Response schema: {broken}"
                    )
                else:
                    outcome = ANSWERED
                if isinstance(result, dict) and isinstance(result.get("status"), str):
                    status = result["status"]
        log.info("%s: %s (%s) by %r: %s", charger_id, name, action, params.by, error or status)
        await self._journal(
            ev.CommandSent(
                charger_id,
                time.time(),
                command=name,
                action=action,
                message_id=message_id,
                request=payload,
                outcome=outcome,
                status=status,
                result=result if isinstance(result, dict) else None,
                error=error,
                elapsed_ms=elapsed,
                by=params.by,
            )
        )
        return Outcome(
            charger_id, protocol, name, action, outcome, status, result, error, elapsed, payload
        )

    async def _journal(self, event: ev.CommandSent) -> None:
        try:
            await self.journal.commit([event])
        except JournalError:
            # the call went out and was answered: the operator still gets the answer
            log.error("%s: could not journal the %s command", event.charger_id, event.action)
