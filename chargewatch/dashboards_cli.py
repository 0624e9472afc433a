"""`chargewatch dashboards push`: the NOC dashboards and their datasources into a running
Grafana (dashboards/push.py), for when Grafana's provisioning directory cannot be mounted.

Credentials: --token (a service account token; $GRAFANA_TOKEN) or --user/--password
($GRAFANA_USER/$GRAFANA_PASSWORD), never printed. Exit 0 when every item is in place, 1 when
Grafana refuses, cannot be reached or a local file is wrong, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chargewatch.ops_client import url_argument

if TYPE_CHECKING:
    from dashboards.push import Credential, Item

COMMAND = "dashboards"


class UsageError(Exception):
    """Flags that do not fit together (exit 2)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    dashboards = sub.add_parser(COMMAND, help="put the Grafana dashboards into a running Grafana")
    commands = dashboards.add_subparsers(
        dest="dashboards_command", required=True, metavar="COMMAND"
    )
    p = commands.add_parser(
        "push",
        help="create or update the datasources and dashboards in Grafana (idempotent)",
        description="Push dashboards/provisioning/datasources/*.yaml (with $ENV references "
        "expanded) and dashboards/*.json into a running Grafana (10 or newer), into a folder. "
        "Items are matched by uid; unchanged ones are left alone.",
    )
    url = os.environ.get("GRAFANA_URL")
    p.add_argument(
        "--url",
        type=url_argument,
        default=url,
        required=url is None,
        help="Grafana's base URL, e.g. http://grafana:3000 (default: $GRAFANA_URL)",
    )
    # no defaults from the environment here, so that no help text or error can show them
    p.add_argument("--token", help="service account token (default: $GRAFANA_TOKEN)")
    p.add_argument("--user", help="Grafana user for basic auth (default: $GRAFANA_USER)")
    p.add_argument(
        "--password",
        help="its password (default: $GRAFANA_PASSWORD, which other users cannot see in ps)",
    )
    p.add_argument(
        "--folder",
        help="folder title; its uid is derived from it (default ChargeWatch, uid chargewatch)",
    )
    p.add_argument(
        "--dashboards-dir",
        type=Path,
        help="the *.json dashboards, datasources in provisioning/datasources/ below it "
        "(default: the ones installed with ChargeWatch)",
    )
    p.add_argument("--no-datasources", action="store_true", help="push only the dashboards")
    p.add_argument(
        "--update-secrets",
        action="store_true",
        help="re-send datasource secrets (Grafana never shows them, so push cannot tell if "
        "they changed: use this after rotating one)",
    )


def credential(args: argparse.Namespace) -> Credential:
    """A token or (user, password): flags first, then the environment."""
    if args.token and (args.user or args.password):
        raise UsageError("give either --token or --user/--password, not both")
    token, user = args.token, args.user
    if not token and not user and not args.password:
        token = os.environ.get("GRAFANA_TOKEN")
    if not token and not user:
        user = os.environ.get("GRAFANA_USER")
    if token:
        return token
    if user:
        password = args.password or os.environ.get("GRAFANA_PASSWORD")
        if not password:
            raise UsageError("--user needs --password (or $GRAFANA_PASSWORD)")
        return (user, password)
    if args.password:
        raise UsageError("--password needs --user (or $GRAFANA_USER)")
    if urlsplit(args.url).username:
        return None  # http://user:password@host: grafana-client takes them from the URL
    raise UsageError(
        "Grafana wants credentials: --token (or $GRAFANA_TOKEN) with a service account "
        "token, or --user and --password (or $GRAFANA_USER and $GRAFANA_PASSWORD)"
    )


def _print(item: Item) -> None:
    if item.outcome == "failed":
        print(f"chargewatch: {item.kind} {item.name}: {item.error}", file=sys.stderr, flush=True)
    else:
        print(f"{item.outcome:<10} {item.kind:<11} {item.name}", flush=True)


def main(args: argparse.Namespace) -> int:
    # imported here: grafana-client takes a quarter of a second, which other commands don't need
    from grafana_client.client import GrafanaException

    from dashboards.push import DASHBOARDS_DIR, DEFAULT_FOLDER, PushError, push, redact

    try:
        auth = credential(args)
    except UsageError as exc:
        print(f"chargewatch: {exc}", file=sys.stderr)
        return 2
    try:
        version, items = push(
            args.url,
            auth,
            directory=args.dashboards_dir or DASHBOARDS_DIR,
            folder=args.folder or DEFAULT_FOLDER,
            datasources=not args.no_datasources,
            update_secrets=args.update_secrets,
            report=_print,
        )
    except PushError as exc:
        print(f"chargewatch: {exc}", file=sys.stderr)
        return 1
    except GrafanaException as exc:  # an answer push.py has no better words for
        print(f"chargewatch: Grafana answered {exc.status_code}: {exc.message}", file=sys.stderr)
        return 1
    counts = {o: sum(i.outcome == o for i in items) for o in ("created", "updated", "unchanged")}
    failed = sum(i.outcome == "failed" for i in items)
    if failed:
        counts["failed"] = failed
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
    print(f"Grafana {version} at {redact(args.url)}: {summary}")
    return 1 if failed else 0
