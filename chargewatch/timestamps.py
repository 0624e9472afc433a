"""Epoch seconds as the API shows them: timezone-aware UTC datetimes (JSON: ISO 8601)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)
