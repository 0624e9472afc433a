"""The SQLite store under the data dir: the journal, the projections and the raw message log.

The journal is the source of truth (append-only, one row per event, read by consumers
from their own cursor); the projection tables are the current state and the histories
that the API and reports read. Both are written in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from chargewatch import events as ev
from chargewatch.state import (
    TABLE_COLUMNS,
    ChargerState,
    ConnectorState,
    Insert,
    LiveState,
    SessionState,
)

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY, ts REAL NOT NULL, charger_id TEXT NOT NULL,
    kind TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS import_journal (
    seq INTEGER PRIMARY KEY, line_key TEXT NOT NULL UNIQUE, charger_id TEXT NOT NULL,
    ts REAL NOT NULL, action TEXT NOT NULL, events TEXT NOT NULL, source TEXT NOT NULL,
    imported_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS import_journal_by_charger ON import_journal (charger_id, ts);
CREATE TABLE IF NOT EXISTS chargers (
    charger_id TEXT PRIMARY KEY, vendor TEXT, model TEXT, serial_number TEXT,
    charge_box_serial_number TEXT, firmware_version TEXT, iccid TEXT, imsi TEXT,
    meter_type TEXT, meter_serial_number TEXT, heartbeat_interval INTEGER,
    first_seen REAL, last_seen REAL, last_boot REAL, boot_count INTEGER NOT NULL DEFAULT 0,
    connected INTEGER NOT NULL DEFAULT 0, connected_since REAL, protocol TEXT, remote TEXT,
    firmware_status TEXT, diagnostics_status TEXT);
CREATE TABLE IF NOT EXISTS connectors (
    charger_id TEXT NOT NULL, connector_id INTEGER NOT NULL, status TEXT, error_code TEXT,
    info TEXT, vendor_id TEXT, vendor_error_code TEXT, fault_category TEXT, since REAL,
    updated REAL, charger_ts REAL, session_id TEXT,
    PRIMARY KEY (charger_id, connector_id));
CREATE TABLE IF NOT EXISTS status_history (
    id INTEGER PRIMARY KEY, charger_id TEXT NOT NULL, connector_id INTEGER NOT NULL,
    ts REAL NOT NULL, charger_ts REAL, status TEXT NOT NULL, error_code TEXT, info TEXT,
    vendor_id TEXT, vendor_error_code TEXT, fault_category TEXT);
CREATE INDEX IF NOT EXISTS status_history_by_connector
    ON status_history (charger_id, connector_id, ts);
CREATE TABLE IF NOT EXISTS connection_history (
    id INTEGER PRIMARY KEY, charger_id TEXT NOT NULL, ts REAL NOT NULL, event TEXT NOT NULL,
    remote TEXT, protocol TEXT, code INTEGER, reason TEXT);
CREATE INDEX IF NOT EXISTS connection_history_by_charger ON connection_history (charger_id, ts);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, transaction_id TEXT NOT NULL, charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL, id_tag TEXT, auth_status TEXT, meter_start_wh REAL,
    meter_last_wh REAL, meter_stop_wh REAL, energy_wh REAL, started_at REAL, stopped_at REAL,
    stop_reason TEXT, stop_id_tag TEXT, reservation_id INTEGER, received_at REAL,
    updated_at REAL, peak_power_w REAL, first_power_at REAL, last_power_at REAL);
CREATE INDEX IF NOT EXISTS sessions_by_charger ON sessions (charger_id, started_at);
CREATE TABLE IF NOT EXISTS cursors (
    consumer TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, charger_id TEXT NOT NULL, ts REAL NOT NULL, message_id TEXT,
    action TEXT, request TEXT NOT NULL, response TEXT, ok INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_charger ON messages (charger_id, id);
CREATE INDEX IF NOT EXISTS messages_by_ts ON messages (ts);
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT PRIMARY KEY, rule TEXT NOT NULL, severity TEXT NOT NULL,
    state TEXT NOT NULL, labels TEXT NOT NULL, annotations TEXT NOT NULL, value REAL,
    active_since REAL, fired_at REAL, resolved_at REAL, explained_by TEXT,
    acknowledged_by TEXT, acknowledged_at REAL, runbook_url TEXT, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS alert_history (
    id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, rule TEXT NOT NULL,
    severity TEXT NOT NULL, state TEXT NOT NULL, previous TEXT, at REAL NOT NULL,
    value REAL, labels TEXT NOT NULL, annotations TEXT NOT NULL, explained_by TEXT,
    acknowledged_by TEXT);
CREATE INDEX IF NOT EXISTS alert_history_by_alert ON alert_history (fingerprint, at);
CREATE TABLE IF NOT EXISTS rule_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, taken REAL NOT NULL,
    data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at REAL NOT NULL,
    ends_at REAL NOT NULL, created_by TEXT NOT NULL, comment TEXT NOT NULL,
    updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS exclusions (
    id TEXT PRIMARY KEY, charger_id TEXT NOT NULL, connector_id INTEGER NOT NULL,
    starts_at REAL NOT NULL, ends_at REAL NOT NULL, category TEXT NOT NULL,
    note TEXT NOT NULL, created_by TEXT NOT NULL, removed INTEGER NOT NULL,
    updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS report_runs (
    month TEXT NOT NULL, site TEXT NOT NULL, state TEXT NOT NULL, started REAL,
    finished REAL, files TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (month, site));
CREATE TABLE IF NOT EXISTS notifier_state (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, taken REAL NOT NULL,
    data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, created REAL NOT NULL, receiver TEXT NOT NULL,
    target TEXT NOT NULL, target_label TEXT NOT NULL, channel TEXT NOT NULL,
    reason TEXT NOT NULL, group_key TEXT NOT NULL, message TEXT NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL,
    last_error TEXT, sent_at REAL, receipt TEXT, resumed INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt);
CREATE INDEX IF NOT EXISTS outbox_by_target ON outbox (target, state, id);
CREATE TABLE IF NOT EXISTS notification_log (
    id INTEGER PRIMARY KEY, outbox_id INTEGER NOT NULL, at REAL NOT NULL,
    receiver TEXT NOT NULL, target TEXT NOT NULL, channel TEXT NOT NULL,
    attempt INTEGER NOT NULL, result TEXT NOT NULL, error TEXT, duration REAL,
    receipt TEXT);
CREATE INDEX IF NOT EXISTS notification_log_by_outbox ON notification_log (outbox_id);
CREATE INDEX IF NOT EXISTS notification_log_by_time ON notification_log (at);
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE, created REAL NOT NULL, created_by TEXT NOT NULL,
    last_used REAL, revoked REAL);
CREATE UNIQUE INDEX IF NOT EXISTS api_tokens_active_name ON api_tokens (name)
    WHERE revoked IS NULL;
CREATE TABLE IF NOT EXISTS remediations (
    id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, rule TEXT NOT NULL,
    charger_id TEXT NOT NULL, connector_id INTEGER, at REAL NOT NULL, alert_state TEXT NOT NULL,
    action TEXT NOT NULL, command TEXT NOT NULL, outcome TEXT NOT NULL, status TEXT, reason TEXT,
    spent INTEGER NOT NULL, summary TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS remediations_by_alert ON remediations (fingerprint, at);
CREATE INDEX IF NOT EXISTS remediations_by_time ON remediations (at);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, who TEXT NOT NULL, role TEXT,
    method TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL, summary TEXT NOT NULL,
    status INTEGER NOT NULL);
"""

