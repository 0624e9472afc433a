"""A real Prometheus Alertmanager (Debian `prometheus-alertmanager`) for tests, on loopback,
in a temporary directory, whose only receiver is a webhook to a given URL.

Alerts go in through its API v2 (`post_alerts`), as Prometheus would send them; what comes
out is Alertmanager's own webhook payload (version 4). Clustering is off
(`--cluster.listen-address=`): with it, Alertmanager waits for gossip to settle before it
notifies, and it would also bind a second port.

Fixture: `start_alertmanager(webhook_url, **route)`, each server stopped after the test.
tests/conftest.py loads it as a plugin (`pytest_plugins`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from helpers import free_port, require_binary
from servers import ServerProcess

RECEIVER = "chargewatch"


class AlertmanagerServer(ServerProcess):
    """Alertmanager notifying one webhook: every alert its own group (by alertname), sent at
    once (group_wait 0s), changes (a resolve) after group_interval 1s, no repeats in a test.
    """

    def __init__(
        self,
        workdir: Path,
        webhook_url: str,
        group_by: tuple[str, ...] = ("alertname",),
        group_wait: str = "0s",
        group_interval: str = "1s",
        repeat_interval: str = "4h",
        token: str | None = None,
    ) -> None:
        binary = require_binary("prometheus-alertmanager")
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "alertmanager.yml"
        self.config: dict[str, Any] = {
            "route": {
                "receiver": RECEIVER,
                "group_by": list(group_by),
                "group_wait": group_wait,
                "group_interval": group_interval,
                "repeat_interval": repeat_interval,
            },
            "receivers": [
                {
                    "name": RECEIVER,
                    "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
                }
            ],
        }
        if token is not None:  # ChargeWatch's http.api_tokens, as an operator configures it
            webhook = self.config["receivers"][0]["webhook_configs"][0]
            webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials": token}}
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        argv = [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.path={workdir}/data",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--web.external-url={self.url}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ]
        super().__init__("alertmanager", argv, f"{self.url}/-/ready", workdir)

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Send alerts as Prometheus does: `POST /api/v2/alerts` with a JSON list of
        {labels, annotations, startsAt, endsAt, generatorURL} (times RFC 3339)."""
        response = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10)
        assert response.status_code == 200, f"{response.status_code}: {response.text}"

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (`GET /api/v2/alerts`), to explain a failure."""
        response = httpx.get(f"{self.url}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        return response.json()


@pytest.fixture
def start_alertmanager(tmp_path: Path) -> Iterator[Callable[..., AlertmanagerServer]]:
    """Start Alertmanagers notifying `webhook_url`; each is stopped after the test."""
    servers: list[AlertmanagerServer] = []

    def start(webhook_url: str, **route: Any) -> AlertmanagerServer:
        server = AlertmanagerServer(tmp_path / f"alertmanager{len(servers)}", webhook_url, **route)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()
