"""What a report reads from the store: the history rows of its ports, loaded once.

The store is opened read-only (SQLite WAL lets a report run beside `chargewatch run`).
Only rows inside the load window are read, plus the last row before it of every
connector and charger, which gives the state each one was in when the window opened.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from chargewatch.store import read_exclusions
from reports.availability import ConnectionRow, StatusRow

SESSION_COLUMNS = (
    "session_id",
    "charger_id",
    "connector_id",
    "site",
    "id_tag",
    "started_at",
    "stopped_at",
    "energy_wh",
    "peak_power_w",
    "first_power_at",
    "last_power_at",
    "stop_reason",
    "error_code",
    "auth_status",
)


class StoreMissing(FileNotFoundError):
    """No store at the data dir: nothing was ever collected there."""


@dataclass(slots=True)
class Dataset:
    start: float  # the load window
    end: float
    site_of: dict[str, str]
    ports: list[tuple[str, int]] = field(default_factory=list)  # (charger, connector >= 1)
    first_seen: dict[str, float] = field(default_factory=dict)
    connections: dict[str, list[ConnectionRow]] = field(default_factory=dict)
    statuses: dict[tuple[str, int], list[StatusRow]] = field(default_factory=dict)
    sessions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SESSION_COLUMNS))
    plug_ins: pd.DataFrame = field(default_factory=pd.DataFrame)
    alert_rows: list[dict] = field(default_factory=list)
    exclusions: list[dict] = field(default_factory=list)
    chargers: dict[str, dict] = field(default_factory=dict)  # vendor, model, firmware


def open_store(data_dir: Path) -> sqlite3.Connection:
    path = data_dir / "chargewatch.db"
    if not path.exists():
        raise StoreMissing(f"no ChargeWatch store at {path} (wrong --data-dir?)")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def load(
    conn: sqlite3.Connection,
    start: float,
    end: float,
    site_of: dict[str, str],
    only_site: str | None = None,
) -> Dataset:
    """Everything a report over [start, end) needs, for one site or the whole network."""
    data = Dataset(start, end, site_of)

    def wanted(charger_id: str) -> bool:
        return only_site is None or site_of.get(charger_id) == only_site

    for cid, first in _first_seen(conn):
        if wanted(cid):
            data.first_seen[cid] = first
    for cid, vendor, model, firmware in conn.execute(
        "SELECT charger_id, vendor, model, firmware_version FROM chargers"
    ):
        if wanted(cid):
            data.chargers[cid] = {"vendor": vendor, "model": model, "firmware": firmware}

    connections: dict[str, list[ConnectionRow]] = defaultdict(list)
    for cid, ts, event, reason in _with_prior(
        conn, "connection_history", "charger_id", "ts, event, reason", start, end
    ):
        if wanted(cid):
            connections[cid].append((ts, event, reason))
    data.connections = dict(connections)

    statuses: dict[tuple[str, int], list[StatusRow]] = defaultdict(list)
    ports: set[tuple[str, int]] = set()
    for cid, connector, ts, status, code, vendor_code, category in _with_prior(
        conn,
        "status_history",
        "charger_id, connector_id",
        "ts, status, error_code, vendor_error_code, fault_category",
        start,
        end,
    ):
        if wanted(cid):
            statuses[(cid, connector)].append((ts, status, code, vendor_code, category))
            if connector >= 1:
                ports.add((cid, connector))
    data.statuses = dict(statuses)

    data.sessions = _sessions(conn, start, end, site_of, wanted, data.statuses)
    for cid, connector in data.sessions[["charger_id", "connector_id"]].itertuples(index=False):
        if connector >= 1:
            ports.add((cid, int(connector)))
    data.ports = sorted(ports)
    data.plug_ins = _plug_ins(data.statuses, site_of, start, end)
    data.alert_rows = _alerts(conn, start, end, wanted)
    data.exclusions = [
        x for x in _exclusions(conn) if wanted(x["charger_id"]) and x["ends_at"] > start
    ]
    return data


def _first_seen(conn: sqlite3.Connection) -> list[tuple[str, float]]:
    """When each charger first appeared in any history (imported history included)."""
    rows = conn.execute(
        "SELECT charger_id, MIN(t) FROM ("
        " SELECT charger_id, first_seen AS t FROM chargers WHERE first_seen IS NOT NULL"
        " UNION ALL SELECT charger_id, MIN(ts) FROM status_history GROUP BY charger_id"
        " UNION ALL SELECT charger_id, MIN(ts) FROM connection_history GROUP BY charger_id"
        " UNION ALL SELECT charger_id, MIN(started_at) FROM sessions GROUP BY charger_id"
        ") GROUP BY charger_id"
    )
    return [(cid, t) for cid, t in rows if t is not None]


def _with_prior(
    conn: sqlite3.Connection, table: str, key: str, cols: str, start: float, end: float
) -> list[tuple]:
    """Rows of [start, end) and each key's last row before start, sorted by key and time."""
    keys = [k.strip() for k in key.split(",")]
    join = " AND ".join(f"h.{k} = p.{k}" for k in keys)
    selected = ", ".join(f"h.{c.strip()}" for c in [*keys, *cols.split(",")])
    prior = conn.execute(
        f"SELECT {selected} FROM {table} h JOIN (SELECT {key}, MAX(ts) AS last FROM {table} "
        f"WHERE ts < ? GROUP BY {key}) p ON {join} AND h.ts = p.last ORDER BY h.id",
        (start,),
    ).fetchall()
    inside = conn.execute(
        f"SELECT {key}, {cols} FROM {table} WHERE ts >= ? AND ts < ? ORDER BY id", (start, end)
    ).fetchall()
    n = len(keys)
    rows = prior + inside
    rows.sort(key=lambda r: (*r[:n], r[n]))  # stable: equal times keep their arrival order
    return rows


