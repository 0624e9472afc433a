"""Who may charge: the idTagInfo (1.6) / idTokenInfo (2.0.1) answered to Authorize and to
transaction starts.

In order: the idTag registry (chargewatch/idtags.py), then the config's allow-list, then
the unknown-tag policy (`ocpp.authorization.mode`): `accept_all` accepts a tag nobody
registered (the default: a monitoring system beside another CSMS must not stop anyone
charging), `allow_list` answers it `unknown_tag_status`. A registered tag is answered its
own status in both modes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from chargewatch.config import AuthorizationConfig
from chargewatch.idtags import OCPP_STATUS, TagRegistry
from collector import id_token_info as info

ACCEPTED = "Accepted"
# 2.0.1 has "Unknown" (AuthorizationStatusEnumType); 1.6 has no such status: Invalid
STATUS_16 = {"Unknown": "Invalid"}


@dataclass(slots=True, frozen=True)
class Answer:
    """The decision about one tag, in neutral terms (status in 2.0.1 names)."""

    status: str
    expiry: float | None = None
    parent_id: str | None = None

    def id_tag_info(self) -> dict[str, Any]:
        """OCPP 1.6 IdTagInfo."""
        return info.id_tag_info(self.status_16, self.expiry, self.parent_id)

    def id_token_info(self) -> dict[str, Any]:
        """OCPP 2.0.1 IdTokenInfoType."""
        return info.id_token_info(self.status, self.expiry, self.parent_id)

    @property
    def status_16(self) -> str:
        return STATUS_16.get(self.status, self.status)


ACCEPTED_ANSWER = Answer(ACCEPTED)  # a 2.0.1 NoAuthorization token names nobody to refuse


class Authorizer:
    """Registry first, then the config's allow-list, then the unknown-tag policy."""

    def __init__(self, config: AuthorizationConfig, registry: TagRegistry | None = None) -> None:
        self._mode = config.mode
        self._allowed = frozenset(tag.upper() for tag in config.allow_list)
        self._unknown = config.unknown_tag_status
        self.registry = registry if registry is not None else TagRegistry()

    def answer(self, id_tag: str, now: float | None = None) -> Answer:
        tag = self.registry.get(id_tag)
        if tag is not None:
            status = tag.status_at(time.time() if now is None else now)
            return Answer(OCPP_STATUS[status], tag.expiry, tag.parent_id)
        # IdToken is a CiString: compared case-insensitively (OCPP 1.6 section 7.31)
        if self._mode == "accept_all" or id_tag.upper() in self._allowed:
            return ACCEPTED_ANSWER
        return Answer(self._unknown)

    def status(self, id_tag: str) -> str:
        """The 1.6 status (what existing callers and the journal record)."""
        return self.answer(id_tag).status_16
