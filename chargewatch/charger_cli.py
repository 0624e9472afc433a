"""`chargewatch charger CMD CHARGER_ID ...`: remote commands over the HTTP API.

Each CMD is one version-neutral command (collector/commands.py) and one API endpoint,
`POST /api/v1/chargers/{id}/commands/CMD`. Exit 0 when the charger accepts, 1 when it
refuses (Rejected, ...), does not answer, or the API refuses; 2 on usage errors.
`chargewatch charger uploads CHARGER_ID` lists the files it uploaded (get-diagnostics).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import datetime
from typing import Any
from urllib.parse import quote

from chargewatch.ops_cli import _common
from chargewatch.ops_client import Client, OpsError

COMMAND = "charger"
# answers that mean "done" or "will do"; anything else (Rejected, Failed, ...) exits 1
DONE = frozenset({"Accepted", "Unlocked", "Scheduled", "RebootRequired", "AcceptedCanceled"})
UPLOADS = "uploads"  # not a command: lists what chargers uploaded
HTTP_MARGIN_S = 5.0  # the HTTP wait outlasts the charger's, so its 504 arrives


def _variable(text: str) -> dict[str, Any]:
    """COMPONENT.VARIABLE (2.0.1 device model), e.g. OCPPCommCtrlr.HeartbeatInterval."""
    component, dot, variable = text.partition(".")
    if not dot or not component or not variable:
        raise argparse.ArgumentTypeError(f"{text!r} is not COMPONENT.VARIABLE")
    return {"component": component, "variable": variable}


def _assignment(text: str) -> dict[str, Any]:
    """COMPONENT.VARIABLE=VALUE."""
    name, eq, value = text.partition("=")
    if not eq:
        raise argparse.ArgumentTypeError(f"{text!r} is not COMPONENT.VARIABLE=VALUE")
    return {**_variable(name), "value": value}


def _when(text: str) -> str:
    """An ISO 8601 time with its offset (or Z), as the API wants it."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset: add Z or +01:00")
    return when.isoformat()


def _timeout(text: str) -> float:
    value = float(text)
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 and at most 300 seconds")
    return value


def add_parsers(sub: argparse._SubParsersAction) -> None:
    charger = sub.add_parser(COMMAND, help="send a remote command to a connected charger")
    cmds = charger.add_subparsers(dest="charger_command", required=True, metavar="CMD")
    opts = argparse.ArgumentParser(add_help=False, parents=[_common()])
    opts.add_argument("--by", help="who asks, for the journal (default: your user name)")
    opts.add_argument("--timeout", type=_timeout, default=30.0, help="seconds (default 30)")
    opts.add_argument("--json", action="store_true", help="the API's JSON answer")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, parents=[opts], help=help_text)
        p.add_argument("charger_id")
        return p

    p = add("reset", "restart the charger (2.0.1: soft = OnIdle, hard = Immediate)")
    p.add_argument("--hard", action="store_true")
    p = add("unlock-connector", "release the cable of a port")
    p.add_argument("connector_id", type=int, help="1.6 connector / 2.0.1 EVSE")
    p.add_argument("--connector", type=int, default=1, help="2.0.1: connector of the EVSE")
    p = add("change-availability", "take a port (0: the charger) out of service or back")
    p.add_argument("availability", choices=("operative", "inoperative"))
    p.add_argument("--connector", type=int, default=0, dest="connector_id")
    p = add("trigger-message", "ask the charger to send a message now")
    p.add_argument("message", help="boot, heartbeat, status, meter-values, diagnostics-status, …")
    p.add_argument("--connector", type=int, dest="connector_id")
    p = add("get-configuration", "read configuration keys (OCPP 1.6)")
    p.add_argument("keys", nargs="*", metavar="KEY")
    p = add("change-configuration", "set a configuration key (OCPP 1.6)")
    p.add_argument("key")
    p.add_argument("value")
    p = add("get-variables", "read device-model variables (OCPP 2.0.1)")
    p.add_argument("variables", nargs="+", type=_variable, metavar="COMPONENT.VARIABLE")
    p = add("set-variables", "set device-model variables (OCPP 2.0.1)")
    p.add_argument("variables", nargs="+", type=_assignment, metavar="COMPONENT.VARIABLE=VALUE")
    p = add("remote-start", "start a session for an id tag")
    p.add_argument("id_tag")
    p.add_argument("--connector", type=int, dest="connector_id")
    p = add("remote-stop", "stop a session")
    p.add_argument("transaction_id")
    for name in ("get-diagnostics", "get-log"):
        p = add(
            name, "have the charger upload its diagnostics / log (1.6 GetDiagnostics, 2.0.1 GetLog)"
        )
        p.add_argument("--location", help="upload URL (default: ChargeWatch, single-use ticket)")
        for flag, dest, what in (
            ("--since", "start_time", "oldest"),
            ("--until", "stop_time", "latest"),
        ):
            p.add_argument(
                flag, type=_when, dest=dest, metavar="TIME", help=f"{what} entries (ISO 8601)"
            )
        p.add_argument("--security", action="store_true", help="2.0.1: the security log")
        p.add_argument("--retries", type=int)
        p.add_argument("--retry-interval", type=int, metavar="SECONDS")
    add("get-local-list-version", "the version of the charger's local authorisation list")
    add("send-local-list", "send the idTag registry as the charger's full local list")
    p = cmds.add_parser(UPLOADS, parents=[_common()], help="list the files a charger uploaded")
    p.add_argument("charger_id")
    p.add_argument("--json", action="store_true", help="the API's JSON answer")


