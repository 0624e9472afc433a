"""Who may call the HTTP API, and the record of what they changed.

Roles are ranked viewer < operator < admin. The role a request needs is derived from its
method and path alone (`required_role`), so routers added later are covered unchanged:
reads need viewer, writes need operator, and a short list of prefixes needs more.

Tokens made by `chargewatch tokens create` are 256-bit random strings; the store keeps only
their SHA-256. A fast hash is enough here: with 2^256 possible tokens no guessing pays off,
however fast each guess is. A memory-hard KDF (scrypt, argon2) protects low-entropy secrets
such as passwords, and would cost every API request its CPU and memory for nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chargewatch import store

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)
RANK = {role: i for i, role in enumerate(ROLES)}
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIX = "/api/v1"
# (path prefix, methods it applies to (None: all), the role needed at least)
PATH_RULES: tuple[tuple[str, frozenset[str] | None, str], ...] = (
    ("/api/v1/tokens", None, ADMIN),  # who may call the API at all
    ("/api/v1/credentials", None, ADMIN),  # which chargers may connect, and how
    ("/api/v1/audit", None, OPERATOR),  # who did what: shift hand-over, not for dashboards
    # drivers are people: their contact targets are personal data
    ("/api/v1/drivers", frozenset({"POST", "PUT", "PATCH", "DELETE"}), ADMIN),
    # who may charge (the idTag registry, pushed to chargers as their local lists)
    ("/api/v1/tags", frozenset({"POST", "PUT", "PATCH", "DELETE"}), ADMIN),
)
TOKEN_PREFIX = "cw_"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
LAST_USED_EVERY_S = 60.0  # `last_used` is written at most this often per token
ANONYMOUS = "anonymous"  # the caller when no token exists anywhere (an open API)
UNAUTHENTICATED = "unauthenticated"  # a refused caller: no or a wrong token


def required_role(method: str, path: str) -> str | None:
    """The least role a request needs; None: the path is open (/healthz, /metrics, docs)."""
    if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
        return None
    role = VIEWER if method.upper() in READ_METHODS else OPERATOR
    for prefix, methods, needed in PATH_RULES:
        under = path == prefix or path.startswith(prefix + "/")
        if under and (methods is None or method.upper() in methods) and RANK[needed] > RANK[role]:
            role = needed
    return role


def allowed(role: str, needed: str) -> bool:
    return RANK[role] >= RANK[needed]


def new_token() -> str:
    """A fresh token: 32 random bytes (256 bits), URL-safe, with a recognisable prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a request is from: a token's name (or anonymous) and its role."""

    name: str
    role: str


# ---- the tables (their schema is in chargewatch/store.py) -----------------------------------

TOKEN_COLUMNS = ("name", "role", "created", "created_by", "last_used", "revoked")
AUDIT_COLUMNS = ("id", "at", "who", "role", "method", "path", "query", "summary", "status")