def _sessions(conn, start, end, site_of, wanted, statuses) -> pd.DataFrame:
    rows = []
    faults = _fault_index(statuses)
    for r in conn.execute(
        "SELECT session_id, charger_id, connector_id, id_tag, started_at, stopped_at, "
        "COALESCE(energy_wh, meter_last_wh - meter_start_wh), peak_power_w, first_power_at, "
        "last_power_at, stop_reason, auth_status FROM sessions "
        "WHERE started_at >= ? AND started_at < ? ORDER BY started_at",
        (start, end),
    ):
        sid, cid, connector, tag, started, stopped, energy, peak, first, last, reason, auth = r
        if not wanted(cid):
            continue
        code = _fault_during(faults, cid, connector, started, stopped)
        if energy is not None and energy < 0:
            energy = None  # the register was reset or replaced mid-session: energy unknown
        rows.append(
            (
                sid,
                cid,
                connector,
                site_of.get(cid),
                tag,
                started,
                stopped,
                energy,
                peak,
                first,
                last,
                reason,
                code,
                auth,
            )
        )
    frame = pd.DataFrame(rows, columns=list(SESSION_COLUMNS))
    for col in (
        "started_at",
        "stopped_at",
        "energy_wh",
        "peak_power_w",
        "first_power_at",
        "last_power_at",
    ):
        frame[col] = frame[col].astype(float)
    frame["connector_id"] = frame["connector_id"].astype(int)
    return frame


def _fault_index(statuses) -> dict[tuple[str, int], tuple[list[float], list[str | None]]]:
    """Per connector, the times and codes of its Faulted reports (sorted, for bisect)."""
    index = {}
    for key, history in statuses.items():
        faulted = [(ts, vendor or code) for ts, status, code, vendor, _ in history
                   if status == "Faulted"]  # fmt: skip
        if faulted:
            index[key] = ([f[0] for f in faulted], [f[1] for f in faulted])
    return index


def _fault_during(faults, cid, connector, started, stopped) -> str | None:
    """The first fault the port (or else the whole charger) reported during a session."""
    until = stopped if stopped is not None else float("inf")
    for key in ((cid, connector), (cid, 0)):
        entry = faults.get(key)
        if entry is None:
            continue
        times, codes = entry
        i = bisect.bisect_left(times, started)
        if i < len(times) and times[i] <= until:
            return codes[i]
    return None


def _plug_ins(statuses, site_of, start, end) -> pd.DataFrame:
    """Each time a port went into Preparing: a vehicle plugged in, an attempt began."""
    rows = []
    for (cid, connector), history in statuses.items():
        if connector < 1:
            continue
        previous = None
        for ts, status, *_ in history:
            if status == "Preparing" and previous != "Preparing" and start <= ts < end:
                rows.append((cid, connector, site_of.get(cid), ts))
            previous = status
    return pd.DataFrame(rows, columns=["charger_id", "connector_id", "site", "ts"])


def _alerts(conn, start, end, wanted) -> list[dict]:
    """Alert transitions from the window's start on (acks and resolutions come later)."""
    out = []
    for fp, rule, severity, state, previous, at, labels, ack_by in conn.execute(
        "SELECT fingerprint, rule, severity, state, previous, at, labels, acknowledged_by "
        "FROM alert_history WHERE at >= ? ORDER BY fingerprint, at, id",
        (start,),
    ):
        labels = json.loads(labels)
        charger = labels.get("charger")
        if charger is not None and not wanted(charger):
            continue
        out.append(
            {
                "fingerprint": fp,
                "rule": rule,
                "severity": severity,
                "state": state,
                "previous": previous,
                "at": at,
                "labels": labels,
                "acknowledged_by": ack_by,
            }
        )
    return out


def _exclusions(conn: sqlite3.Connection) -> list[dict]:
    return read_exclusions(conn)
