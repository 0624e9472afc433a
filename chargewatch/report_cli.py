"""`chargewatch report monthly|validate-evchart` and `chargewatch outage exclude|list|remove`.

`report` reads the store directly (read-only, beside a running `run`); `outage` talks to a
running `chargewatch run` over its HTTP API like the other operator commands, because an
exclusion is journaled. Exit 0 on success, 1 when something failed, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote

from chargewatch.ops_cli import _common, _local, _table, _time
from chargewatch.ops_client import Client, OpsError

COMMANDS = ("report", "outage")


def _month(text: str) -> str:
    from reports.periods import parse_month

    try:
        parse_month(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _module(text: str) -> int:
    if text not in ("2", "3", "4"):
        raise argparse.ArgumentTypeError("the EV-ChART module is 2 (sessions), 3 (uptime) or 4")
    return int(text)


def _previous_month() -> str:
    t = time.gmtime()
    year, month = (t.tm_year, t.tm_mon - 1) if t.tm_mon > 1 else (t.tm_year - 1, 12)
    return f"{year:04d}-{month:02d}"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="monthly SLA / KPI / revenue reports, EV-ChART files")
    reports = report.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    monthly = reports.add_parser("monthly", help="write one month's report (HTML + CSV)")
    monthly.add_argument(
        "--month", type=_month, default=None, help="YYYY-MM (default: last month, UTC)"
    )
    monthly.add_argument("--site", help="one site's report (default: the whole network)")
    monthly.add_argument("--out", type=Path, help="directory (default: DATA_DIR/reports/MONTH)")
    monthly.add_argument("--config", type=Path, help="chargewatch.yaml (default: built-ins)")
    monthly.add_argument("--data-dir", type=Path, help="where the store lives (default ./var)")
    check = reports.add_parser("validate-evchart", help="check a CSV against an EV-ChART module")
    check.add_argument("file", type=Path)
    check.add_argument("--module", type=_module, required=True, help="2, 3 or 4")

    outage = sub.add_parser("outage", help="declare outage time outside your control")
    outages = outage.add_subparsers(dest="outage_command", required=True, metavar="ACTION")
    common = [_common()]
    exclude = outages.add_parser("exclude", parents=common, help="exclude a charger's downtime")
    exclude.add_argument("--charger", required=True)
    exclude.add_argument("--connector", type=int, default=0, help="0 (default): every port")
    exclude.add_argument("--from", dest="start", type=_time, required=True, help="ISO 8601")
    exclude.add_argument("--to", dest="end", type=_time, required=True, help="ISO 8601")
    exclude.add_argument(
        "--category",
        required=True,
        help="utility_outage, vehicle_caused, vandalism, natural_disaster, "
        "scheduled_maintenance or other_outside_control",
    )
    exclude.add_argument("--note", default="")
    exclude.add_argument("--by", default=getpass.getuser(), help="who declares it")
    listing = outages.add_parser("list", parents=common, help="list declared exclusions")
    listing.add_argument("--charger")
    listing.add_argument("--removed", action="store_true", help="include withdrawn ones")
    remove = outages.add_parser("remove", parents=common, help="withdraw an exclusion")
    remove.add_argument("id")
    remove.add_argument("--by", default=getpass.getuser())


def main(args: argparse.Namespace, config_from_args) -> int:
    if args.command == "report":
        if args.report_command == "validate-evchart":
            from reports.evchart import validate_evchart_cli

            return validate_evchart_cli(args.file, args.module)
        return _monthly(args, config_from_args)
    try:
        client = Client(args.url, args.token or os.environ.get("CHARGEWATCH_TOKEN"))
        return {"exclude": _exclude, "list": _list, "remove": _remove}[args.outage_command](
            client, args
        )
    except OpsError as exc:
        print(f"chargewatch: {exc}", file=sys.stderr)
        return 2 if exc.usage else 1


def _monthly(args: argparse.Namespace, config_from_args) -> int:
    from reports.dataset import StoreMissing
    from reports.monthly import write_monthly_report

    for name in ("host", "ocpp_port", "http_port"):
        setattr(args, name, None)
    config = config_from_args(args)
    month = args.month or _previous_month()
    out = args.out or config.data_dir / "reports" / month / (args.site or "network")
    started = time.perf_counter()

    def progress(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    try:
        result = write_monthly_report(config, month, out, site=args.site, progress=progress)
    except (ValueError, StoreMissing) as exc:
        print(f"chargewatch: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    print(result.summary)
    for path in result.files:
        print(path)
    return 0


def _exclude(client: Client, args: argparse.Namespace) -> int:
    body = {
        "charger_id": args.charger,
        "connector_id": args.connector,
        "starts_at": args.start,
        "ends_at": args.end,
        "category": args.category,
        "note": args.note,
        "by": args.by,
    }
    x = client.post("/api/v1/exclusions", body)
    port = "every port" if x["connector_id"] == 0 else f"port {x['connector_id']}"
    print(
        f"exclusion {x['id']}: {x['charger_id']} {port} from {_local(x['starts_at'])} "
        f"until {_local(x['ends_at'])} ({x['category']})"
    )
    return 0


def _list(client: Client, args: argparse.Namespace) -> int:
    params = {"removed": "true" if args.removed else "false"}
    if args.charger:
        params["charger"] = args.charger
    data = client.get("/api/v1/exclusions", **params)
    rows = [
        [x["id"], x["charger_id"], str(x["connector_id"] or "all"), _local(x["starts_at"]),
         _local(x["ends_at"]), x["category"], x["created_by"], "removed" if x["removed"] else "",
         x["note"]]
        for x in data["exclusions"]
    ]  # fmt: skip
    _table(["ID", "CHARGER", "PORT", "FROM", "TO", "CATEGORY", "BY", "", "NOTE"], rows)
    return 0


def _remove(client: Client, args: argparse.Namespace) -> int:
    x = client.delete(f"/api/v1/exclusions/{quote(args.id, safe='')}?by={quote(args.by)}")
    print(f"exclusion {x['id']} withdrawn: that downtime counts again")
    return 0
