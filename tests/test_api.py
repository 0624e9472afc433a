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
