"""OCPP 2.0.1 requests for the version-neutral remote commands (collector/commands.py).

Our `connector_id` is the evseId for a 2.0.1 station (0: the station itself).
"""

from __future__ import annotations

import secrets
from typing import Any

from collector import commands as c

# neutral trigger names -> the 2.0.1 MessageTrigger (the 2.0.1 names themselves are accepted)
TRIGGERS = {
    "boot": "BootNotification",
    "heartbeat": "Heartbeat",
    "status": "StatusNotification",
    "meter-values": "MeterValues",
    "diagnostics-status": "LogStatusNotification",
    "firmware-status": "FirmwareStatusNotification",
    "transaction-event": "TransactionEvent",
}
OTHER_VERSION_TRIGGERS = {"DiagnosticsStatusNotification": "LogStatusNotification"}
RESET_TYPES = {"soft": "OnIdle", "hard": "Immediate"}  # 2.0.1 has no soft/hard reboot


def _evse(evse_id: int | None) -> dict[str, Any] | None:
    return None if not evse_id else {"id": evse_id}


def _reset(p: c.Reset) -> tuple[str, dict[str, Any]]:
    return "Reset", {"type": RESET_TYPES[p.type]}


def _unlock(p: c.UnlockConnector) -> tuple[str, dict[str, Any]]:
    return "UnlockConnector", {"evseId": p.connector_id, "connectorId": p.connector}


def _availability(p: c.ChangeAvailability) -> tuple[str, dict[str, Any]]:
    return "ChangeAvailability", c.drop_none(
        {"operationalStatus": p.availability.title(), "evse": _evse(p.connector_id)}
    )


def _trigger(p: c.TriggerMessage) -> tuple[str, dict[str, Any]]:
    message = TRIGGERS.get(p.message, p.message)
    if message not in TRIGGERS.values():
        other = OTHER_VERSION_TRIGGERS.get(p.message)
        known = ", ".join([*TRIGGERS, *TRIGGERS.values()])
        use = f"use {other}" if other else f"one of {known}"
        raise c.Unsupported(f"OCPP 2.0.1 cannot trigger {p.message}: {use}")
    return "TriggerMessage", c.drop_none(
        {"requestedMessage": message, "evse": _evse(p.connector_id)}
    )


def _variable_ref(v: c.Variable) -> dict[str, Any]:
    component = c.drop_none(
        {"name": v.component, "instance": v.component_instance, "evse": _evse(v.evse_id)}
    )
    variable = c.drop_none({"name": v.variable, "instance": v.variable_instance})
    return {"component": component, "variable": variable, "attributeType": v.attribute}


def _get_variables(p: c.GetVariables) -> tuple[str, dict[str, Any]]:
    return "GetVariables", {"getVariableData": [_variable_ref(v) for v in p.variables]}


def _set_variables(p: c.SetVariables) -> tuple[str, dict[str, Any]]:
    data = [{**_variable_ref(v), "attributeValue": v.value} for v in p.variables]
    return "SetVariables", {"setVariableData": data}


def _remote_start(p: c.RemoteStart) -> tuple[str, dict[str, Any]]:
    remote_start_id = p.remote_start_id
    if remote_start_id is None:
        remote_start_id = secrets.randbelow(2**31)  # the station echoes it in TransactionEvent
    return "RequestStartTransaction", c.drop_none(
        {
            "idToken": {"idToken": p.id_tag, "type": p.id_token_type},
            "remoteStartId": remote_start_id,
            "evseId": p.connector_id,
        }
    )


def _remote_stop(p: c.RemoteStop) -> tuple[str, dict[str, Any]]:
    return "RequestStopTransaction", {"transactionId": p.transaction_id}


TRANSLATOR = c.Translator(
    "OCPP 2.0.1",
    "ocpp.v201",
    "Request",
    {
        "reset": _reset,
        "unlock-connector": _unlock,
        "change-availability": _availability,
        "trigger-message": _trigger,
        "get-variables": _get_variables,
        "set-variables": _set_variables,
        "remote-start": _remote_start,
        "remote-stop": _remote_stop,
    },
    {"get-configuration": "get-variables", "change-configuration": "set-variables"},
)
