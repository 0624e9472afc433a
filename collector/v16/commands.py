"""OCPP 1.6 requests for the version-neutral remote commands (collector/commands.py)."""

from __future__ import annotations

from typing import Any

from collector import commands as c
from collector.id_token_info import MAX_ID_TAG_16, id_tag_info

# neutral trigger names -> the 1.6 MessageTrigger (the 1.6 names themselves are accepted too)
TRIGGERS = {
    "boot": "BootNotification",
    "heartbeat": "Heartbeat",
    "status": "StatusNotification",
    "meter-values": "MeterValues",
    "diagnostics-status": "DiagnosticsStatusNotification",
    "firmware-status": "FirmwareStatusNotification",
}
OTHER_VERSION_TRIGGERS = {"LogStatusNotification": "DiagnosticsStatusNotification"}


def _reset(p: c.Reset) -> tuple[str, dict[str, Any]]:
    return "Reset", {"type": p.type.capitalize()}


def _unlock(p: c.UnlockConnector) -> tuple[str, dict[str, Any]]:
    if p.connector != 1:
        raise c.BadParams("OCPP 1.6 has no connectors within a connector: leave connector out")
    return "UnlockConnector", {"connectorId": p.connector_id}


def _availability(p: c.ChangeAvailability) -> tuple[str, dict[str, Any]]:
    return "ChangeAvailability", {"connectorId": p.connector_id, "type": p.availability.title()}


def _trigger(p: c.TriggerMessage) -> tuple[str, dict[str, Any]]:
    message = TRIGGERS.get(p.message, p.message)
    if message not in TRIGGERS.values():
        other = OTHER_VERSION_TRIGGERS.get(p.message)
        known = ", ".join([*TRIGGERS, *TRIGGERS.values()])
        use = f"use {other}" if other else f"one of {known}"
        raise c.Unsupported(f"OCPP 1.6 cannot trigger {p.message}: {use}")
    return "TriggerMessage", c.drop_none(
        {"requestedMessage": message, "connectorId": p.connector_id}
    )


def _get_configuration(p: c.GetConfiguration) -> tuple[str, dict[str, Any]]:
    return "GetConfiguration", {"key": p.keys} if p.keys else {}


def _change_configuration(p: c.ChangeConfiguration) -> tuple[str, dict[str, Any]]:
    return "ChangeConfiguration", {"key": p.key, "value": p.value}


def _remote_start(p: c.RemoteStart) -> tuple[str, dict[str, Any]]:
    return "RemoteStartTransaction", c.drop_none({"idTag": p.id_tag, "connectorId": p.connector_id})


def _remote_stop(p: c.RemoteStop) -> tuple[str, dict[str, Any]]:
    try:
        transaction_id = int(p.transaction_id)
    except ValueError:
        raise c.BadParams(
            f"an OCPP 1.6 transactionId is an integer, not {p.transaction_id!r}"
        ) from None
    return "RemoteStopTransaction", {"transactionId": transaction_id}


def _get_diagnostics(p: c.GetDiagnostics) -> tuple[str, dict[str, Any]]:
    if p.log_type != "diagnostics":
        raise c.BadParams("OCPP 1.6 GetDiagnostics has no security log: leave log_type out")
    if p.request_id is not None:
        raise c.BadParams("OCPP 1.6 GetDiagnostics has no requestId: leave request_id out")
    if p.location is None:
        raise c.BadParams("GetDiagnostics needs a location")
    return "GetDiagnostics", c.drop_none(
        {
            "location": p.location,
            "retries": p.retries,
            "retryInterval": p.retry_interval,
            "startTime": c.ocpp_time(p.start_time),
            "stopTime": c.ocpp_time(p.stop_time),
        }
    )


def _local_list_entry(e: c.LocalListEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"idTag": e.id_tag}
    if e.status is not None:  # no idTagInfo: a differential update removes the tag
        item["idTagInfo"] = id_tag_info(e.status, e.expiry, e.parent_id)
    return item


def _send_local_list(p: c.SendLocalList) -> tuple[str, dict[str, Any]]:
    version, entries = c.local_list_of(p)
    # a tag longer than CiString20Type cannot be presented by a 1.6 charger: left out
    items = [_local_list_entry(e) for e in entries if len(e.id_tag) <= MAX_ID_TAG_16]
    payload: dict[str, Any] = {"listVersion": version, "updateType": p.update_type.title()}
    if items:  # a full update without a list empties the charger's
        payload["localAuthorizationList"] = items
    return "SendLocalList", payload


def _get_local_list_version(p: c.GetLocalListVersion) -> tuple[str, dict[str, Any]]:
    return "GetLocalListVersion", {}


TRANSLATOR = c.Translator(
    "OCPP 1.6",
    "ocpp.v16",
    "",
    {
        "reset": _reset,
        "unlock-connector": _unlock,
        "change-availability": _availability,
        "trigger-message": _trigger,
        "get-configuration": _get_configuration,
        "change-configuration": _change_configuration,
        "remote-start": _remote_start,
        "remote-stop": _remote_stop,
        "get-diagnostics": _get_diagnostics,
        "get-log": _get_diagnostics,
        "get-local-list-version": _get_local_list_version,
        "send-local-list": _send_local_list,
    },
    {"get-variables": "get-configuration", "set-variables": "change-configuration"},
)
