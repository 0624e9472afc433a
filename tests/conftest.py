from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargewatch.app import App
from chargewatch.config import Config, parse_config

# real servers on loopback as fixtures: smtp_server, http_receiver, start_alertmanager
pytest_plugins = ["notify_servers", "alertmanager_server"]


def make_config(data_dir: Path, yaml_text: str = "", **top: Any) -> Config:
    """A config on loopback with ephemeral ports, from optional YAML text."""
    config = parse_config(yaml_text) if yaml_text else Config()
    security = config.ocpp.security
    if "unknown_chargers" not in security.model_fields_set:
        # tests connect chargers of any id; the ones about the policy set it themselves
        security = security.model_copy(update={"unknown_chargers": "accept"})
    ocpp = {"host": "127.0.0.1", "port": 0, "security": security}
    return config.model_copy(
        update={
            "data_dir": data_dir,
            "ocpp": config.ocpp.model_copy(update=ocpp),
            "http": config.http.model_copy(update={"host": "127.0.0.1", "port": 0}),
            **top,
        }
    )


@pytest.fixture
async def start_app(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start Apps (real servers on loopback); each is stopped at the end of the test."""
    apps: list[App] = []

    async def start(yaml_text: str = "", data_dir: Path | None = None) -> App:
        app = App(make_config(data_dir or tmp_path / "data", yaml_text))
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in reversed(apps):
        await app.stop()


@pytest.fixture
async def app(start_app: Callable[..., Any]) -> App:
    return await start_app()


@pytest.fixture
async def http(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as client:
        yield client


@pytest.fixture
def influxdb1(tmp_path: Path):
    from servers import InfluxDB1

    server = InfluxDB1(tmp_path / "influxdb")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def victoria(tmp_path: Path):
    from servers import VictoriaMetrics

    server = VictoriaMetrics(tmp_path / "victoria")
    server.start()
    yield server
    server.stop()
