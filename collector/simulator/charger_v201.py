"""The executor for an OCPP 2.0.1 station: the same plan as a 1.6 charger, translated.

Only what differs from `SimulatedCharger` is here: the steps come through the
`V201Translator`, the link offers `ocpp2.0.1`, payloads are `ocpp.v201` calls, transaction
ids are the station's own (no answer to wait for), and a Reset boots with reason RemoteReset.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

from collector.simulator.charger import EventHook, SimulatedCharger
from collector.simulator.client import Link
from collector.simulator.client_v201 import SimChargePointV201
from collector.simulator.messages_v201 import (
    SUBPROTOCOL,
    V201Translator,
    build_call_v201,
)
from collector.simulator.options import FleetOptions, FleetStats
from collector.simulator.steps import CALL, Step


def _token_status(result: Any) -> str | None:
    info = getattr(result, "id_token_info", None)
    if isinstance(info, Mapping):
        return info.get("status")
    return getattr(info, "status", None)


class SimulatedChargerV201(SimulatedCharger):
    """One OCPP 2.0.1 charging station performing its charger's plan."""

    protocol = "2.0.1"

    def __init__(
        self,
        opts: FleetOptions,
        index: int,
        seed: int,
        stats: FleetStats,
        on_event: EventHook | None = None,
        nonce: str | None = None,
    ) -> None:
        super().__init__(opts, index, seed, stats, on_event)
        # transaction ids must differ between runs (a CSMS remembers them); content does not
        self.translator = V201Translator(nonce or f"{random.SystemRandom().getrandbits(64):x}")

    def variables(self) -> dict[tuple[str, str], str]:
        """The device-model variables behind 1.6's GetConfiguration keys."""
        return {
            ("OCPPCommCtrlr", "HeartbeatInterval"): str(int(self.plan.heartbeat_interval or 0)),
            ("SampledDataCtrlr", "TxUpdatedInterval"): str(round(self.interval)),
        }

    def _steps(self) -> Iterator[Step]:
        return self.translator.steps(self.plan.steps())

    async def _open_link(self) -> Link:
        return await Link.open(self.url, self, SUBPROTOCOL, SimChargePointV201, **self.security)

    def _payload(self, step: Step, timestamp: str) -> Any:
        return build_call_v201(step, timestamp)

    def _boot_steps(self, reason: str) -> list[Step]:
        boot = Step(0.0, CALL, "BootNotification", 0, self.plan.boot_data)
        return self.translator.boot(boot, reason)

    def _starts_session(self, step: Step) -> bool:
        if step.action == "TransactionEvent":
            return step.data["event_type"] == "Started"
        return step.action == "Authorize"

    def _on_result(self, step: Step, result: Any) -> None:
        action = step.action
        if action == "BootNotification":
            self.booted = True
            if result.interval > 0:
                self.plan.heartbeat_interval = float(result.interval)
            self._event("boot", status=result.status, interval=result.interval)
        elif action == "Authorize" and step.session is not None:
            if _token_status(result) != "Accepted":
                self._abort(step)
        elif action == "TransactionEvent" and step.session is not None:
            kind = step.data["event_type"]
            transaction_id = step.data["transaction_info"]["transaction_id"]
            if kind == "Started":
                self.stats.sessions_started += 1
                self._event(
                    "session_started",
                    connector=step.connector,
                    transaction_id=transaction_id,
                    id_tag=step.data["id_token"]["id_token"],
                )
            elif kind == "Ended":
                self.stats.sessions_completed += 1
                self._event(
                    "session_completed",
                    connector=step.connector,
                    transaction_id=transaction_id,
                    meter_stop=step.data["meter_value"][0]["sampled_value"][0]["value"],
                    reason=step.data["transaction_info"].get("stopped_reason"),
                )
