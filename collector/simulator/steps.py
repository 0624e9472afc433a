"""The unit of a simulation plan, and how a planned call becomes an `ocpp` payload.

Steps carry everything except what only the wire knows: timestamps (real UTC at send
time) and transaction ids (assigned by the central system). That split is what lets a
seeded plan be compared between runs and unit-tested without a socket.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.v16 import call

# Step operations
CALL: Final = "call"  # send an OCPP call (action + data)
CONNECT: Final = "connect"  # (re)open the WebSocket
DISCONNECT: Final = "disconnect"  # drop the WebSocket abruptly (no close frame)
NOTE: Final = "note"  # not on the wire: tells the executor/observer what was injected
# Internal requests from a connector to its charger; never leave the planner.
REQUEST_DROP: Final = "request_drop"
REQUEST_BOOT_LOOP: Final = "request_boot_loop"

# Fault kinds a session cycle can inject.
FAULTED: Final = "faulted"
DROP: Final = "drop"
BOOT_LOOP: Final = "boot_loop"
ZERO_POWER: Final = "zero_power"
OVERHEAT: Final = "overheat"
ENERGY_BACKWARDS: Final = "energy_backwards"
FAULT_KINDS: Final = (FAULTED, DROP, BOOT_LOOP, ZERO_POWER, OVERHEAT, ENERGY_BACKWARDS)
# Relative frequency: plain faults and power problems are common, boot loops rare.
FAULT_WEIGHTS: Final = (3.0, 1.5, 0.75, 1.5, 1.0, 1.0)

# OCPP 1.6 "transaction-related messages" must reach the central system, so a charger queues
# them while offline; other calls are dropped and the current status is resent on reconnect.
QUEUED_WHILE_OFFLINE: Final = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})
_TOP_LEVEL_TIMESTAMP: Final = frozenset(
    {"StatusNotification", "StartTransaction", "StopTransaction"}
)

SessionRef = tuple[int, int]  # (connector id, session number on that connector)


@dataclass(frozen=True, slots=True)
class Step:
    """One thing a charger does at simulated time `at` (in meter intervals since it started).

    `data` is the call's snake_case keyword arguments without timestamps or transactionId
    (or a note's details); treat it as read-only.
    """

    at: float
    op: str
    action: str = ""  # OCPP action for CALL, event kind for NOTE
    connector: int = 0
    data: Mapping[str, Any] = field(default_factory=dict)
    session: SessionRef | None = None  # the transaction this step belongs to
    send: float | None = None  # when it is actually sent, if later than `at` (queued offline)

    @property
    def due(self) -> float:
        """Simulated time the executor should perform this step."""
        return self.at if self.send is None else self.send


def iso_timestamp(epoch: float) -> str:
    """ISO 8601 UTC with millisecond precision and a 'Z', as OCPP-J chargers send it."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def build_call(step: Step, timestamp: str, transaction_id: int | None = None) -> Any:
    """Turn a CALL step into an `ocpp.v16.call.<Action>` with timestamps and transactionId."""
    kwargs = copy.deepcopy(dict(step.data))
    if step.action in _TOP_LEVEL_TIMESTAMP:
        kwargs["timestamp"] = timestamp
    for key in ("meter_value", "transaction_data"):
        for meter_value in kwargs.get(key) or ():
            meter_value["timestamp"] = timestamp
    if step.session is not None and step.action in ("MeterValues", "StopTransaction"):
        kwargs["transaction_id"] = transaction_id
    return getattr(call, step.action)(**kwargs)


def wire_payload(payload: Any) -> dict[str, Any]:
    """The JSON object `ChargePoint.call` would put on the wire for this payload."""
    return remove_nones(snake_to_camel_case(serialize_as_dict(payload)))  # type: ignore[return-value]
