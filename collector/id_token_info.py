"""What a charger is told about an idTag, in each version's words: 1.6 IdTagInfo and 2.0.1
IdTokenInfoType. One shape for the answers to Authorize and transaction starts
(chargewatch/authorization.py) and for the entries of local lists (collector/v16/commands.py,
collector/v201/commands.py), so a charger deciding offline hears what we would say."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

MAX_ID_TAG_16 = 20  # OCPP 1.6 IdToken is CiString20Type


def epoch_time(ts: float) -> str:
    """Epoch seconds as an OCPP dateTime (UTC, Z)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def id_tag_info(status: str, expiry: float | None, parent_id: str | None) -> dict[str, Any]:
    """OCPP 1.6 IdTagInfo (`status` in 1.6 words); a parent longer than 20 is left out."""
    info: dict[str, Any] = {"status": status}
    if expiry is not None:
        info["expiryDate"] = epoch_time(expiry)
    if parent_id is not None and len(parent_id) <= MAX_ID_TAG_16:
        info["parentIdTag"] = parent_id
    return info


def id_token_info(status: str, expiry: float | None, parent_id: str | None) -> dict[str, Any]:
    """OCPP 2.0.1 IdTokenInfoType: the group is a Central token, our registry's id."""
    info: dict[str, Any] = {"status": status}
    if expiry is not None:
        info["cacheExpiryDateTime"] = epoch_time(expiry)
    if parent_id is not None:
        info["groupIdToken"] = {"idToken": parent_id, "type": "Central"}
    return info
