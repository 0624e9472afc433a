"""Remote commands in version-neutral terms, and their translation into OCPP calls.

Operators ask for "reset", "unlock-connector", ... the same way whatever a charger speaks;
each version's `commands` module (collector/v16/commands.py, collector/v201/commands.py)
turns one into its request (action, payload). Every request is checked against the
version's request schema before it goes out, and every answer against the response schema.
Ports are `connector_id` as everywhere else: the connector in 1.6, the EVSE id in 2.0.1.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from collector.validation import PayloadError, SchemaSet


class Unsupported(Exception):
    """The charger's OCPP version has no such command (HTTP 422); the message names the
    one to use instead when there is one."""


class BadParams(Exception):
    """Parameters this version cannot carry (HTTP 422)."""


class Command(BaseModel):
    """Fields every command takes."""

    model_config = ConfigDict(extra="forbid")
    by: str = Field("", max_length=100, description="who asks (recorded in the journal)")


class Reset(Command):
    type: Literal["soft", "hard"] = Field(
        "soft", description="1.6 Soft/Hard; 2.0.1 OnIdle (after transactions)/Immediate"
    )


class UnlockConnector(Command):
    connector_id: int = Field(ge=1, description="1.6 connectorId; 2.0.1 evseId")
    connector: int = Field(1, ge=1, description="2.0.1: the connector of the EVSE")


class ChangeAvailability(Command):
    availability: Literal["operative", "inoperative"]
    connector_id: int = Field(0, ge=0, description="0: the whole charger")


class TriggerMessage(Command):
    message: str = Field(
        min_length=1,
        max_length=50,
        description="boot, heartbeat, status, meter-values, diagnostics-status, "
        "firmware-status, transaction-event (2.0.1), or the version's own message name",
    )
    connector_id: int | None = Field(None, ge=0, description="1.6 connectorId; 2.0.1 evse.id")


class GetConfiguration(Command):
    keys: list[str] = Field(default_factory=list, description="empty: every key")


class ChangeConfiguration(Command):
    key: str = Field(min_length=1, max_length=50)
    value: str = Field(max_length=500)


class Variable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    component: str = Field(min_length=1, max_length=50)
    variable: str = Field(min_length=1, max_length=50)
    component_instance: str | None = Field(None, max_length=50)
    variable_instance: str | None = Field(None, max_length=50)
    evse_id: int | None = Field(None, ge=0)
    attribute: Literal["Actual", "Target", "MinSet", "MaxSet"] = "Actual"


class VariableValue(Variable):
    value: str = Field(max_length=1000)


class GetVariables(Command):
    variables: list[Variable] = Field(min_length=1)


class SetVariables(Command):
    variables: list[VariableValue] = Field(min_length=1)


class RemoteStart(Command):
    id_tag: str = Field(min_length=1, max_length=36, description="1.6 idTag; 2.0.1 idToken")
    connector_id: int | None = Field(None, ge=1, description="1.6 connectorId; 2.0.1 evseId")
    id_token_type: str = Field("Central", description="2.0.1 idToken.type")
    remote_start_id: int | None = Field(None, ge=0, description="2.0.1 (default: generated)")


class RemoteStop(Command):
    transaction_id: str = Field(min_length=1, max_length=36)


class LocalListEntry(BaseModel):
    """One tag of a local authorisation list (1.6 AuthorizationData, 2.0.1 AuthorizationData)."""

    model_config = ConfigDict(extra="forbid")
    id_tag: str = Field(min_length=1, max_length=36, description="1.6: longer than 20 left out")
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] | None = Field(
        None, description="None: remove the tag (differential updates only)"
    )
    expiry: float | None = Field(None, description="epoch seconds (1.6 expiryDate)")
    parent_id: str | None = Field(None, min_length=1, max_length=36)
    token_type: str = Field("ISO14443", description="2.0.1 idToken.type")


class SendLocalList(Command):
    """The local authorisation list; without entries and version: the idTag registry's."""

    update_type: Literal["full", "differential"] = "full"
    list_version: int | None = Field(None, ge=1, le=2**31 - 1, description="default: registry's")
    entries: list[LocalListEntry] | None = Field(None, description="default: every tag")


class GetLocalListVersion(Command):
    """The version of the charger's local authorisation list."""


