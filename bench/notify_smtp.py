"""The SMTP server of bench/notify.py: `tests/notify_servers.SmtpServer` with its own handler,
which notes when each e-mail arrived and for which fault.

The handler parses each message as the tests' handler does, then takes `time.perf_counter()`
in the server's thread (DATA is complete) and matches the e-mail to its fault by the
`charger=... connector=...` of its subject; the message is recorded as the tests' server
records it (`messages`, `wait_for` work as there). No AUTH: the benchmark's mailto:// URL
has no credentials.

bench/notify.py puts tests/ on sys.path before it imports this module.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from typing import Any

from aiosmtpd.controller import Controller
from notify_servers import ReceivedMail, SmtpServer

FROM, TO = "alerts@chargewatch.example", "noc@cpo.example"
SUBJECT_KEY = re.compile(r"charger=(\S+) connector=(\d+)")
FAULT_SUBJECT = "[FIRING:1] ConnectorFaulted"

Key = tuple[str, int]  # (charger, connector)


class _StampingHandler:
    """aiosmtpd handler: parse, stamp, record (in the server's thread)."""

    def __init__(self, server: StampedSmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.server.arrived(
            ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message, None)
        )
        return "250 Message accepted for delivery"


class StampedSmtpServer(SmtpServer):
    """`tests/notify_servers.SmtpServer` whose messages carry their arrival time."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[Key, float] = {}  # perf_counter of the first e-mail per fault
        self.other = 0  # any other e-mail (none expected: other alerts go to a file)

    def start(self) -> None:
        """As `SmtpServer.start` without AUTH, with the stamping handler."""
        if self._controller is not None:
            return
        self._controller = Controller(_StampingHandler(self), hostname=self.host, port=self.port)
        self._controller.start()

    def arrived(self, item: ReceivedMail) -> None:
        """Note when the first e-mail for each (charger, connector) of its subject arrived."""
        at = time.perf_counter()
        subject = str(item.message["Subject"])
        match = SUBJECT_KEY.search(subject)
        if match and subject.startswith(FAULT_SUBJECT):
            self.first.setdefault((match.group(1), int(match.group(2))), at)
        else:
            self.other += 1
        self._received.add(item)

    def arrivals(self) -> dict[Key, float]:
        """Arrival time of the first e-mail per (charger, connector) named in its subject."""
        return dict(self.first)

    @property
    def mailto(self) -> str:
        return f"mailto://{self.host}:{self.port}?from={FROM}&to={TO}"
