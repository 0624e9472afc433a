"""`chargewatch tags add|set|remove|list`: the idTag registry (who may charge), offline.

Like `chargewatch chargers`, these write the store of a data dir while `chargewatch run` is
stopped (it loads the registry at start); the running one's lock makes them refuse, and
PUT/DELETE /api/v1/tags (admin) change a running one instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from chargewatch import idtags
from chargewatch.access_cli import offline_store, reported
from chargewatch.ops_client import OpsError

COMMAND = "tags"


def _time(text: str) -> float:
    """An ISO 8601 time (no zone: UTC) as epoch seconds."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2027-01-31T00:00:00Z)"
        ) from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _iso(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(COMMAND, help="the idTag registry: who may charge (offline)")
    actions = p.add_subparsers(dest="tags_command", required=True, metavar="ACTION")
    for name, text in (
        ("add", "register an idTag (accepted unless --status)"),
        ("set", "change a registered idTag (only the options given)"),
    ):
        a = actions.add_parser(name, help=text)
        a.add_argument("id_tag")
        a.add_argument("--status", choices=idtags.STATUSES)
        a.add_argument("--expires", type=_time, help="ISO 8601; answered Expired after it")
        a.add_argument("--parent", help="group / parent idTag (1.6 parentIdTag)")
        a.add_argument("--owner", help="the idTag of the driver who owns it")
        a.add_argument("--type", choices=idtags.TOKEN_TYPES, help="2.0.1 idToken type")
        a.add_argument("--note")
        if name == "set":
            a.add_argument("--no-expiry", action="store_true", help="remove the expiry")
        a.add_argument("--data-dir", type=Path, default="var", help="the store (./var)")
    rm = actions.add_parser("remove", help="forget an idTag (unknown from then on)")
    rm.add_argument("id_tag")
    rm.add_argument("--data-dir", type=Path, default="var")
    ls = actions.add_parser("list", help="registered idTags and the local list version")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--data-dir", type=Path, default="var")


def main(args: argparse.Namespace) -> int:
    return reported(_run, args)


def _run(args: argparse.Namespace) -> int:
    action = args.tags_command
    if action == "list":
        with offline_store(args.data_dir, write=False) as conn:
            tags, version = idtags.load(conn)
        rows = sorted(tags.values(), key=lambda t: t.id_tag.upper())
        if args.json:
            items = [asdict(t) for t in rows]
            print(json.dumps({"list_version": version, "count": len(items), "tags": items}))
            return 0
        for t in rows:
            print(
                f"{t.id_tag}\t{t.status}\texpires {_iso(t.expiry)}\t"
                f"parent {t.parent_id or '-'}\towner {t.owner or '-'}"
            )
        print(f"{len(rows)} tags, list version {version}", file=sys.stderr)
        return 0
    idtags.check_id_tag(args.id_tag)
    with offline_store(args.data_dir, write=True) as conn:
        tags, _ = idtags.load(conn)
        known = tags.get(args.id_tag.upper())
        if action == "remove":
            version = idtags.remove(conn, args.id_tag)
            if version is None:
                raise OpsError(f"no idTag {args.id_tag!r} is registered")
            print(f"{args.id_tag}: removed (list version {version})", file=sys.stderr)
            return 0
        if action == "add" and known is not None:
            raise OpsError(f"{known.id_tag!r} is registered already: use set")
        if action == "set" and known is None:
            raise OpsError(f"no idTag {args.id_tag!r} is registered: add it first")
        tag = known or idtags.Tag(args.id_tag)
        changes = {
            "status": args.status,
            "expiry": args.expires,
            "parent_id": args.parent,
            "owner": args.owner,
            "token_type": args.type,
            "note": args.note,
        }
        tag = replace(tag, **{k: v for k, v in changes.items() if v is not None})
        if getattr(args, "no_expiry", False):
            tag = replace(tag, expiry=None)
        stored, version = idtags.save(conn, tag)
    print(
        f"{stored.id_tag}: {stored.status}, expires {_iso(stored.expiry)} (list version {version})",
        file=sys.stderr,
    )
    return 0