def _body(args: argparse.Namespace) -> dict[str, Any]:
    name = args.charger_command
    if name == "reset":
        body: dict[str, Any] = {"type": "hard" if args.hard else "soft"}
    elif name == "unlock-connector":
        body = {"connector_id": args.connector_id, "connector": args.connector}
    elif name == "change-availability":
        body = {"availability": args.availability, "connector_id": args.connector_id}
    elif name in ("trigger-message", "remote-start"):
        first = "message" if name == "trigger-message" else "id_tag"
        body = {first: getattr(args, first), "connector_id": args.connector_id}
    elif name in ("get-configuration", "change-configuration", "remote-stop"):
        fields = {"get-configuration": ("keys",), "remote-stop": ("transaction_id",)}
        body = {k: getattr(args, k) for k in fields.get(name, ("key", "value"))}
    elif name in ("get-diagnostics", "get-log"):
        fields = ("location", "start_time", "stop_time", "retries", "retry_interval")
        body = {k: getattr(args, k) for k in fields}
        body["log_type"] = "security" if args.security else None
    elif name in ("get-local-list-version", "send-local-list"):
        body = {}  # send-local-list: the server fills in the registry's tags and version
    else:
        body = {"variables": args.variables}
    body = {k: v for k, v in body.items() if v is not None}
    return {**body, "by": args.by if args.by is not None else _user()}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def main(args: argparse.Namespace) -> int:
    try:
        client = Client(
            args.url,
            args.token or os.environ.get("CHARGEWATCH_TOKEN"),
            timeout=getattr(args, "timeout", 30.0) + HTTP_MARGIN_S,
        )
        cid = quote(args.charger_id, safe="")
        if args.charger_command == UPLOADS:
            return _list_uploads(client.get(f"/api/v1/chargers/{cid}/uploads"), args.json)
        path = f"/api/v1/chargers/{cid}/commands/{args.charger_command}?timeout={args.timeout:g}"
        answer = client.request("POST", path, _body(args))
    except OpsError as exc:
        print(f"chargewatch: {exc}", file=sys.stderr)
        return 2 if exc.usage else 1
    status = answer.get("status")
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    else:
        took = f" in {answer['elapsed_ms']:.0f} ms" if answer.get("elapsed_ms") is not None else ""
        who = f"{answer['charger']} {answer['action']} ({answer['protocol']})"
        print(f"{who}: {status or 'answered'}{took}")
        if status is None or set(answer["result"]) - {"status"}:
            print(json.dumps(answer["result"], indent=2, ensure_ascii=False))
        if answer.get("upload_url"):
            print(f"upload to: {answer['upload_url']} (single use)")
    if status is not None and status not in DONE:
        print(f"chargewatch: {answer['charger']} answered {status}", file=sys.stderr)
        return 1
    return 0


def _list_uploads(answer: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0
    if not answer["uploads"]:
        print(f"{answer['charger']}: no uploads")
    for f in answer["uploads"]:
        print(f"{f['received']}  {f['bytes']:>12}  {f['name']}")
    return 0
