"""Tokens with roles against a real App: viewer reads, operator changes state, admin manages
tokens; config tokens are admin; the store keeps only hashes; revoking never opens the API;
no token reaches the logs; the `tokens` CLI over the API and offline."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import NOW, call, db_rows, raw_charger

from chargewatch.access import required_role
from chargewatch.app import App
from chargewatch.cli import main
from chargewatch.config import load_config

ADMIN = "config-admin-token-0123456789"
FAST = "rules:\n  overrides:\n    - params: {faulted_for: 0s}\n"
CONFIGURED = FAST + f'http: {{api_tokens: ["{ADMIN}"]}}\n'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def client(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}")


async def create(http: httpx.AsyncClient, name: str, role: str, by: str = ADMIN) -> str:
    answer = await http.post(
        "/api/v1/tokens", json={"name": name, "role": role}, headers=bearer(by)
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARGEWATCH_URL", raising=False)
    monkeypatch.delenv("CHARGEWATCH_TOKEN", raising=False)


def test_role_rules_are_by_method_and_path() -> None:
    assert required_role("GET", "/healthz") is None and required_role("GET", "/metrics") is None
    assert required_role("GET", "/api/v1/chargers") == "viewer"
    assert required_role("HEAD", "/api/v1/alerts") == "viewer"
    # a router nobody told us about (remote commands) is an operator's
    assert required_role("POST", "/api/v1/chargers/CP-1/commands/reset") == "operator"
    assert required_role("DELETE", "/api/v1/silences/x") == "operator"
    assert required_role("GET", "/api/v1/tokens") == "admin"
    assert required_role("POST", "/api/v1/tokens") == "admin"
    assert required_role("GET", "/api/v1/audit") == "operator"
    assert required_role("GET", "/api/v1/drivers") == "viewer"
    assert required_role("PUT", "/api/v1/drivers/TAG") == "admin"
    assert required_role("GET", "/api/v1/tokensmith") == "viewer"  # a prefix is a segment


async def test_viewer_operator_admin(start_app) -> None:
    app: App = await start_app(CONFIGURED)
    async with client(app) as http, raw_charger(app.ocpp_port, "CP-A") as ws:
        viewer = await create(http, "grafana", "viewer")
        operator = await create(http, "night-shift", "operator")
        admin = await create(http, "lead", "admin")
        fault = {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted"}
        assert (await call(ws, "StatusNotification", {**fault, "timestamp": NOW}))[0] == 3

        async def alerts() -> list[dict[str, Any]]:
            for _ in range(250):
                found = (await http.get("/api/v1/alerts", headers=bearer(viewer))).json()["alerts"]
                if found:
                    return found
                await asyncio.sleep(0.02)
            raise AssertionError("no alert")

        [alert] = await alerts()
        ack = f"/api/v1/alerts/{alert['fingerprint']}/acknowledge"
        silence = {"matchers": ['charger="CP-A"'], "duration": "1h", "created_by": "x"}

        assert (await http.get("/api/v1/chargers", headers=bearer(viewer))).status_code == 200
        refused = await http.post(ack, json={"by": "v"}, headers=bearer(viewer))
        assert refused.status_code == 403
        assert "needs the operator role" in refused.json()["detail"]
        assert viewer not in refused.text
        assert (
            await http.post("/api/v1/silences", json=silence, headers=bearer(viewer))
        ).status_code == 403
        assert (await http.get("/api/v1/tokens", headers=bearer(viewer))).status_code == 403

        assert (
            await http.post(ack, json={"by": "op"}, headers=bearer(operator))
        ).status_code == 202
        assert (
            await http.post("/api/v1/silences", json=silence, headers=bearer(operator))
        ).status_code == 201
        for method, path in (("GET", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/grafana")):
            answer = await http.request(method, path, headers=bearer(operator))
            assert answer.status_code == 403, (method, path)
        body = {"name": "x", "role": "admin"}
        answer = await http.post("/api/v1/tokens", json=body, headers=bearer(operator))
        assert answer.status_code == 403  # an operator cannot make themselves admin
        driver = await http.put(
            "/api/v1/drivers/TAG1", json={"targets": ["mailto://a@b.c"]}, headers=bearer(operator)
        )
        assert driver.status_code == 403

        for token in (admin, ADMIN):  # a store admin and the config's token
            listing = await http.get("/api/v1/tokens", headers=bearer(token))
            assert listing.status_code == 200
        names = {t["name"]: t for t in listing.json()["tokens"]}
        assert set(names) == {"config:1", "grafana", "night-shift", "lead"}
        assert names["grafana"]["role"] == "viewer" and names["grafana"]["last_used"]
        assert names["config:1"]["source"] == "config" and names["lead"]["created_by"] == "config:1"
        assert not any(t in listing.text for t in (viewer, operator, admin, ADMIN))

        for headers in ({}, bearer("cw_wrong"), {"Authorization": viewer}):  # no Bearer scheme
            answer = await http.get("/api/v1/chargers", headers=headers)
            assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200
        taken = await http.post(
            "/api/v1/tokens", json={"name": "lead", "role": "viewer"}, headers=bearer(admin)
        )
        assert taken.status_code == 409


async def test_store_keeps_only_the_hash(start_app, tmp_path: Path) -> None:
    app: App = await start_app(CONFIGURED)
    async with client(app) as http:
        token = await create(http, "grafana", "viewer")
    assert token.startswith("cw_") and len(token) >= 46  # 32 random bytes, base64url
    [(digest,)] = db_rows(tmp_path / "data", "SELECT token_sha256 FROM api_tokens")
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    await app.stop()
    for file in (tmp_path / "data").iterdir():  # the database, its WAL, anything else
        if file.is_file():
            assert token.encode() not in file.read_bytes(), file


async def test_revoke_and_an_open_api_that_stays_closed(start_app, caplog) -> None:
    app: App = await start_app()  # no token anywhere: open, as before, with its warning
    assert "open to anyone" in caplog.text
    async with client(app) as http:
        assert (await http.get("/api/v1/chargers")).status_code == 200
        admin = await create(http, "first", "admin", by="")  # anonymous made the first token
        viewer = await create(http, "v", "viewer", by=admin)
        assert (await http.get("/api/v1/chargers")).status_code == 401  # closed from now on
        assert (await http.get("/api/v1/chargers", headers=bearer(viewer))).status_code == 200
        gone = await http.delete("/api/v1/tokens/v", headers=bearer(admin))
        assert gone.status_code == 200 and gone.json()["revoked"]
        assert (await http.get("/api/v1/chargers", headers=bearer(viewer))).status_code == 401
        missing = await http.delete("/api/v1/tokens/v", headers=bearer(admin))
        assert missing.status_code == 404
        assert (await http.delete("/api/v1/tokens/first", headers=bearer(admin))).status_code == 200
        # every token revoked: still closed (recover with `tokens create --data-dir`)
        assert (await http.get("/api/v1/chargers")).status_code == 401
        assert (await http.get("/api/v1/chargers", headers=bearer(admin))).status_code == 401


async def test_no_token_in_the_logs(start_app, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    app: App = await start_app(CONFIGURED)
    async with client(app) as http:
        token = await create(http, "grafana", "operator")
        await http.get("/api/v1/chargers", headers=bearer(token))
        await http.post("/api/v1/silences", json={"token": token}, headers=bearer(token))
        await http.get("/api/v1/chargers", headers=bearer(token[::-1]))
        await http.delete("/api/v1/tokens/grafana", headers=bearer(ADMIN))
        await http.get("/api/v1/chargers", headers=bearer(token))
        audit = (await http.get("/api/v1/audit", headers=bearer(ADMIN))).text
    await app.stop()
    for secret in (token, token[::-1], ADMIN):
        assert secret not in caplog.text and secret not in audit


async def test_config_file_readable_by_others_is_warned_about(tmp_path: Path, caplog) -> None:
    path = tmp_path / "chargewatch.yaml"
    path.write_text("log_level: INFO\n")
    for mode, warned in ((0o644, True), (0o600, False)):
        os.chmod(path, mode)
        caplog.clear()
        app = App(_from_file(path, tmp_path / "data"))
        await app.start()
        await app.stop()
        assert (f"config file {path} is readable by group or others" in caplog.text) == warned


def _from_file(path: Path, data_dir: Path) -> Any:
    config = load_config(path)
    return config.model_copy(
        update={
            "data_dir": data_dir,
            "ocpp": config.ocpp.model_copy(update={"host": "127.0.0.1", "port": 0}),
            "http": config.http.model_copy(update={"host": "127.0.0.1", "port": 0}),
        }
    )


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_tokens_cli_offline_then_over_the_api(start_app, tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    code, out, err = await cli(
        capsys, "tokens", "create", "--name", "boot", "--role", "admin", f"--data-dir={data}"
    )
    assert code == 0, err
    boot = out.strip()
    assert boot.startswith("cw_") and "shown this once" in err and boot not in err

    app: App = await start_app(data_dir=data)
    assert "open to anyone" not in capsys.readouterr().err
    url = f"--url=http://127.0.0.1:{app.http_port}"
    code, _, err = await cli(
        capsys, "tokens", "create", "--name", "x", "--role", "viewer", f"--data-dir={data}"
    )
    assert code == 1 and "in use by another chargewatch process" in err  # run holds the lock

    code, out, err = await cli(
        capsys, "tokens", "create", "--name", "dash", "--role", "viewer", url, "--token", boot
    )
    assert code == 0, err
    dash = out.strip()
    async with client(app) as http:
        assert (await http.get("/api/v1/chargers", headers=bearer(dash))).status_code == 200
    code, out, err = await cli(capsys, "tokens", "list", url, "--token", dash)
    assert code == 1 and "needs the admin role" in err
    code, out, err = await cli(capsys, "tokens", "list", url, "--token", boot)
    assert code == 0, err
    table = [line.split() for line in out.splitlines()]
    assert table[0][:3] == ["NAME", "ROLE", "SOURCE"]
    assert [r[:3] for r in table[1:]] == [["boot", "admin", "store"], ["dash", "viewer", "store"]]
    assert boot not in out and dash not in out
    code, out, err = await cli(capsys, "tokens", "revoke", "dash", url, "--token", boot)
    assert (code, out) == (0, "token 'dash' revoked\n"), err
    code, out, _ = await cli(capsys, "tokens", "list", "--revoked", f"--data-dir={data}")
    assert code == 0 and "REVOKED" in out.splitlines()[0] and "dash" in out
