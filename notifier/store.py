"""The notifier's tables in the data dir's SQLite store: the outbox, the notification log,
the dispatcher's snapshot, and the silences projection (written by the journal).

Durability: the runner inserts a notification's outbox rows, the dispatcher snapshot and
its journal cursor in ONE transaction, so a notification is decided exactly once. The
delivery worker marks a row `sending` before the attempt and `sent` after it; a row found
`sending` at start was interrupted by a crash and is sent again (at-least-once), marked
`resumed` so the log shows the possible duplicate.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from chargewatch import store

CONSUMER = "notifier"
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A message for one target, as the runner decides it."""

    receiver: str
    target: str
    target_label: str  # redacted: what logs and the API show
    channel: str
    reason: str
    group_key: str
    message: str  # Message as JSON


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    created: float
    receiver: str
    target: str
    target_label: str
    channel: str
    message: str
    attempts: int
    resumed: bool


def load_snapshot(conn: sqlite3.Connection) -> tuple[int, str] | None:
    row = conn.execute("SELECT seq, data FROM notifier_state WHERE id=1").fetchone()
    return None if row is None else (row[0], row[1])


def commit(
    conn: sqlite3.Connection,
    rows: list[OutboxRow],
    seq: int | None,
    snapshot: str | None,
    now: float,
) -> list[int]:
    """Outbox rows, and the dispatcher state with its journal position, atomically;
    returns the new rows' ids."""
    ids = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for r in rows:
            cur = conn.execute(
                "INSERT INTO outbox (created, receiver, target, target_label, channel, reason, "
                "group_key, message, state, next_attempt) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    now,
                    r.receiver,
                    r.target,
                    r.target_label,
                    r.channel,
                    r.reason,
                    r.group_key,
                    r.message,
                    PENDING,
                    now,
                ),
            )
            ids.append(cur.lastrowid)
        if seq is not None and snapshot is not None:
            conn.execute(
                "INSERT OR REPLACE INTO notifier_state (id, seq, taken, data) VALUES (1,?,?,?)",
                (seq, now, snapshot),
            )
            store.save_cursor(conn, CONSUMER, seq, now)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return ids


def firing_alerts(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The alerts firing now, from the store's `alerts` projection (for a first start)."""
    cols = (
        "fingerprint", "rule", "severity", "labels", "annotations", "value", "active_since",
        "fired_at", "explained_by", "acknowledged_by", "acknowledged_at", "runbook_url",
    )  # fmt: skip
    rows = conn.execute(
        f"SELECT {', '.join(cols)} FROM alerts WHERE state='firing' ORDER BY fired_at"
    ).fetchall()
    out = []
    for r in rows:
        item = dict(zip(cols, r, strict=True))
        item["labels"], item["annotations"] = json.loads(r[3]), json.loads(r[4])
        out.append(item)
    return out


def resume_interrupted(conn: sqlite3.Connection) -> int:
    """Rows a crash left `sending` go out again; returns how many."""
    return conn.execute(
        "UPDATE outbox SET state=?, resumed=1 WHERE state=?", (PENDING, SENDING)
    ).rowcount


def due(
    conn: sqlite3.Connection, now: float, limit: int = 500, target: str | None = None
) -> list[OutboxItem]:
    """Messages due by `now`, oldest first (of one target, when given)."""
    sql = (
        "SELECT id, created, receiver, target, target_label, channel, message, attempts, "
        "resumed FROM outbox WHERE state=? AND next_attempt<=?"
    )
    args: tuple[Any, ...] = (PENDING, now)
    if target is not None:
        sql, args = sql + " AND target=?", (*args, target)
    rows = conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
    return [OutboxItem(*r[:8], bool(r[8])) for r in rows]


def due_targets(conn: sqlite3.Connection, now: float) -> list[str]:
    """Targets with a message due by `now`."""
    rows = conn.execute(
        "SELECT DISTINCT target FROM outbox WHERE state=? AND next_attempt<=?", (PENDING, now)
    )
    return [r[0] for r in rows]


def next_attempt(conn: sqlite3.Connection, busy: list[str] | None = None) -> float | None:
    """When the next message is due, leaving out targets that are being delivered to."""
    marks = ",".join("?" * len(busy or ()))
    sql = "SELECT MIN(next_attempt) FROM outbox WHERE state=?"
    if busy:
        sql += f" AND target NOT IN ({marks})"
    return conn.execute(sql, (PENDING, *(busy or ()))).fetchone()[0]


def mark_sending(conn: sqlite3.Connection, item: OutboxItem) -> None:
    conn.execute("UPDATE outbox SET state=?, attempts=attempts+1 WHERE id=?", (SENDING, item.id))


def release(conn: sqlite3.Connection, item: OutboxItem, next_at: float) -> None:
    """An attempt that could not be recorded: back to `pending`, tried again at `next_at`."""
    conn.execute(
        "UPDATE outbox SET state=?, next_attempt=? WHERE id=? AND state=?",
        (PENDING, next_at, item.id, SENDING),
    )


def finish(
    conn: sqlite3.Connection,
    item: OutboxItem,
    result: str,
    now: float,
    duration: float,
    error: str | None = None,
    receipt: str | None = None,
    next_at: float | None = None,
) -> None:
    """Record an attempt's outcome (`sent`, `retry` or `failed`) and log it."""
    state = {"sent": SENT, "retry": PENDING, "failed": FAILED}[result]
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE outbox SET state=?, last_error=?, sent_at=?, receipt=?, "
            "next_attempt=COALESCE(?, next_attempt) WHERE id=?",
            (state, error, now if result == "sent" else None, receipt, next_at, item.id),
        )
        if result == "retry":  # the target's later messages wait with it, in order
            conn.execute(
                "UPDATE outbox SET next_attempt=MAX(next_attempt, ?) WHERE target=? AND state=?",
                (next_at, item.target, PENDING),
            )
        conn.execute(
            "INSERT INTO notification_log (outbox_id, at, receiver, target, channel, attempt, "
            "result, error, duration, receipt) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                item.id,
                now,
                item.receiver,
                item.target_label,
                item.channel,
                item.attempts + 1,
                result,
                error,
                duration,
                receipt,
            ),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def pending(conn: sqlite3.Connection) -> int:
    """Messages not delivered yet (an index range, however long the history)."""
    return conn.execute(
        "SELECT COUNT(*) FROM outbox WHERE state IN (?, ?)", (PENDING, SENDING)
    ).fetchone()[0]


