"""Operator commands against a running `chargewatch run`, over its HTTP API: list alerts,
acknowledge them, silence them, and check that a receiver's notifications arrive.

`alerts`, `ack FP`, `unack FP`, `silence add|list|expire`, `notify test|log`. Every one
takes --url (env CHARGEWATCH_URL) and --token (env CHARGEWATCH_TOKEN, never printed).
Exit 0 on success, 1 when the API refuses or cannot be reached, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from chargewatch.durations import parse_duration
from chargewatch.ops_client import Client, OpsError, url_argument

COMMANDS = ("alerts", "ack", "unack", "silence", "notify")
DEFAULT_URL = "http://127.0.0.1:8000"
MIN_PREFIX = 4
POLL_S = 0.2
FINAL = ("sent", "failed")


def _duration(text: str) -> str:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be longer than 0s")
    return text


def _time(text: str) -> str:
    """ISO 8601 for the API, which wants a time zone: a time without one is local time."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-12-01T22:00 or 2026-12-01T22:00:00Z)"
        ) from None
    return (value if value.tzinfo else value.astimezone()).isoformat()


def _wait(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 and 3600 seconds")
    return value


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{text} must be between 1 and 1000")
    return value


def _common() -> argparse.ArgumentParser:
    """--url and --token, on every leaf command (they follow the command's name)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--url",
        type=url_argument,
        default=os.environ.get("CHARGEWATCH_URL") or DEFAULT_URL,
        help=f"the ChargeWatch HTTP API (default: $CHARGEWATCH_URL, else {DEFAULT_URL})",
    )
    # no default here: the token is read from the environment when needed, so that no
    # help text or error can show it
    p.add_argument(
        "--token",
        help="API token (default: $CHARGEWATCH_TOKEN, which other users cannot see in ps)",
    )
    return p


def add_parsers(sub: argparse._SubParsersAction) -> None:
    common = [_common()]
    alerts = sub.add_parser("alerts", parents=common, help="list active alerts")
    alerts.add_argument("--state", choices=("pending", "firing"))
    alerts.add_argument("--severity")
    alerts.add_argument("--alertname")
    alerts.add_argument("--charger")
    alerts.add_argument("--site")
    alerts.add_argument("--json", action="store_true", help="the API's JSON answer")

    ack = sub.add_parser("ack", parents=common, help="acknowledge an alert (take it on)")
    ack.add_argument("fingerprint", help=f"the fingerprint or a unique prefix (≥ {MIN_PREFIX})")
    ack.add_argument("--by", required=True, help="who takes it on")
    ack.add_argument("--comment", default="")
    unack = sub.add_parser("unack", parents=common, help="withdraw an acknowledgement")
    unack.add_argument("fingerprint", help=f"the fingerprint or a unique prefix (≥ {MIN_PREFIX})")
    unack.add_argument("--by", required=True, help="who gives it back")

    silence = sub.add_parser("silence", help="mute alerts for a while")
    silences = silence.add_subparsers(dest="silence_command", required=True, metavar="COMMAND")
    add = silences.add_parser("add", parents=common, help="add a silence")
    add.add_argument("matchers", nargs="+", metavar="MATCHER", help='e.g. site="north"')
    end = add.add_mutually_exclusive_group(required=True)
    end.add_argument("--duration", type=_duration, help="e.g. 2h, 30m (from the start)")
    end.add_argument("--until", type=_time, help="ISO 8601 end (no zone: local time)")
    add.add_argument("--start", type=_time, help="ISO 8601 start (default: now)")
    add.add_argument("--by", required=True, help="who sets it")
    add.add_argument("--comment", default="")
    listing = silences.add_parser("list", parents=common, help="list silences, newest first")
    listing.add_argument("--state", choices=("active", "pending", "expired"))
    listing.add_argument("--json", action="store_true", help="the API's JSON answer")
    expire = silences.add_parser("expire", parents=common, help="end a silence now")
    expire.add_argument("id")

    notify = sub.add_parser("notify", help="test receivers, read the delivery log")
    notifies = notify.add_subparsers(dest="notify_command", required=True, metavar="COMMAND")
    test = notifies.add_parser("test", parents=common, help="send a test notification")
    test.add_argument("receiver")
    test.add_argument("--by", default="", help="named in the test message")
    test.add_argument(
        "--wait",
        type=_wait,
        default=15.0,
        help="seconds to wait for the deliveries (0: only queue; default %(default)s)",
    )
    log = notifies.add_parser("log", parents=common, help="the delivery log, newest first")
    log.add_argument("--receiver")
    log.add_argument("--result", choices=("sent", "retry", "failed"))
    log.add_argument("--limit", type=_limit, default=50, help="default %(default)s")
    log.add_argument("--json", action="store_true", help="the API's JSON answer")


def _command(args: argparse.Namespace) -> Callable[[Client, argparse.Namespace], int]:
    if args.command == "silence":
        return {"add": add_silence, "list": list_silences}.get(args.silence_command, expire_silence)
    if args.command == "notify":
        return notify_test if args.notify_command == "test" else notify_log
    return list_alerts if args.command == "alerts" else acknowledge


def main(args: argparse.Namespace) -> int:
    try:
        client = Client(args.url, args.token or os.environ.get("CHARGEWATCH_TOKEN"))
        return _command(args)(client, args)
    except OpsError as exc:
        print(f"chargewatch: {exc}", file=sys.stderr)
        return 2 if exc.usage else 1


# ---- output ----------------------------------------------------------------------------


def _local(iso: str | None) -> str:
    """A time from the API (UTC) in the operator's local time."""
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _table(header: Sequence[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _where(labels: dict[str, str]) -> str:
    if "charger" in labels:
        connector = labels.get("connector")
        return f"{labels['charger']}/{connector}" if connector else labels["charger"]
    return f"site {labels['site']}" if "site" in labels else "-"


# ---- alerts ----------------------------------------------------------------------------


def list_alerts(client: Client, args: argparse.Namespace) -> int:
    filters = {k: getattr(args, k) for k in ("state", "severity", "alertname", "charger", "site")}
    answer = client.get("/api/v1/alerts", **filters)
    if args.json:
        _json(answer)
        return 0
    alerts = answer["alerts"]
    if not alerts:
        some = any(v is not None for v in filters.values())
        print("no active alerts" + (" match" if some else ""))
        return 0
    rows = [
        [
            a["fingerprint"],
            a["state"],
            a["severity"],
            a["alertname"],
            _where(a["labels"]),
            _local(a["since"]),
            a["acknowledged_by"] or "-",
        ]
        for a in alerts
    ]
    _table(["FINGERPRINT", "STATE", "SEVERITY", "ALERTNAME", "WHERE", "SINCE", "ACK BY"], rows)
    return 0


def resolve(client: Client, prefix: str) -> dict[str, Any]:
    """The one active alert whose fingerprint is `prefix` or starts with it."""
    prefix = prefix.strip().lower()
    if len(prefix) < MIN_PREFIX:
        raise OpsError(f"give at least {MIN_PREFIX} characters of the fingerprint", usage=True)
    alerts = client.get("/api/v1/alerts")["alerts"]
    exact = [a for a in alerts if a["fingerprint"] == prefix]
    found = exact or [a for a in alerts if a["fingerprint"].startswith(prefix)]
    if not found:
        raise OpsError(f"no active alert has a fingerprint starting with {prefix!r}")
    if len(found) > 1:
        which = ", ".join(
            f"{a['fingerprint']} ({a['alertname']} {_where(a['labels'])})" for a in found
        )
        raise OpsError(f"{prefix!r} is ambiguous: it matches {which}; give more characters")
    return found[0]


def acknowledge(client: Client, args: argparse.Namespace) -> int:
    alert = resolve(client, args.fingerprint)
    fp = alert["fingerprint"]
    if args.command == "ack":
        client.post(f"/api/v1/alerts/{fp}/acknowledge", {"by": args.by, "comment": args.comment})
        done = "acknowledged"
    else:
        client.post(f"/api/v1/alerts/{fp}/unacknowledge", {"by": args.by})
        done = "unacknowledged"
    print(f"{done} {fp} ({alert['alertname']} {_where(alert['labels'])}) by {args.by}")
    return 0


# ---- silences --------------------------------------------------------------------------


def add_silence(client: Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "matchers": args.matchers,
        "created_by": args.by,
        "comment": args.comment,
    }
    if args.start:
        body["starts_at"] = args.start
    if args.duration:
        body["duration"] = args.duration
    else:
        body["ends_at"] = args.until
    s = client.post("/api/v1/silences", body)
    print(
        f"silence {s['id']} ({s['state']}) from {_local(s['starts_at'])} "
        f"until {_local(s['ends_at'])}: {' '.join(s['matchers'])}"
    )
    return 0


def list_silences(client: Client, args: argparse.Namespace) -> int:
    answer = client.get("/api/v1/silences", state=args.state)
    if args.json:
        _json(answer)
        return 0
    if not answer["silences"]:
        print("no silences" + (f" are {args.state}" if args.state else ""))
        return 0
    rows = [
        [
            s["id"],
            s["state"],
            _local(s["starts_at"]),
            _local(s["ends_at"]),
            s["created_by"],
            " ".join(s["matchers"]),
            s["comment"],
        ]
        for s in answer["silences"]
    ]
    _table(["ID", "STATE", "STARTS", "ENDS", "BY", "MATCHERS", "COMMENT"], rows)
    return 0


def expire_silence(client: Client, args: argparse.Namespace) -> int:
    s = client.delete(f"/api/v1/silences/{quote(args.id, safe='')}")
    print(f"silence {s['id']} expired at {_local(s['ends_at'])}: {' '.join(s['matchers'])}")
    return 0


# ---- notifications ---------------------------------------------------------------------


def _latest(client: Client, receiver: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The newest log entry of each outbox id (the log is newest first)."""
    items = client.get("/api/v1/notifications", receiver=receiver, limit=1000)["items"]
    latest: dict[int, dict[str, Any]] = {}
    for item in items:
        if item["outbox_id"] in ids:
            latest.setdefault(item["outbox_id"], item)
    return latest


def notify_test(client: Client, args: argparse.Namespace) -> int:
    name = quote(args.receiver, safe="")
    ids: list[int] = client.post(f"/api/v1/receivers/{name}/test", {"by": args.by})["outbox_ids"]
    if not ids:
        print(f"chargewatch: receiver {args.receiver!r} has no targets", file=sys.stderr)
        return 1
    print(f"queued a test notification to {args.receiver} (outbox ids {', '.join(map(str, ids))})")
    if args.wait == 0:
        print(f"follow it with: chargewatch notify log --receiver {args.receiver}")
        return 0
    deadline = time.monotonic() + args.wait
    while True:
        latest = _latest(client, args.receiver, ids)
        done = all(latest.get(i, {}).get("result") in FINAL for i in ids)
        if done or time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    rows = []
    for i in ids:
        entry = latest.get(i)
        if entry is None:
            rows.append(["-", f"(outbox {i})", "queued", "no attempt yet"])
        else:
            rows.append([entry["channel"], entry["target"], entry["result"], entry["error"] or ""])
    _table(["CHANNEL", "TARGET", "RESULT", "ERROR"], rows)
    if not done:
        print(
            f"chargewatch: not every delivery finished within {args.wait:g} s; follow them "
            f"with: chargewatch notify log --receiver {args.receiver}",
            file=sys.stderr,
        )
    return 0 if all(latest.get(i, {}).get("result") == "sent" for i in ids) else 1


def notify_log(client: Client, args: argparse.Namespace) -> int:
    answer = client.get(
        "/api/v1/notifications", receiver=args.receiver, result=args.result, limit=args.limit
    )
    if args.json:
        _json(answer)
        return 0
    rows = [
        [
            _local(e["at"]),
            e["receiver"],
            e["channel"],
            e["target"],
            str(e["attempt"]),
            e["result"],
            e["error"] or "",
        ]
        for e in answer["items"]
    ]
    if rows:
        _table(["AT", "RECEIVER", "CHANNEL", "TARGET", "ATTEMPT", "RESULT", "ERROR"], rows)
    else:
        print("no deliveries match" if args.receiver or args.result else "no deliveries logged")
    outbox = ", ".join(f"{k} {v}" for k, v in sorted(answer["outbox"].items())) or "empty"
    print(f"outbox: {outbox}")
    return 0
