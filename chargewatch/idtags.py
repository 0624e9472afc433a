"""The idTag registry: who may charge, answered to Authorize and transaction starts in both
OCPP versions, and pushed to chargers as their local authorisation list.

A tag has a status (accepted, blocked, expired, invalid), an optional expiry (past it the
tag is answered Expired), an optional parent (1.6 parentIdTag, 2.0.1 groupIdToken) and an
optional owner: the idTag under which the driver registry (notifier/drivers.py) knows the
person. idTags are CiStrings, compared case-insensitively (OCPP 1.6 section 7.31 IdToken,
2.0.1 IdTokenType); they are kept as entered and looked up upper-cased.

Lengths: 2.0.1 allows 36 characters (IdTokenType.idToken), 1.6 only 20 (CiString20Type).
The registry takes 36; a 1.6 charger can never present a longer one, and the 1.6 local
list leaves such tags out.

Every change increases `list_version`, the version of the local list (OCPP 1.6
SendLocalList.listVersion, 2.0.1 versionNumber), so a charger's list is known to be stale
when its version differs. Versions start at 1: 0 means "no list" to a 1.6 charger.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from chargewatch import store

STATUSES = ("accepted", "blocked", "expired", "invalid")
OCPP_STATUS = {s: s.capitalize() for s in STATUSES}  # the idTagInfo / idTokenInfo status
MAX_ID_TAG = 36  # OCPP 2.0.1 IdTokenType.idToken
# printable ASCII without spaces or '/': a tag is also a path segment of /api/v1/tags/{id}
ID_TAG_PATTERN = r"^[!-.0-~]{1,36}$"
TOKEN_TYPES = ("Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress")
DEFAULT_TOKEN_TYPE = "ISO14443"  # an RFID card: the 2.0.1 local list needs a type per token
LATEST = 7258118400.0  # 2200-01-01 UTC: the latest time charger clocks are taken at

SCHEMA = """
CREATE TABLE IF NOT EXISTS id_tags (
    id_tag TEXT PRIMARY KEY COLLATE NOCASE, status TEXT NOT NULL, expiry REAL,
    parent_id TEXT, owner TEXT, token_type TEXT NOT NULL DEFAULT 'ISO14443', note TEXT,
    updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS id_tag_list_version (
    id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
"""
COLUMNS = "id_tag, status, expiry, parent_id, owner, token_type, note, updated"


def check_id_tag(value: str, field: str = "id_tag") -> str:
    """The tag if it can be one; ValueError naming the field otherwise."""
    if not re.match(ID_TAG_PATTERN, value):
        raise ValueError(
            f"{field}: {value!r} is not an idTag (1 to {MAX_ID_TAG} printable ASCII "
            "characters without spaces or '/'; OCPP 1.6 chargers send at most 20)"
        )
    return value


@dataclass(slots=True, frozen=True)
class Tag:
    id_tag: str
    status: str = "accepted"
    expiry: float | None = None  # epoch seconds; past it the tag answers Expired
    parent_id: str | None = None
    owner: str | None = None  # a driver's idTag (notifier/drivers.py)
    token_type: str = DEFAULT_TOKEN_TYPE
    note: str | None = None
    updated: float = 0.0

    def __post_init__(self) -> None:
        check_id_tag(self.id_tag)
        if self.expiry is not None and not 0 <= self.expiry < LATEST:
            raise ValueError("expiry: must be between 1970 and 2199")
        if self.status not in STATUSES:
            raise ValueError(f"status: {self.status!r} is not one of {', '.join(STATUSES)}")
        if self.parent_id is not None:
            check_id_tag(self.parent_id, "parent_id")
            if self.parent_id.upper() == self.id_tag.upper():
                raise ValueError("parent_id: a tag cannot be its own parent")
        if self.owner is not None:
            check_id_tag(self.owner, "owner")
        if self.token_type not in TOKEN_TYPES:
            raise ValueError(
                f"token_type: {self.token_type!r} is not one of {', '.join(TOKEN_TYPES)}"
            )
        if self.note is not None and len(self.note) > 200:
            raise ValueError("note: at most 200 characters")

    def status_at(self, now: float) -> str:
        """The registry status, Expired once the expiry has passed (lowercase)."""
        if self.status == "accepted" and self.expiry is not None and self.expiry <= now:
            return "expired"
        return self.status


# ---- the table (offline CLI and the registry both use these) -------------------------------


def load(conn: sqlite3.Connection) -> tuple[dict[str, Tag], int]:
    """Every tag by its upper-cased idTag, and the list version."""
    conn.executescript(SCHEMA)
    tags = {row[0].upper(): Tag(*row) for row in conn.execute(f"SELECT {COLUMNS} FROM id_tags")}
    return tags, _version(conn)


def _version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT version FROM id_tag_list_version WHERE id=1").fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.executescript(SCHEMA)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _bump(conn: sqlite3.Connection) -> int:
    version = _version(conn) + 1
    conn.execute(
        "INSERT OR REPLACE INTO id_tag_list_version (id, version) VALUES (1, ?)", (version,)
    )
    return version


def save(conn: sqlite3.Connection, tag: Tag) -> tuple[Tag, int]:
    """Insert or replace a tag; (the stored tag, the new list version)."""
    tag = replace(tag, updated=time.time())
    with _transaction(conn):
        conn.execute("DELETE FROM id_tags WHERE id_tag=?", (tag.id_tag,))  # NOCASE: any case
        conn.execute(
            f"INSERT INTO id_tags ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tag.id_tag, tag.status, tag.expiry, tag.parent_id, tag.owner, tag.token_type,
                tag.note, tag.updated,
            ),
        )  # fmt: skip
        version = _bump(conn)
    return tag, version


def remove(conn: sqlite3.Connection, id_tag: str) -> int | None:
    """Delete a tag; the new list version, or None when there was no such tag."""
    with _transaction(conn):
        if conn.execute("DELETE FROM id_tags WHERE id_tag=?", (id_tag,)).rowcount == 0:
            return None
        return _bump(conn)


# ---- the running app's copy ---------------------------------------------------------------


class TagRegistry:
    """The tags in memory (answers are looked up on every Authorize, never in the store),
    written through to the store. Listeners hear of every change (the local list sync)."""

    def __init__(self, db_path: Path | None = None) -> None:
        self.db_path = db_path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.tags: dict[str, Tag] = {}
        self.version = 0
        self.on_change: list[Callable[[int], None]] = []
        if db_path is not None:
            with self._lock:
                self.tags, self.version = load(self._db())

    def _db(self) -> sqlite3.Connection:
        assert self.db_path is not None
        if self._conn is None:
            self._conn = store.open_reader(self.db_path)
        return self._conn

    def get(self, id_tag: str) -> Tag | None:
        return self.tags.get(id_tag.upper())

    def all(self) -> list[Tag]:
        return sorted(self.tags.values(), key=lambda t: t.id_tag.upper())

    def snapshot(self) -> tuple[list[Tag], int]:
        """Every tag and the version they make up, read together."""
        with self._lock:
            return self.all(), self.version

    def put(self, tag: Tag) -> Tag:
        """Store a tag (a worker thread may call it: the store write blocks)."""
        with self._lock:
            if self.db_path is not None:
                tag, version = save(self._db(), tag)
            else:
                tag, version = replace(tag, updated=time.time()), self.version + 1
            self.tags = {**self.tags, tag.id_tag.upper(): tag}  # readers see old or new
            self.version = version
        self._changed()
        return tag

    def delete(self, id_tag: str) -> bool:
        with self._lock:
            if id_tag.upper() not in self.tags:
                return False
            version = remove(self._db(), id_tag) if self.db_path else self.version + 1
            self.tags = {k: t for k, t in self.tags.items() if k != id_tag.upper()}
            self.version = version if version is not None else self.version
        self._changed()
        return True

    def _changed(self) -> None:
        for listener in self.on_change:
            listener(self.version)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
