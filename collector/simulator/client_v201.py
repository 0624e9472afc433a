"""The charger side of an OCPP 2.0.1 WebSocket: the CSMS-initiated calls a 2.0.1 station answers.

They mirror what the 1.6 `SimChargePoint` answers, in 2.0.1 terms: GetVariables reads the
same few settings honestly (GetConfiguration), SetVariables is rejected (ChangeConfiguration:
the scenario is planned up front), RequestStart/StopTransaction are rejected (RemoteStart/
StopTransaction) and Reset is accepted, after which the station boots again.
"""

from __future__ import annotations

from typing import Any, Protocol

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import (
    Action,
    GetVariableStatusEnumType,
    RequestStartStopStatusEnumType,
    ResetStatusEnumType,
    SetVariableStatusEnumType,
)
from websockets.asyncio.client import ClientConnection

from collector.simulator.client import RESPONSE_TIMEOUT, WIRE_LOG


class StationHooks(Protocol):
    """What the connection needs from its station to answer CSMS calls."""

    id: str

    def variables(self) -> dict[tuple[str, str], str]: ...

    def request_reset(self) -> None: ...


class SimChargePointV201(ChargePoint):
    """`ocpp.v201.ChargePoint` for the station side."""

    def __init__(self, station: StationHooks, connection: ClientConnection) -> None:
        super().__init__(station.id, connection, response_timeout=RESPONSE_TIMEOUT, logger=WIRE_LOG)
        self._station = station

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any):
        known = self._station.variables()
        components = {component for component, _ in known}
        results = []
        for item in get_variable_data:
            component, variable = item["component"], item["variable"]
            key = (component["name"], variable["name"])
            result: dict[str, Any] = {"component": component, "variable": variable}
            attribute = item.get("attribute_type", "Actual")
            if key in known and attribute == "Actual":
                result["attribute_status"] = GetVariableStatusEnumType.accepted
                result["attribute_value"] = known[key]
            elif key in known:
                result["attribute_status"] = GetVariableStatusEnumType.not_supported_attribute_type
            elif component["name"] in components:
                result["attribute_status"] = GetVariableStatusEnumType.unknown_variable
            else:
                result["attribute_status"] = GetVariableStatusEnumType.unknown_component
            if "attribute_type" in item:
                result["attribute_type"] = attribute
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any):
        # The scenario is planned up front; changing it remotely would break determinism.
        results = [
            {
                "attribute_status": SetVariableStatusEnumType.rejected,
                "component": item["component"],
                "variable": item["variable"],
            }
            for item in set_variable_data
        ]
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.request_start_transaction)
    def on_request_start(self, **_: Any):
        return call_result.RequestStartTransaction(status=RequestStartStopStatusEnumType.rejected)

    @on(Action.request_stop_transaction)
    def on_request_stop(self, **_: Any):
        return call_result.RequestStopTransaction(status=RequestStartStopStatusEnumType.rejected)

    @on(Action.reset)
    def on_reset(self, **_: Any):
        return call_result.Reset(status=ResetStatusEnumType.accepted)

    @after(Action.reset)
    def after_reset(self, **_: Any) -> None:
        self._station.request_reset()  # runs after the response went out
