"""Charger passwords for OCPP security profiles 1 and 2 (HTTP Basic auth), and the
security profile each charger must connect with.

Passwords are kept only as salted scrypt hashes (a memory-hard KDF from the standard
library): a stolen store does not give away the chargers' keys, and guessing them costs
memory as well as time. OCPP wants 16 to 40 characters; generated ones use letters and
digits only, which every charger's configuration tool accepts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import string
import time
from dataclasses import dataclass

MIN_PASSWORD, MAX_PASSWORD = 16, 40
GENERATED_LENGTH = 32
ALPHABET = string.ascii_letters + string.digits
# scrypt cost: 16 MiB and ~50 ms per check on a server core (OWASP's minimum is N=2^17
# with r=8 for interactive logins; a charger reconnects rarely, a brute force often)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCHEME = "scrypt"

SCHEMA = """
CREATE TABLE IF NOT EXISTS charger_credentials (
    charger_id TEXT PRIMARY KEY, password_hash TEXT, profile INTEGER NOT NULL,
    updated REAL NOT NULL);
"""


def check_password(password: str) -> str:
    """The password if OCPP accepts it; ValueError says why not."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a charger password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if not password.isascii() or not password.isprintable() or ":" in password:
        raise ValueError("a charger password is printable ASCII without ':'")
    return password


def generate_password() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(GENERATED_LENGTH))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join((SCHEME, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison against a stored hash (any malformed hash: False)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        got = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(digest))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


@dataclass(slots=True, frozen=True)
class Credential:
    charger_id: str
    password_hash: str | None  # None: no Basic auth password (profile 3 uses certificates)
    profile: int


def load(conn: sqlite3.Connection) -> dict[str, Credential]:
    conn.executescript(SCHEMA)
    rows = conn.execute("SELECT charger_id, password_hash, profile FROM charger_credentials")
    return {cid: Credential(cid, h, p) for cid, h, p in rows}


def save(conn: sqlite3.Connection, cid: str, password_hash: str | None, profile: int) -> None:
    conn.executescript(SCHEMA)
    conn.execute(
        "INSERT OR REPLACE INTO charger_credentials (charger_id, password_hash, profile, updated) "
        "VALUES (?, ?, ?, ?)",
        (cid, password_hash, profile, time.time()),
    )


def remove(conn: sqlite3.Connection, cid: str) -> bool:
    conn.executescript(SCHEMA)
    return conn.execute("DELETE FROM charger_credentials WHERE charger_id=?", (cid,)).rowcount > 0
