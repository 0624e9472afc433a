"""The alerts' tables of the store: the rule engine's snapshot, the alert history and the
self-healing attempts. Their rows are written with the journal (chargewatch/store.py, the
projections of chargewatch/projection_rows.py); this module reads them back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any


def read_rule_snapshot(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """The engine snapshot: (journal seq it includes, JSON), or None before the first."""
    row = conn.execute("SELECT seq, data FROM rule_snapshot WHERE id=1").fetchone()
    return None if row is None else (row[0], row[1])


def save_rule_snapshot(conn: sqlite3.Connection, seq: int, data: str, now: float) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO rule_snapshot (id, seq, taken, data) VALUES (1, ?, ?, ?)",
        (seq, now, data),
    )


def alert_transition_known(
    conn: sqlite3.Connection, fingerprint: str, state: str, previous: str | None, at: float
) -> bool:
    """Whether this transition is already in the history (a replay after a restart)."""
    row = conn.execute(
        "SELECT 1 FROM alert_history WHERE fingerprint=? AND at=? AND state=? "
        "AND previous IS ? LIMIT 1",
        (fingerprint, at, state, previous),
    ).fetchone()
    return row is not None


HISTORY_COLUMNS = (
    "id",
    "fingerprint",
    "rule",
    "severity",
    "state",
    "previous",
    "at",
    "value",
    "labels",
    "annotations",
    "explained_by",
    "acknowledged_by",
)


def alert_history(
    conn: sqlite3.Connection,
    limit: int,
    before: int | None = None,
    fingerprint: str | None = None,
    rule: str | None = None,
) -> list[dict[str, Any]]:
    """Past transitions, newest first; page with `before` = the last id of a page."""
    where, args = [], []
    for clause, value in (("id < ?", before), ("fingerprint = ?", fingerprint), ("rule = ?", rule)):
        if value is not None:
            where.append(clause)
            args.append(value)
    sql = f"SELECT {', '.join(HISTORY_COLUMNS)} FROM alert_history"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
    out = []
    for row in rows:
        item = dict(zip(HISTORY_COLUMNS, row, strict=True))
        item["labels"] = json.loads(item["labels"])
        item["annotations"] = json.loads(item["annotations"])
        out.append(item)
    return out


REMEDIATION_COLUMNS = (
    "fingerprint",
    "rule",
    "charger_id",
    "connector_id",
    "at",
    "alert_state",
    "action",
    "command",
    "outcome",
    "status",
    "reason",
    "spent",
    "summary",
)


def remediations(conn: sqlite3.Connection, fingerprints: Iterable[str]) -> list[dict[str, Any]]:
    """What self-healing tried for these alerts (rules/healer.py), oldest first."""
    wanted = list(dict.fromkeys(fingerprints))
    out: list[dict[str, Any]] = []
    for i in range(0, len(wanted), 500):  # SQLite's bound on host parameters
        chunk = wanted[i : i + 500]
        rows = conn.execute(
            f"SELECT {', '.join(REMEDIATION_COLUMNS)} FROM remediations "
            f"WHERE fingerprint IN ({', '.join('?' * len(chunk))}) ORDER BY at, id",
            chunk,
        ).fetchall()
        out += [dict(zip(REMEDIATION_COLUMNS, row, strict=True)) for row in rows]
    out.sort(key=lambda r: r["at"])
    return [r | {"spent": bool(r["spent"])} for r in out]


def remediations_spent(conn: sqlite3.Connection, since: float) -> dict[tuple[str, str], int]:
    """Self-healing attempts that count against the daily budget since `since`, per
    (charger, rule): a restart continues the day's count instead of starting over."""
    rows = conn.execute(
        "SELECT charger_id, rule, COUNT(*) FROM remediations WHERE spent=1 AND at >= ? "
        "GROUP BY charger_id, rule",
        (since,),
    ).fetchall()
    return {(cid, rule): n for cid, rule, n in rows}
