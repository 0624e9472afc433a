"""Who may charge: the idTagInfo status answered to Authorize and StartTransaction."""

from __future__ import annotations

from chargewatch.config import AuthorizationConfig

ACCEPTED = "Accepted"


class Authorizer:
    """`accept_all` (the default: a monitoring system must not block charging) or an allow-list."""

    def __init__(self, config: AuthorizationConfig) -> None:
        self._mode = config.mode
        self._allowed = frozenset(tag.upper() for tag in config.allow_list)
        self._unknown = config.unknown_tag_status

    def status(self, id_tag: str) -> str:
        if self._mode == "accept_all":
            return ACCEPTED
        # IdToken is a CiString: compared case-insensitively (OCPP 1.6, 2.1.4 CiString)
        return ACCEPTED if id_tag.upper() in self._allowed else self._unknown
