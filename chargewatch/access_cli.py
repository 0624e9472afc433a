"""`chargewatch tokens create|list|revoke` and `chargewatch audit`.

Over the API of a running `chargewatch run` (an admin token for tokens, operator for the
audit), or offline with `--data-dir`, writing the store directly: that is how the first
token is made, and it needs the data-dir lock, so it refuses while `run` holds it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chargewatch import access as ac
from chargewatch import store
from chargewatch.datadir import DataDirBusy, DataDirLock
from chargewatch.ops_cli import _common, _json, _limit, _local, _table
from chargewatch.ops_client import Client, OpsError

COMMANDS = ("tokens", "audit")
OFFLINE_BY = "cli --data-dir"  # created_by of tokens made offline


def add_parsers(sub: argparse._SubParsersAction) -> None:
    common = [_common()]
    offline = argparse.ArgumentParser(add_help=False)
    offline.add_argument(
        "--data-dir",
        type=Path,
        help="write the store directly instead of calling the API (only while "
        "`chargewatch run` is stopped: the first token is made this way)",
    )
    tokens = sub.add_parser("tokens", help="API tokens: create, list, revoke")
    cmds = tokens.add_subparsers(dest="tokens_command", required=True, metavar="COMMAND")
    create = cmds.add_parser(
        "create", parents=[*common, offline], help="make a token (printed once)"
    )
    create.add_argument("--name", required=True, help="who or what uses it, e.g. grafana")
    create.add_argument("--role", required=True, choices=ac.ROLES)
    listing = cmds.add_parser("list", parents=[*common, offline], help="tokens, never secrets")
    listing.add_argument("--revoked", action="store_true", help="also the revoked ones")
    listing.add_argument("--json", action="store_true", help="the API's JSON answer")
    revoke = cmds.add_parser("revoke", parents=[*common, offline], help="revoke a token")
    revoke.add_argument("name")
    audit = sub.add_parser(
        "audit", parents=[*common, offline], help="who changed what, newest first"
    )
    audit.add_argument("--limit", type=_limit, default=50, help="default %(default)s")
    audit.add_argument("--before", type=int, help="an id from the previous page")
    audit.add_argument("--json", action="store_true", help="the API's JSON answer")


def reported(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run an offline store command (`chargers`, `tags`): what refuses it (OpsError) exits
    1, bad input (ValueError) 2, either said on stderr."""
    try:
        return run(args)
    except (OpsError, ValueError) as exc:
        print(f"chargewatch: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1


@contextlib.contextmanager
def offline_store(data_dir: Path, write: bool) -> Iterator[Any]:
    """The store of a data dir; writing needs the lock `chargewatch run` holds."""
    lock = DataDirLock(data_dir)
    if write:
        try:
            lock.acquire()
        except DataDirBusy as exc:
            raise OpsError(f"{exc}; or use the API of the running one (--url, --token)") from None
    elif not (data_dir / "chargewatch.db").exists():
        raise OpsError(f"no ChargeWatch store in {data_dir}")
    try:
        conn = store.open_db(data_dir / "chargewatch.db")
        with contextlib.closing(conn):
            yield conn
    finally:
        lock.release()


def main(args: argparse.Namespace) -> int:
    try:
        if args.command == "audit":
            return _audit(args)
        return {"create": _create, "list": _list}.get(args.tokens_command, _revoke)(args)
    except OpsError as exc:
        print(f"chargewatch: {exc}", file=sys.stderr)
        return 2 if exc.usage else 1


def _client(args: argparse.Namespace) -> Client:
    return Client(args.url, args.token or os.environ.get("CHARGEWATCH_TOKEN"))


def _create(args: argparse.Namespace) -> int:
    if args.data_dir is not None:
        with offline_store(args.data_dir, write=True) as conn:
            try:
                token = ac.insert_token(conn, args.name, args.role, OFFLINE_BY)
            except ValueError as exc:
                raise OpsError(str(exc)) from None
    else:
        token = _client(args).post("/api/v1/tokens", {"name": args.name, "role": args.role})[
            "token"
        ]
    print(
        f"token {args.name!r} ({args.role}) created; it is shown this once, keep it now:",
        file=sys.stderr,
    )
    print(token)
    return 0


def _list(args: argparse.Namespace) -> int:
    if args.data_dir is not None:
        with offline_store(args.data_dir, write=False) as conn:
            rows = [{**r, "source": "store"} for r in ac.read_tokens(conn, args.revoked)]
        dates = ("created", "last_used", "revoked")
        items = [{**r, **{k: _iso(r[k]) for k in dates}} for r in rows]
        answer: dict[str, Any] = {"count": len(items), "tokens": items}
    else:
        answer = _client(args).get("/api/v1/tokens", revoked="true" if args.revoked else None)
    if args.json:
        _json(answer)
        return 0
    if not answer["tokens"]:
        print("no tokens")
        return 0
    rows = [
        [
            t["name"],
            t["role"],
            t["source"],
            _local(t.get("created")),
            t.get("created_by") or "-",
            _local(t.get("last_used")),
            *([_local(t.get("revoked"))] if args.revoked else []),
        ]
        for t in answer["tokens"]
    ]
    header = ["NAME", "ROLE", "SOURCE", "CREATED", "BY", "LAST USED"]
    _table([*header, *(["REVOKED"] if args.revoked else [])], rows)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    if args.data_dir is not None:
        with offline_store(args.data_dir, write=True) as conn:
            if not ac.revoke_token(conn, args.name):
                raise OpsError(f"no active token is named {args.name!r}")
    else:
        _client(args).delete(f"/api/v1/tokens/{quote(args.name, safe='')}")
    print(f"token {args.name!r} revoked")
    return 0


def _audit(args: argparse.Namespace) -> int:
    if args.data_dir is not None:
        with offline_store(args.data_dir, write=False) as conn:
            rows = ac.read_audit(conn, args.limit, args.before)
        items = [{**r, "at": _iso(r["at"])} for r in rows]
        answer: dict[str, Any] = {"items": items}
    else:
        answer = _client(args).get("/api/v1/audit", limit=args.limit, before=args.before)
    if args.json:
        _json(answer)
        return 0
    if not answer["items"]:
        print("no state-changing calls recorded")
        return 0
    rows = [
        [
            str(e["id"]),
            _local(e["at"]),
            e["who"],
            e["method"],
            e["path"] + (f"?{e['query']}" if e["query"] else ""),
            str(e["status"]),
            e["summary"] or "-",
        ]
        for e in answer["items"]
    ]
    _table(["ID", "AT", "WHO", "METHOD", "PATH", "STATUS", "BODY"], rows)
    return 0


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()