def prune(conn: sqlite3.Connection, older_than: float) -> int:
    """Forget delivered and failed messages, and log entries, older than the retention."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        n = conn.execute(
            "DELETE FROM outbox WHERE state IN (?, ?) AND created < ?", (SENT, FAILED, older_than)
        ).rowcount
        conn.execute("DELETE FROM notification_log WHERE at < ?", (older_than,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return n


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Outbox rows by state."""
    return dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())


LOG_COLUMNS = (
    "id",
    "outbox_id",
    "at",
    "receiver",
    "target",
    "channel",
    "attempt",
    "result",
    "error",
    "duration",
    "receipt",
)


def read_log(
    conn: sqlite3.Connection,
    limit: int,
    before: int | None = None,
    receiver: str | None = None,
    result: str | None = None,
) -> list[dict[str, Any]]:
    """Delivery attempts, newest first; page with `before` = the last id of a page."""
    where, args = [], []
    for clause, value in (("id < ?", before), ("receiver = ?", receiver), ("result = ?", result)):
        if value is not None:
            where.append(clause)
            args.append(value)
    sql = f"SELECT {', '.join(LOG_COLUMNS)} FROM notification_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
    return [dict(zip(LOG_COLUMNS, r, strict=True)) for r in rows]


def read_outbox(conn: sqlite3.Connection, ids: list[int]) -> list[dict[str, Any]]:
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        "SELECT id, receiver, target_label, channel, reason, state, attempts, last_error, "
        f"sent_at, receipt, message FROM outbox WHERE id IN ({marks}) ORDER BY id",
        ids,
    ).fetchall()
    cols = (
        "id",
        "receiver",
        "target",
        "channel",
        "reason",
        "state",
        "attempts",
        "last_error",
        "sent_at",
        "receipt",
    )
    return [{**dict(zip(cols, r[:10], strict=True)), "message": json.loads(r[10])} for r in rows]


def read_silences(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, matchers, starts_at, ends_at, created_by, comment, updated FROM silences "
        "ORDER BY starts_at DESC"
    ).fetchall()
    cols = ("id", "matchers", "starts_at", "ends_at", "created_by", "comment", "updated")
    out = []
    for r in rows:
        item = dict(zip(cols, r, strict=True))
        item["matchers"] = json.loads(item["matchers"])
        out.append(item)
    return out