def insert_token(
    conn: sqlite3.Connection, name: str, role: str, by: str, now: float | None = None
) -> str:
    """Create a token and return it: the only time it exists outside the caller's hands.
    ValueError when an active token already has the name."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not re.match(NAME_PATTERN, name):
        raise ValueError(
            "a token name is 1-64 letters, digits or . _ @ - (a letter or digit first)"
        )
    token = new_token()
    try:
        conn.execute(
            "INSERT INTO api_tokens (name, role, token_sha256, created, created_by) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, role, token_hash(token), time.time() if now is None else now, by),
        )
    except sqlite3.IntegrityError:
        raise ValueError(f"a token named {name!r} exists; revoke it first") from None
    return token


def revoke_token(conn: sqlite3.Connection, name: str, now: float | None = None) -> bool:
    """Mark the active token of that name revoked (the row stays, for the audit)."""
    cur = conn.execute(
        "UPDATE api_tokens SET revoked=? WHERE name=? AND revoked IS NULL",
        (time.time() if now is None else now, name),
    )
    return cur.rowcount > 0


def read_tokens(conn: sqlite3.Connection, include_revoked: bool = False) -> list[dict[str, Any]]:
    """Tokens without their hashes, oldest first."""
    sql = f"SELECT {', '.join(TOKEN_COLUMNS)} FROM api_tokens"
    if not include_revoked:
        sql += " WHERE revoked IS NULL"
    rows = conn.execute(sql + " ORDER BY id").fetchall()
    return [dict(zip(TOKEN_COLUMNS, row, strict=True)) for row in rows]


def read_audit(
    conn: sqlite3.Connection, limit: int, before: int | None = None
) -> list[dict[str, Any]]:
    """Audit entries, newest first; page with `before` = the last id of a page."""
    sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log"
    args: list[Any] = []
    if before is not None:
        sql += " WHERE id < ?"
        args.append(before)
    rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
    return [dict(zip(AUDIT_COLUMNS, row, strict=True)) for row in rows]


# ---- redaction ------------------------------------------------------------------------------

SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|key|auth|credential|cookie|signature|sid$", re.IGNORECASE
)
REDACTED = "***"
MAX_SUMMARY = 2000  # characters of a body summary kept
MAX_VALUE = 200  # characters of one string value kept


def redact(value: Any, depth: int = 0) -> Any:
    """A copy with the values of secret-looking keys replaced and long strings cut."""
    if depth > 8:
        return "…"
    if isinstance(value, dict):
        return {
            k: REDACTED if SECRET_NAME.search(str(k)) else redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, depth + 1) for v in value[:50]]
    if isinstance(value, str) and len(value) > MAX_VALUE:
        return value[:MAX_VALUE] + "…"
    return value


def summarise(body: bytes, content_type: str, complete: bool) -> str:
    """What a request carried, for the audit log: JSON with secrets redacted, else its size."""
    if not body:
        return ""
    if not complete:
        return f"<{content_type or 'body'}, more than {len(body)} bytes, not kept>"
    if "json" in content_type:
        try:
            text = json.dumps(redact(json.loads(body)), ensure_ascii=False, separators=(",", ":"))
        except ValueError:
            return f"<invalid JSON, {len(body)} bytes>"
        return text if len(text) <= MAX_SUMMARY else text[:MAX_SUMMARY] + "…"
    return f"<{content_type or 'body'}, {len(body)} bytes>"


def redact_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={REDACTED if SECRET_NAME.search(k) else v}" for k, v in pairs)


class Access:
    """The tokens a running App accepts and the audit log it writes.

    Config tokens (`http.api_tokens`) are admin tokens named `config:1`, `config:2`, ...
    Store tokens are cached in memory by hash; only this process writes them while it runs
    (offline `tokens create --data-dir` needs the data-dir lock). The API is open, as
    before, only while no token exists anywhere: once a token was created in the store the
    API stays closed, even after every token is revoked (revoking must never open it).
    """

    def __init__(self, config_tokens: list[str], db_path: Path | None = None) -> None:
        self._config = [(f"config:{i + 1}", t.encode()) for i, t in enumerate(config_tokens)]
        self.db_path = db_path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._by_hash: dict[str, Principal] = {}
        self._ever_created = False
        self._last_used: dict[str, float] = {}
        if db_path is not None:
            self.reload()

    def _db(self) -> sqlite3.Connection:
        assert self.db_path is not None
        if self._conn is None:
            self._conn = store.open_reader(self.db_path)
        return self._conn

    def reload(self) -> None:
        """Read the store's active tokens into memory."""
        with self._lock:
            conn = self._db()
            rows = conn.execute(
                "SELECT name, role, token_sha256 FROM api_tokens WHERE revoked IS NULL"
            ).fetchall()
            self._ever_created = bool(conn.execute("SELECT 1 FROM api_tokens LIMIT 1").fetchone())
            self._by_hash = {h: Principal(name, role) for name, role, h in rows}

    @property
    def open(self) -> bool:
        """No token exists anywhere: every caller is admin (a warning at start-up)."""
        return not self._config and not self._ever_created

    def authenticate(self, token: str | None) -> Principal | None:
        """The principal of a token; None when it is missing or wrong (an open API: anonymous)."""
        if self.open:
            return Principal(ANONYMOUS, ADMIN)
        if not token:
            return None
        given = token.encode()
        # compare with every config token, always: the time taken does not tell which is close
        matches = [name for name, t in self._config if hmac.compare_digest(given, t)]
        if matches:
            return Principal(matches[0], ADMIN)
        # a lookup by SHA-256: timing can at most reveal the hash, not a token behind it
        return self._by_hash.get(token_hash(token))

    def mark_used(self, principal: Principal, now: float) -> None:
        """Record a store token's last use, at most once a minute (a write per request is
        not worth it). Runs in a worker thread."""
        if principal.name.startswith("config:") or principal.name == ANONYMOUS:
            return
        if now - self._last_used.get(principal.name, 0.0) < LAST_USED_EVERY_S:
            return
        self._last_used[principal.name] = now
        with self._lock:
            self._db().execute(
                "UPDATE api_tokens SET last_used=? WHERE name=? AND revoked IS NULL",
                (now, principal.name),
            )

    def create(self, name: str, role: str, by: str) -> str:
        with self._lock:
            token = insert_token(self._db(), name, role, by)
            self._by_hash[token_hash(token)] = Principal(name, role)
            self._ever_created = True
        return token

    def revoke(self, name: str) -> bool:
        with self._lock:
            done = revoke_token(self._db(), name)
            self._by_hash = {h: p for h, p in self._by_hash.items() if p.name != name}
        return done

    def tokens(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        """The store's tokens and the config's (which have no dates)."""
        configured = [{"name": name, "role": ADMIN, "source": "config"} for name, _ in self._config]
        with self._lock:
            rows = read_tokens(self._db(), include_revoked) if self.db_path else []
        return configured + [{**row, "source": "store"} for row in rows]

    def audit(self, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return read_audit(self._db(), limit, before) if self.db_path else []

    def record(self, entry: dict[str, Any]) -> None:
        """Append one audit entry (runs in a worker thread, before the answer goes out)."""
        if self.db_path is None:
            return
        with self._lock:
            self._db().execute(
                "INSERT INTO audit_log (at, who, role, method, path, query, summary, status) "
                "VALUES (:at, :who, :role, :method, :path, :query, :summary, :status)",
                entry,
            )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
