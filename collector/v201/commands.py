"""OCPP 2.0.1 requests for the version-neutral remote commands (collector/commands.py).

Our `connector_id` is the evseId for a 2.0.1 station (0: the station itself).
"""

from __future__ import annotations

import secrets
from typing import Any

from collector import commands as c
from collector.id_token_info import id_token_info

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


def _get_log(p: c.GetDiagnostics) -> tuple[str, dict[str, Any]]:
    if p.location is None:
        raise c.BadParams("GetLog needs a location")
    request_id = p.request_id
    if request_id is None:
        request_id = secrets.randbelow(2**31)  # the station echoes it in LogStatusNotification
    log = {
        "remoteLocation": p.location,
        "oldestTimestamp": c.ocpp_time(p.start_time),
        "latestTimestamp": c.ocpp_time(p.stop_time),
    }
    return "GetLog", c.drop_none(
        {
            "logType": "SecurityLog" if p.log_type == "security" else "DiagnosticsLog",
            "requestId": request_id,
            "log": c.drop_none(log),
            "retries": p.retries,
            "retryInterval": p.retry_interval,
        }
    )


def _local_list_entry(e: c.LocalListEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"idToken": {"idToken": e.id_tag, "type": e.token_type}}
    if e.status is not None:  # no idTokenInfo: a differential update removes the token
        item["idTokenInfo"] = id_token_info(e.status, e.expiry, e.parent_id)
    return item


def _send_local_list(p: c.SendLocalList) -> tuple[str, dict[str, Any]]:
    version, entries = c.local_list_of(p)
    payload: dict[str, Any] = {"versionNumber": version, "updateType": p.update_type.title()}
    if entries:  # at least one item when given (minItems 1): none empties a full list
        payload["localAuthorizationList"] = [_local_list_entry(e) for e in entries]
    return "SendLocalList", payload


def _get_local_list_version(p: c.GetLocalListVersion) -> tuple[str, dict[str, Any]]:
    return "GetLocalListVersion", {}


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
        "get-diagnostics": _get_log,
        "get-log": _get_log,
        "get-local-list-version": _get_local_list_version,
        "send-local-list": _send_local_list,
    },
    {"get-configuration": "get-variables", "change-configuration": "set-variables"},
)
