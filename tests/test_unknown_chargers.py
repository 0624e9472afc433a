"""Unknown charger ids, with a real App and real WebSocket chargers: refused (HTTP 404) by
default, or admitted "pending commissioning" (BootNotification answered Pending, everything
else SecurityError, an alert) until an operator registers them over the API; failed
handshakes lock out and raise a security alert; the credentials API is admin-only."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import call, eventually, journal_kinds, raw_charger
from test_security_profiles import BOOT, basic, refused
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chargewatch.app import App
from chargewatch.cli import build_parser, config_from_args

BOOT_201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M"}}
SITE = "sites:\n  - id: depot\n    chargers: [CP-KNOWN]\n"
FAST_RULES = "rules: {evaluation_delay: 0}\n"


def policy(name: str, **security: Any) -> str:
    extra = "".join(f"    {k}: {v}\n" for k, v in security.items())
    return f"ocpp:\n  security:\n    unknown_chargers: {name}\n{extra}" + SITE


def api(app: App, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}", headers=headers)


async def alert_names(app: App) -> set[str]:
    async with api(app) as http:
        return {a["alertname"] for a in (await http.get("/api/v1/alerts")).json()["alerts"]}


async def wait_alert(app: App, name: str, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if name in await alert_names(app):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} did not fire: {await alert_names(app)}")


async def refused_201(port: int, cid: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with raw_charger(port, cid, ("ocpp2.0.1",)):
            pass
    return info.value.response.status_code


async def test_unknown_ids_are_refused_by_default_and_the_known_connect(start_app) -> None:
    app: App = await start_app(policy("reject"))
    url = f"ws://127.0.0.1:{app.ocpp_port}/ocpp"
    assert await refused(url, "CP-ROGUE") == 404
    async with raw_charger(app.ocpp_port, "CP-KNOWN") as ws:
        assert (await call(ws, "BootNotification", BOOT))[2]["status"] == "Accepted"
    # registered while running (profile 0: no password): it connects from now on
    async with api(app) as http:
        answer = await http.put("/api/v1/credentials/CP-NEW", json={"profile": 0})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "charger_id": "CP-NEW",
            "profile": 0,
            "has_password": False,
            "password": None,
            "released": False,
        }
    async with raw_charger(app.ocpp_port, "CP-NEW") as ws:
        assert (await call(ws, "BootNotification", BOOT))[2]["status"] == "Accepted"
    assert "CP-ROGUE" not in app.state.chargers  # nothing of the refused one was stored


def test_the_default_config_rejects_and_the_cli_flag_overrides() -> None:
    assert config_from_args(build_parser().parse_args(["run"])).ocpp.security.unknown_chargers == (
        "reject"
    )
    args = build_parser().parse_args(["run", "--unknown-chargers", "pending"])
    assert config_from_args(args).ocpp.security.unknown_chargers == "pending"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--unknown-chargers", "maybe"])


async def test_start_up_warns_when_every_charger_would_be_refused(start_app, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="chargewatch.app"):
        await start_app("ocpp:\n  security:\n    unknown_chargers: reject\n")
    assert "every charger will be refused" in caplog.text


async def test_guessing_ids_locks_out_and_raises_a_security_alert(start_app) -> None:
    app: App = await start_app(policy("reject", max_failures=3, lockout=60) + FAST_RULES)
    url = f"ws://127.0.0.1:{app.ocpp_port}/ocpp"
    assert [await refused(url, f"CP-GUESS-{i}") for i in range(3)] == [404, 404, 404]
    assert await refused(url, "CP-KNOWN") == 429  # this address is locked out, even for a known id
    await eventually(lambda: "auth_lockout" in journal_kinds(app.config.data_dir, "CP-GUESS-2"))
    assert {c for c in app.state.chargers if c.startswith("CP-GUESS")} == set()
    await wait_alert(app, "ChargerAuthLockout")


async def test_pending_commissioning_until_registered_over_the_api(start_app) -> None:
    app: App = await start_app(policy("pending") + FAST_RULES)
    async with raw_charger(app.ocpp_port, "CP-NEW") as ws:
        answer = await call(ws, "BootNotification", BOOT)
        assert answer[0] == 3 and answer[2]["status"] == "Pending"
        assert answer[2]["interval"] == 60  # the boot retry interval, not the heartbeat's
        again = await call(ws, "BootNotification", BOOT)  # too soon: answered, not journaled
        assert again[2]["status"] == "Pending"
        for action, payload in (
            ("Heartbeat", {}),
            (
                "StatusNotification",
                {"connectorId": 1, "status": "Available", "errorCode": "NoError"},
            ),
        ):
            refusal = await call(ws, action, payload)
            assert refusal[0] == 4 and refusal[2] == "SecurityError", refusal
        kinds = journal_kinds(app.config.data_dir, "CP-NEW")
        assert kinds.count("commissioning") == 1 and "status" not in kinds and "booted" not in kinds
        await wait_alert(app, "ChargerPendingCommissioning")
        assert "UnknownCharger" not in await alert_names(app)
        async with api(app) as http:
            shown = (await http.get("/api/v1/chargers/CP-NEW")).json()
            metrics = (await http.get("/metrics")).text
        assert shown["connected"] is True and shown["commissioning"] is True
        assert 'chargewatch_charger_connected{charger="CP-NEW"' not in metrics  # not "online"
        async with api(app) as http:
            registered = await http.put("/api/v1/credentials/CP-NEW", json={"profile": 0})
        assert registered.json()["released"] is True
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    async with raw_charger(app.ocpp_port, "CP-NEW") as ws:
        assert (await call(ws, "BootNotification", BOOT))[2]["status"] == "Accepted"
        assert (await call(ws, "Heartbeat", {}))[0] == 3
        assert app.state.chargers["CP-NEW"].commissioning is False


async def test_pending_2_0_1_station_and_profile_1_commissioning(start_app) -> None:
    app: App = await start_app(policy("pending", profile=1))
    async with raw_charger(app.ocpp_port, "CS-NEW", ("ocpp2.0.1",)) as ws:
        # no password yet: admitted only to be commissioned
        assert (await call(ws, "BootNotification", BOOT_201))[2]["status"] == "Pending"
        refusal = await call(ws, "Heartbeat", {})
        assert refusal[0] == 4 and refusal[2] == "SecurityError"
        async with api(app) as http:
            answer = (await http.put("/api/v1/credentials/CS-NEW", json={"profile": 1})).json()
        password = answer["password"]
        assert len(password) == 32 and answer["has_password"] and answer["released"]
    assert await refused_201(app.ocpp_port, "CS-NEW") == 401  # known now: it must sign in
    headers = basic("CS-NEW", password)
    async with raw_charger(
        app.ocpp_port, "CS-NEW", ("ocpp2.0.1",), additional_headers=headers
    ) as ws:
        assert (await call(ws, "BootNotification", BOOT_201))[2]["status"] == "Accepted"
    async with api(app) as http:
        listed = (await http.get("/api/v1/credentials")).json()
        assert listed == {
            "count": 1,
            "credentials": [{"charger_id": "CS-NEW", "profile": 1, "has_password": True}],
        }
        assert password not in (await http.get("/api/v1/audit")).text
        assert (await http.delete("/api/v1/credentials/CS-NEW")).status_code == 204
        assert (await http.get("/api/v1/credentials/CS-NEW")).status_code == 404
    # forgotten: unknown again, so pending again (no password checked)
    async with raw_charger(app.ocpp_port, "CS-NEW", ("ocpp2.0.1",)) as ws:
        assert (await call(ws, "BootNotification", BOOT_201))[2]["status"] == "Pending"


async def test_the_credentials_api_is_admin_only_and_checks_its_input(
    start_app, tmp_path: Path
) -> None:
    admin = "admin-token-0123456789"
    app: App = await start_app(policy("reject") + f'http: {{api_tokens: ["{admin}"]}}\n')
    async with api(app, admin) as http:
        made = await http.post("/api/v1/tokens", json={"name": "ops", "role": "operator"})
        operator = made.json()["token"]
        bad = await http.put("/api/v1/credentials/CP-1", json={"profile": 1, "password": "short"})
        assert bad.status_code == 422 and "16 to 40 characters" in bad.text
        assert "short" not in bad.text
        assert (await http.put("/api/v1/credentials/CP-1", json={"profile": 4})).status_code == 422
        extra = await http.put("/api/v1/credentials/CP-1", json={"profile": 1, "pin": 1})
        assert extra.status_code == 422
        ok = await http.put(
            "/api/v1/credentials/CP-1", json={"profile": 1, "password": "a-good-long-password"}
        )
        assert ok.status_code == 200 and ok.json()["password"] is None
        assert (await http.delete("/api/v1/credentials/CP-nope")).status_code == 404
    async with api(app, operator) as http:
        assert (await http.get("/api/v1/credentials")).status_code == 403
        assert (await http.put("/api/v1/credentials/CP-2", json={})).status_code == 403
    url = f"ws://127.0.0.1:{app.ocpp_port}/ocpp"
    ok_headers = basic("CP-1", "a-good-long-password")
    async with raw_charger(app.ocpp_port, "CP-1", additional_headers=ok_headers) as ws:
        assert (await call(ws, "BootNotification", BOOT))[2]["status"] == "Accepted"
    assert await refused(url, "CP-1") == 401
