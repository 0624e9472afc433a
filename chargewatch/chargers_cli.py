"""`chargewatch chargers add|set-password|remove|list`: the chargers that authenticate, their
security profile and their password (kept as a scrypt hash; a generated one is shown once).

These write the store of a data dir while `chargewatch run` is stopped (it reads them at
start); the running collector's lock makes them refuse clearly otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chargewatch import credentials
from chargewatch.access_cli import offline_store, reported
from chargewatch.ops_client import OpsError

COMMAND = "chargers"


def _profile(text: str) -> int:
    if text not in ("0", "1", "2", "3"):
        raise argparse.ArgumentTypeError("a security profile is 0, 1, 2 or 3")
    return int(text)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(COMMAND, help="charger credentials and security profiles")
    actions = p.add_subparsers(dest="chargers_command", required=True, metavar="ACTION")
    for name, text in (
        ("add", "register a charger (a password is generated unless --password-stdin)"),
        ("set-password", "give a charger a new password (generated unless --password-stdin)"),
    ):
        a = actions.add_parser(name, help=text)
        a.add_argument("charger_id")
        a.add_argument("--password-stdin", action="store_true", help="read it from stdin")
        a.add_argument("--data-dir", type=Path, default="var", help="the store (./var)")
        if name == "add":
            a.add_argument("--profile", type=_profile, default=1, help="least security profile (1)")
    rm = actions.add_parser("remove", help="forget a charger's credentials")
    rm.add_argument("charger_id")
    rm.add_argument("--data-dir", type=Path, default="var")
    ls = actions.add_parser("list", help="chargers with credentials (never the passwords)")
    ls.add_argument("--data-dir", type=Path, default="var")


def main(args: argparse.Namespace) -> int:
    return reported(_run, args)


def _run(args: argparse.Namespace) -> int:
    action = args.chargers_command
    if action == "list":
        with offline_store(args.data_dir, write=False) as conn:
            rows = sorted(credentials.load(conn).values(), key=lambda c: c.charger_id)
        for c in rows:
            has = "password" if c.password_hash else "no password"
            print(f"{c.charger_id}\tprofile {c.profile}\t{has}")
        return 0
    with offline_store(args.data_dir, write=True) as conn:
        known = credentials.load(conn)
        cid = args.charger_id
        if action == "remove":
            if not credentials.remove(conn, cid):
                raise OpsError(f"no credentials for {cid!r}")
            print(f"{cid}: credentials removed; it can connect only where no profile is needed")
            return 0
        if action == "set-password" and cid not in known:
            raise OpsError(f"no charger {cid!r}: add it first")
        if action == "add" and cid in known:
            raise OpsError(f"{cid!r} is registered already: use set-password")
        generated = not args.password_stdin
        password = (
            credentials.generate_password()
            if generated
            else credentials.check_password(sys.stdin.readline().rstrip("\n"))
        )
        profile = args.profile if action == "add" else known[cid].profile
        credentials.save(conn, cid, credentials.hash_password(password), profile)
    if generated:  # shown once: the store keeps only its hash
        print(password)
        print(f"{cid}: password above, shown only now (profile {profile})", file=sys.stderr)
    else:
        print(f"{cid}: password set (profile {profile})", file=sys.stderr)
    return 0