def local_list_of(p: SendLocalList) -> tuple[int, list[LocalListEntry]]:
    """The version and entries to send (the registry fills both when the caller gave none)."""
    if p.list_version is None or p.entries is None:
        raise BadParams("send-local-list: list_version and entries are needed (no idTag registry)")
    if p.update_type == "full":
        for entry in p.entries:
            if entry.status is None:
                raise BadParams(f"entries: {entry.id_tag}: a full list gives every tag a status")
    return p.list_version, p.entries


class GetDiagnostics(Command):
    """1.6 GetDiagnostics / 2.0.1 GetLog: the charger uploads a file to `location`."""

    location: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="where the charger uploads (ftp://, http(s)://); default: ChargeWatch's "
        "own upload endpoint with a fresh single-use ticket",
    )
    log_type: Literal["diagnostics", "security"] = Field(
        "diagnostics", description="2.0.1 logType DiagnosticsLog / SecurityLog (1.6: diagnostics)"
    )
    start_time: AwareDatetime | None = Field(
        None, description="oldest entries to include (1.6 startTime; 2.0.1 oldestTimestamp)"
    )
    stop_time: AwareDatetime | None = Field(
        None, description="latest entries to include (1.6 stopTime; 2.0.1 latestTimestamp)"
    )
    retries: int | None = Field(None, ge=0, le=100)
    retry_interval: int | None = Field(None, ge=0, le=86_400, description="seconds")
    request_id: int | None = Field(
        None, ge=0, le=2**31 - 1, description="2.0.1 requestId (default: generated)"
    )


# the neutral name (the API path segment and the CLI word) -> its parameters
COMMANDS: dict[str, type[Command]] = {
    "reset": Reset,
    "unlock-connector": UnlockConnector,
    "change-availability": ChangeAvailability,
    "trigger-message": TriggerMessage,
    "get-configuration": GetConfiguration,
    "change-configuration": ChangeConfiguration,
    "get-variables": GetVariables,
    "set-variables": SetVariables,
    "remote-start": RemoteStart,
    "remote-stop": RemoteStop,
    "get-diagnostics": GetDiagnostics,
    "get-log": GetDiagnostics,  # the 2.0.1 name of the same command
    "get-local-list-version": GetLocalListVersion,
    "send-local-list": SendLocalList,
}
# the commands whose answer announces a file the charger uploads to `location`
UPLOADS = frozenset({"get-diagnostics", "get-log"})

Builder = Callable[[Any], tuple[str, dict[str, Any]]]


def drop_none(payload: dict[str, Any]) -> dict[str, Any]:
    """OCPP leaves optional fields out; null is not a value its schemas allow."""
    return {k: v for k, v in payload.items() if v is not None}


def ocpp_time(value: datetime | None) -> str | None:
    """An aware time as OCPP's dateTime: UTC, with Z (what chargers parse most reliably)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Translator:
    """One OCPP version's commands: build the request, check it and the charger's answer."""

    def __init__(
        self,
        version: str,
        package: str,
        request_suffix: str,
        builders: dict[str, Builder],
        instead: dict[str, str],
    ) -> None:
        self.version = version  # "OCPP 1.6", for messages
        self.builders = builders
        self.instead = instead  # commands of the other version -> ours
        self._requests = SchemaSet(package, request_suffix)
        self._responses = SchemaSet(package, "Response")  # reads <Action>Response.json

    def request(self, name: str, params: Command) -> tuple[str, dict[str, Any]]:
        """(action, payload) for a command; Unsupported or BadParams when it cannot be sent."""
        builder = self.builders.get(name)
        if builder is None:
            hint = self.instead.get(name)
            use = f": use {hint}" if hint else ""
            raise Unsupported(f"{self.version} has no {name} command{use}")
        action, payload = builder(params)
        try:
            self._requests.validate(action, payload)
        except PayloadError as exc:
            raise BadParams(f"{action}: {exc.description}") from None
        return action, payload

    def check_answer(self, action: str, payload: Any) -> str | None:
        """What breaks the version's response schema in the answer (None: it is valid)."""
        if not isinstance(payload, dict):
            return f"the payload is {type(payload).__name__}, not a JSON object"
        try:
            self._responses.validate(action, payload)
        except PayloadError as exc:
            return exc.description
        return None
