"""The HTTP API: health, OpenAPI description, chargers list and detail."""

from __future__ import annotations

import httpx
from helpers import NOW, call, raw_charger

from chargewatch.app import App

SITES = "sites:\n  - id: north\n    chargers: [CP-A]\n"


async def test_healthz_and_openapi(app: App, http: httpx.AsyncClient) -> None:
    health = (await http.get("/healthz")).json()
    assert health["status"] == "ok" and health["journal"] == "ok"
    spec = (await http.get("/openapi.json")).json()
    assert {"/healthz", "/metrics", "/api/v1/chargers", "/api/v1/chargers/{charger_id}"} <= set(
        spec["paths"]
    )
    assert (await http.get("/docs")).status_code == 200
    notifier_paths = {
        "/api/v1/silences",
        "/api/v1/notifications",
        "/api/v1/receivers/{name}/test",
        "/api/v1/drivers/{id_tag}",
        "/api/v1/alertmanager",
        "/api/v1/alerts/{fingerprint}/unacknowledge",
    }
    assert notifier_paths <= set(spec["paths"])
    body = spec["paths"]["/api/v1/alertmanager"]["post"]["requestBody"]
    assert "alerts" in body["content"]["application/json"]["schema"]["properties"]


TOKEN = "a-token-of-24-characters"


async def test_api_tokens_guard_the_api_but_not_health_and_metrics(start_app, caplog) -> None:
    app: App = await start_app(f'http: {{api_tokens: ["{TOKEN}", "another-token-0123456"]}}')
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = await http.get("/api/v1/chargers", headers=headers)
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in answer.text
        for token in (TOKEN, "another-token-0123456"):
            ok = await http.get("/api/v1/chargers", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
        posted = await http.post("/api/v1/silences", json={})
        assert posted.status_code == 401  # refused before the body is even looked at
    assert TOKEN not in caplog.text


async def test_an_open_api_is_warned_about(start_app, caplog) -> None:
    app: App = await start_app()
    assert f"open to anyone who can reach port {app.http_port}" in caplog.text


async def test_chargers_list_detail_filters_and_404(start_app) -> None:
    app: App = await start_app(SITES)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        async with raw_charger(app.ocpp_port, "CP-A") as a, raw_charger(app.ocpp_port, "CP-B") as b:
            await call(
                a,
                "BootNotification",
                {
                    "chargePointVendor": "ABB",
                    "chargePointModel": "Terra 54",
                    "chargePointSerialNumber": "S1",
                    "firmwareVersion": "1.8",
                },
            )
            await call(
                a,
                "StatusNotification",
                {
                    "connectorId": 1,
                    "errorCode": "GroundFailure",
                    "status": "Faulted",
                    "vendorId": "https://chargex.inl.gov",
                    "vendorErrorCode": "CX002",
                    "info": "RCD tripped",
                    "timestamp": NOW,
                },
            )
            await call(b, "Heartbeat", {})
            listing = (await http.get("/api/v1/chargers")).json()
            assert listing["count"] == 2
            assert [c["charger_id"] for c in listing["chargers"]] == ["CP-A", "CP-B"]
            north = (await http.get("/api/v1/chargers", params={"site": "north"})).json()
            assert [c["charger_id"] for c in north["chargers"]] == ["CP-A"]
            detail = (await http.get("/api/v1/chargers/CP-A")).json()
            offline = (await http.get("/api/v1/chargers", params={"connected": "false"})).json()
            assert offline["count"] == 0
        assert detail["site"] == "north" and detail["connected"] is True
        assert (
            detail["vendor"],
            detail["model"],
            detail["serial_number"],
            detail["firmware_version"],
        ) == ("ABB", "Terra 54", "S1", "1.8")
        assert detail["last_seen"] and detail["connected_since"]
        conn = detail["connectors"][0]
        assert (
            conn["status"],
            conn["error_code"],
            conn["vendor_error_code"],
            conn["chargex_code"],
            conn["fault_category"],
            conn["info"],
        ) == ("Faulted", "GroundFailure", "CX002", "CX002", "safety", "RCD tripped")
        assert conn["charger_timestamp"] == "2026-11-22T10:00:00Z"
        assert conn["since"] and conn["open_session"] is None
        missing = await http.get("/api/v1/chargers/NOPE")
        assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]
        bad = await http.get("/api/v1/chargers", params={"connected": "maybe"})
        assert bad.status_code == 422
