"""The checked lines of an import, staged in a temporary SQLite table: ordered and paired there.

A log of a few days of a large network has millions of lines and files need not be in time
order, so lines go to a TEMP table (on disk, private to this connection) instead of memory.
SQL then marks the duplicates, pairs each charger Call with its logged answer and hands the
new calls out per charger in timestamp order, with bounded memory whatever the input size.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from collector.history.ocpp_log import INBOUND, LogLine

PAIR_WINDOW_S = 600.0  # an answer logged later than this after its call is not taken as its answer

# dup: 0 new, 1 imported by an earlier run (import_journal has its key), 2 a copy in this run
_SCHEMA = """
CREATE TEMP TABLE staged (
    ord INTEGER PRIMARY KEY, charger_id TEXT NOT NULL, ts REAL NOT NULL, src INTEGER NOT NULL,
    line INTEGER NOT NULL, inbound INTEGER NOT NULL, mtype INTEGER NOT NULL, uid TEXT NOT NULL,
    action TEXT, frame TEXT NOT NULL, key TEXT, dup INTEGER NOT NULL DEFAULT 0, pair INTEGER);
"""
_INSERT = (
    "INSERT INTO staged (charger_id, ts, src, line, inbound, mtype, uid, action, frame, key) "
    "VALUES (?,?,?,?,?,?,?,?,?,?)"
)
_NEW_CALL = "mtype = 2 AND inbound = 1 AND dup = 0"
_PREPARE = f"""
CREATE INDEX temp.staged_key ON staged (key) WHERE mtype = 2;
UPDATE staged SET dup = 2 WHERE mtype = 2 AND ord > (
    SELECT MIN(s.ord) FROM staged s WHERE s.mtype = 2 AND s.key = staged.key);
UPDATE staged SET dup = 1 WHERE mtype = 2 AND dup = 0 AND EXISTS (
    SELECT 1 FROM main.import_journal j WHERE j.line_key = staged.key);
CREATE INDEX temp.staged_calls ON staged (charger_id, uid, ts)
    WHERE mtype = 2 AND inbound = 1 AND dup < 2;
UPDATE staged SET pair = (
    SELECT c.ord FROM staged c
    WHERE c.mtype = 2 AND c.inbound = 1 AND c.dup < 2 AND c.charger_id = staged.charger_id
      AND c.uid = staged.uid AND c.ts <= staged.ts AND c.ts >= staged.ts - {PAIR_WINDOW_S}
    ORDER BY c.ts DESC, c.ord DESC LIMIT 1)
WHERE mtype IN (3, 4) AND inbound != 1;
CREATE INDEX temp.staged_pair ON staged (pair, ord) WHERE pair IS NOT NULL;
CREATE INDEX temp.staged_new ON staged (charger_id, ts, ord) WHERE {_NEW_CALL};
"""
_CALLS = f"""
SELECT c.ts, c.src, c.line, c.uid, c.action, c.frame, c.key, a.frame, a.src, a.line
FROM staged c LEFT JOIN staged a
    ON a.ord = (SELECT MIN(r.ord) FROM staged r WHERE r.pair = c.ord)
WHERE c.charger_id = ? AND c.{_NEW_CALL.replace(" AND ", " AND c.")}
ORDER BY c.ts, c.ord
"""
_COUNTS = f"""
SELECT
    SUM(mtype = 2 AND inbound = 0),
    SUM(mtype = 2 AND inbound = 1 AND dup > 0),
    SUM(mtype != 2 AND pair IS NULL),
    SUM(mtype != 2 AND pair IS NOT NULL AND (
        ord > (SELECT MIN(r.ord) FROM staged r WHERE r.pair = s.pair)
        OR (SELECT c.dup FROM staged c WHERE c.ord = s.pair) = 1)),
    SUM({_NEW_CALL})
FROM staged s
"""


class StagedCall(NamedTuple):
    """A new charger Call and its logged answer (the first one, if any)."""

    ts: float
    src: int
    line: int
    uid: str
    action: str
    frame: str
    key: str
    answer: str | None
    answer_src: int | None
    answer_line: int | None


class Counts(NamedTuple):
    csms_calls: int  # calls of the central system (RemoteStart, ...): skipped
    duplicate_calls: int  # imported before, or a second copy in this import
    unpaired_answers: int  # answers to the central system's calls, or to no call logged
    duplicate_answers: int  # answers of duplicate calls, second answers
    new_calls: int


def line_key(line: LogLine) -> str:
    """The key a Call is known by across imports: same charger, time (ms), unique id, action.

    Built from what the message says, not where it sits, so the same message in two
    overlapping exports, or in the same file given twice, is imported once."""
    return f"{line.charger_id}|{round(line.ts * 1000)}|{line.uid}|{line.action}"


class Staging:
    """The staging table on its own connection (TEMP tables are private to a connection), so
    its cursors stay open while the importer commits on the store's connection."""

    def __init__(self, db_path: Path) -> None:
        self.conn = sqlite3.connect(db_path, isolation_level=None)
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.conn.executescript(_SCHEMA)

    def add(self, lines: Iterable[LogLine]) -> None:
        rows = [
            (
                ln.charger_id,
                ln.ts,
                ln.src,
                ln.line,
                ln.inbound,
                ln.mtype,
                ln.uid,
                ln.action,
                ln.frame,
                line_key(ln) if ln.mtype == 2 and ln.inbound == INBOUND else None,
            )
            for ln in lines
        ]
        self.conn.execute("BEGIN")
        self.conn.executemany(_INSERT, rows)
        self.conn.execute("COMMIT")

    def prepare(self) -> Counts:
        """Mark duplicates and pair answers with their calls; returns what was left aside."""
        self.conn.executescript(f"BEGIN;{_PREPARE}COMMIT;")
        row = self.conn.execute(_COUNTS).fetchone()
        return Counts(*(int(v or 0) for v in row))

    def chargers(self) -> list[str]:
        """Chargers with new calls, in a stable order."""
        rows = self.conn.execute(
            f"SELECT DISTINCT charger_id FROM staged WHERE {_NEW_CALL} ORDER BY charger_id"
        )
        return [r[0] for r in rows]

    def calls(self, charger_id: str) -> Iterator[StagedCall]:
        for row in self.conn.execute(_CALLS, (charger_id,)):
            yield StagedCall(*row)

    def imported(self, charger_id: str) -> Iterator[tuple[float, int, str]]:
        """(ts, seq, events JSON) of what earlier runs imported for the charger, in time order.
        Read on this connection: the statement's snapshot does not see this run's writes."""
        return self.conn.execute(
            "SELECT ts, seq, events FROM main.import_journal WHERE charger_id = ? ORDER BY ts, seq",
            (charger_id,),
        )

    def close(self) -> None:
        self.conn.close()