_INSERTS = {
    "status_history": "INSERT INTO status_history (charger_id, connector_id, ts, charger_ts, "
    "status, error_code, info, vendor_id, vendor_error_code, fault_category) "
    "VALUES (?,?,?,?,?,?,?,?,?,?)",
    "connection_history": "INSERT INTO connection_history (charger_id, ts, event, remote, "
    "protocol, code, reason) VALUES (?,?,?,?,?,?,?)",
    "alert_history": "INSERT INTO alert_history (fingerprint, rule, severity, state, "
    "previous, at, value, labels, annotations, explained_by, acknowledged_by) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    "remediations": "INSERT INTO remediations (fingerprint, rule, charger_id, connector_id, at, "
    "alert_state, action, command, outcome, status, reason, spent, summary) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
}
_UPSERTS = {
    table: f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) "
    f"VALUES ({', '.join('?' * len(cols))})"
    for table, cols in TABLE_COLUMNS.items()
}
_UPSERTS["sessions_stub"] = _UPSERTS["sessions"].replace("OR REPLACE", "OR IGNORE")
_UPSERTS["meta"] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"
_UPSERTS["silences"] = (
    "INSERT OR REPLACE INTO silences (id, matchers, starts_at, ends_at, created_by, comment, "
    "updated) VALUES (?,?,?,?,?,?,?)"
)
_UPSERTS["exclusions"] = (
    "INSERT OR REPLACE INTO exclusions (id, charger_id, connector_id, starts_at, ends_at, "
    "category, note, created_by, removed, updated) VALUES (?,?,?,?,?,?,?,?,?,?)"
)
# a ReportPublished marks its run done in the journal's transaction (reports/scheduler.py
# wrote the `running` row; the row's start and attempts stay)
_UPSERTS["report_runs"] = (
    "INSERT INTO report_runs (month, site, state, started, finished, files, attempts) "
    "VALUES (?,?,'done',?,?,?,1) ON CONFLICT (month, site) DO UPDATE SET state='done', "
    "finished=excluded.finished, files=excluded.files, error=NULL"
)
_UPSERTS["alerts"] = (
    "INSERT OR REPLACE INTO alerts (fingerprint, rule, severity, state, labels, annotations, "
    "value, active_since, fired_at, resolved_at, explained_by, acknowledged_by, "
    "acknowledged_at, runbook_url, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_JOURNAL_INSERT = "INSERT INTO journal (ts, charger_id, kind, data) VALUES (?,?,?,?)"
_MESSAGE_INSERT = (
    "INSERT INTO messages (charger_id, ts, message_id, action, request, response, ok) "
    "VALUES (?,?,?,?,?,?,?)"
)


def open_reader(path: Path) -> sqlite3.Connection:
    """A second connection for a journal consumer: reads the journal, writes its cursor.

    WAL mode lets it read while the journal writer commits; its own small writes wait
    for the writer's lock (busy timeout) instead of failing.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def open_db(path: Path, synchronous: str = "full") -> sqlite3.Connection:
    """Open (creating if needed) the store in WAL mode."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(SCHEMA)
    _add_columns(conn)
    version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if version is None:
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    elif int(version[0]) > SCHEMA_VERSION:
        raise RuntimeError(
            f"{path} was written by a newer ChargeWatch (schema {version[0]}, "
            f"this one knows {SCHEMA_VERSION})"
        )
    return conn


# Columns added after a table's first release: a store written by an older version gets
# them at open (SQLite's ADD COLUMN is instant; old rows read as NULL).
ADDED_COLUMNS = {
    "sessions": ("peak_power_w REAL", "first_power_at REAL", "last_power_at REAL"),
}


def _add_columns(conn: sqlite3.Connection) -> None:
    for table, columns in ADDED_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column.split()[0] not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def read_exclusions(
    conn: sqlite3.Connection, include_removed: bool = False
) -> list[dict[str, Any]]:
    """Operator-declared outage exclusions, oldest first."""
    sql = (
        "SELECT id, charger_id, connector_id, starts_at, ends_at, category, note, created_by, "
        "removed, updated FROM exclusions"
    )
    if not include_removed:
        sql += " WHERE removed = 0"
    cols = (
        "id",
        "charger_id",
        "connector_id",
        "starts_at",
        "ends_at",
        "category",
        "note",
        "created_by",
        "removed",
        "updated",
    )
    rows = conn.execute(sql + " ORDER BY starts_at, id").fetchall()
    return [dict(zip(cols, row, strict=True)) | {"removed": bool(row[8])} for row in rows]


def encode_event(event: ev.Event) -> tuple[float, str, str, str]:
    return (
        event.ts,
        event.charger_id,
        event.kind,
        json.dumps(event.to_dict(), separators=(",", ":")),
    )


def write(
    conn: sqlite3.Connection,
    journal_rows: list[tuple[float, str, str, str]],
    upserts: Iterable[tuple[str, tuple[Any, ...]]],
    inserts: list[Insert],
    messages: list[ev.RawMessage],
) -> None:
    """Write one group commit: journal rows, projection rows and raw messages, atomically."""
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        cur.executemany(_JOURNAL_INSERT, journal_rows)
        for table, row in upserts:
            cur.execute(_UPSERTS[table], row)
        for table, row in inserts:
            cur.execute(_INSERTS[table], row)
        if messages:
            cur.executemany(
                _MESSAGE_INSERT,
                [
                    (m.charger_id, m.ts, m.message_id, m.action, m.request, m.response, int(m.ok))
                    for m in messages
                ],
            )
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise


def write_rows(
    cur: sqlite3.Cursor, upserts: Iterable[tuple[str, tuple[Any, ...]]], inserts: list[Insert]
) -> None:
    """Projection rows inside the caller's transaction (the history import, which must not
    touch the journal)."""
    for table, row in upserts:
        cur.execute(_UPSERTS[table], row)
    for table, row in inserts:
        cur.execute(_INSERTS[table], row)


def prune_messages(conn: sqlite3.Connection, older_than: float) -> int:
    """Drop raw messages older than the retention bound; returns how many went."""
    return conn.execute("DELETE FROM messages WHERE ts < ?", (older_than,)).rowcount


def _load(conn: sqlite3.Connection, cls: type, table: str, where: str = "") -> Iterator[Any]:
    cols = TABLE_COLUMNS[table]
    for row in conn.execute(f"SELECT {', '.join(cols)} FROM {table} {where}"):
        yield cls(**dict(zip(cols, row, strict=True)))


def load_state(conn: sqlite3.Connection, site_of: dict[str, str] | None = None) -> LiveState:
    """Rebuild the live state from the projection tables (at start-up)."""
    state = LiveState(site_of)
    for charger in _load(conn, ChargerState, "chargers"):
        charger.connected = bool(charger.connected)
        charger.site = (site_of or {}).get(charger.charger_id)
        state.chargers[charger.charger_id] = charger
    for conn_state in _load(conn, ConnectorState, "connectors"):
        state.charger(conn_state.charger_id).connectors[conn_state.connector_id] = conn_state
    for session in _load(conn, SessionState, "sessions", "WHERE stopped_at IS NULL"):
        state.sessions[session.session_id] = session
        charger = state.charger(session.charger_id)
        key = (session.connector_id, session.id_tag, session.started_at, session.meter_start_wh)
        charger.recent_starts[key] = session.session_id
    row = conn.execute("SELECT value FROM meta WHERE key='next_transaction_id'").fetchone()
    if row is not None:
        state.next_transaction_id = int(row[0])
    return state


def recent_responses(
    conn: sqlite3.Connection, charger_id: str, limit: int
) -> list[tuple[str, str]]:
    """The last successful (message id, response) pairs of a charger, oldest first."""
    rows = conn.execute(
        "SELECT message_id, response FROM messages WHERE charger_id=? AND ok=1 "
        "AND message_id IS NOT NULL ORDER BY id DESC LIMIT ?",
        (charger_id, limit),
    ).fetchall()
    return list(reversed(rows))


def last_seq(conn: sqlite3.Connection) -> int:
    """The sequence number of the newest journal event (0 when empty)."""
    return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()[0]


def read_cursor(conn: sqlite3.Connection, consumer: str) -> int:
    """Where a journal consumer stopped: the last sequence number it has fully handled."""
    row = conn.execute("SELECT seq FROM cursors WHERE consumer=?", (consumer,)).fetchone()
    return 0 if row is None else row[0]


def save_cursor(conn: sqlite3.Connection, consumer: str, seq: int, now: float) -> None:
    conn.execute(
        "INSERT INTO cursors (consumer, seq, updated) VALUES (?, ?, ?) "
        "ON CONFLICT(consumer) DO UPDATE SET seq=excluded.seq, updated=excluded.updated",
        (consumer, seq, now),
    )


def read_journal_raw(
    conn: sqlite3.Connection, after: int, limit: int
) -> list[tuple[int, str, str]]:
    """(seq, kind, JSON data) after a cursor; consumers decode only what they need."""
    return conn.execute(
        "SELECT seq, kind, data FROM journal WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
    ).fetchall()


def read_journal(
    conn: sqlite3.Connection, after: int = 0, limit: int = 1000
) -> list[tuple[int, ev.Event]]:
    """Events after a cursor, for consumers that follow the journal."""
    rows = read_journal_raw(conn, after, limit)
    return [(seq, ev.event_from_dict(kind, json.loads(data))) for seq, kind, data in rows]
