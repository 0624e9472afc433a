"""The idTag registry against a real App: answers on the wire to real 1.6 and 2.0.1 chargers
(accepted, blocked, expired by time, parent / group, unknown by policy), the admin-only
API and its precise refusals, the offline CLI, persistence, and BlockedTagUsed firing."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import NOW, call, lib_charger, raw_charger
from helpers_v201 import T0, journal, lib_station, tx_event
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from chargewatch.app import App
from chargewatch.cli import main

ADMIN = "config-admin-token-0123456789"
SITES = "sites:\n  - id: depot\n    chargers: [CP-T, CP-T2, ST-T, ST-T2]\n"
ALLOW_LIST = (
    "ocpp:\n  authorization:\n    mode: allow_list\n    allow_list: [LISTED]\n"
    "    unknown_tag_status: Unknown\n"
)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}")


async def put(http: httpx.AsyncClient, tag: str, token: str | None = None, **body: Any) -> Any:
    answer = await http.put(f"/api/v1/tags/{tag}", json=body, headers=bearer(token or ADMIN))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def authorize16(ws: Any, tag: str) -> dict[str, Any]:
    answer = await call(ws, "Authorize", {"idTag": tag})
    assert answer[0] == 3, answer
    return answer[2]["idTagInfo"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARGEWATCH_TOKEN", raising=False)


async def test_16_answers_come_from_the_registry(start_app) -> None:
    app: App = await start_app(SITES + f'http: {{api_tokens: ["{ADMIN}"]}}\n')
    later = time.time() + 86400
    async with client(app) as http:
        await put(http, "Good-1", status="accepted", expiry=iso(later), parent_id="FLEET-A")
        await put(http, "LOST-7", status="blocked", note="reported stolen")
        await put(http, "OLD-1", expiry=iso(time.time() - 60))  # accepted, but expired
        await put(http, "DEAD", status="invalid")
    async with raw_charger(app.ocpp_port, "CP-T") as ws:
        # the exact wire: expiry as an OCPP dateTime, the parent as parentIdTag
        assert await authorize16(ws, "GOOD-1") == {
            "status": "Accepted",
            "expiryDate": iso(later),
            "parentIdTag": "FLEET-A",
        }
        assert (await authorize16(ws, "good-1"))["status"] == "Accepted"  # a CiString
        assert await authorize16(ws, "LOST-7") == {"status": "Blocked"}
        assert (await authorize16(ws, "OLD-1"))["status"] == "Expired"
        assert await authorize16(ws, "DEAD") == {"status": "Invalid"}
        assert await authorize16(ws, "NOBODY") == {"status": "Accepted"}  # accept_all: default
        start = {"connectorId": 1, "idTag": "lost-7", "meterStart": 0, "timestamp": NOW}
        started = await call(ws, "StartTransaction", start)
        assert started[2]["idTagInfo"] == {"status": "Blocked"}
        stop = {
            "transactionId": started[2]["transactionId"],
            "idTag": "GOOD-1",
            "meterStop": 10,
            "timestamp": NOW,
        }
        stopped = await call(ws, "StopTransaction", stop)
        assert stopped[2]["idTagInfo"]["parentIdTag"] == "FLEET-A"
    # the `ocpp` library validates every answer against the 1.6 schemas
    async with lib_charger(app.ocpp_port, "CP-T2") as cp:
        got = await cp.call(c16.Authorize(id_tag="GOOD-1"))
        assert got.id_tag_info["parent_id_tag"] == "FLEET-A"
    statuses = [(a["id_tag"], a["status"]) for a in journal(app, "CP-T", "authorized")]
    assert statuses[2:5] == [("LOST-7", "Blocked"), ("OLD-1", "Expired"), ("DEAD", "Invalid")]
    [session] = journal(app, "CP-T", "session_started")
    assert session["auth_status"] == "Blocked"


async def test_201_answers_with_id_token_info_and_group(start_app) -> None:
    app: App = await start_app(SITES + ALLOW_LIST)
    later = time.time() + 3600
    async with client(app) as http:  # an open API (no tokens): anonymous is admin
        await put(http, "CARD-1", expiry=iso(later), parent_id="GROUP-9", token_type="ISO14443")
        await put(http, "CARD-2", status="blocked")
    async with lib_station(app.ocpp_port, "ST-T") as cp:

        async def info(tag: str) -> dict[str, Any]:
            token = {"idToken": tag, "type": "ISO14443"}
            return (await cp.send(c201.Authorize(id_token=token))).id_token_info

        assert await info("card-1") == {
            "status": "Accepted",
            "cache_expiry_date_time": iso(later),
            "group_id_token": {"id_token": "GROUP-9", "type": "Central"},
        }
        assert await info("CARD-2") == {"status": "Blocked"}
        assert await info("LISTED") == {"status": "Accepted"}  # the config allow-list
        assert await info("STRANGER") == {"status": "Unknown"}  # 2.0.1's word for it
        blocked = {"idToken": "CARD-2", "type": "ISO14443"}
        started = await cp.send(
            tx_event("Started", 0, "t-1", T0, "Authorized", evse={"id": 1}, id_token=blocked)
        )
        assert started.id_token_info == {"status": "Blocked"}
    [session] = journal(app, "ST-T", "session_started")
    assert (session["id_tag"], session["auth_status"]) == ("CARD-2", "Blocked")
    # a 1.6 charger has no Unknown: the same policy answers it Invalid
    async with raw_charger(app.ocpp_port, "CP-T") as ws:
        assert await authorize16(ws, "STRANGER") == {"status": "Invalid"}


async def test_a_tag_expires_by_time_alone(start_app) -> None:
    app: App = await start_app(SITES)
    soon = time.time() + 1.5
    async with client(app) as http:
        await put(http, "BRIEF", expiry=iso(soon))
        assert (await http.get("/api/v1/tags/brief")).json()["effective"] == "Accepted"
    async with raw_charger(app.ocpp_port, "CP-T") as ws:
        assert (await authorize16(ws, "BRIEF"))["status"] == "Accepted"
        await asyncio.sleep(max(0.0, int(soon) + 1 - time.time()) + 0.1)  # iso() drops the ms
        assert (await authorize16(ws, "BRIEF"))["status"] == "Expired"
    async with client(app) as http:
        assert (await http.get("/api/v1/tags/BRIEF")).json()["effective"] == "Expired"


async def test_api_roles_and_precise_refusals(start_app) -> None:
    app: App = await start_app(SITES + f'http: {{api_tokens: ["{ADMIN}"]}}\n')
    async with client(app) as http:
        made = await http.post(
            "/api/v1/tokens", json={"name": "grafana", "role": "viewer"}, headers=bearer(ADMIN)
        )
        viewer = made.json()["token"]
        made = await http.post(
            "/api/v1/tokens", json={"name": "noc", "role": "operator"}, headers=bearer(ADMIN)
        )
        operator = made.json()["token"]
        for token in (viewer, operator):
            refused = await http.put(
                "/api/v1/tags/X1", json={"status": "blocked"}, headers=bearer(token)
            )
            assert refused.status_code == 403 and "needs the admin role" in refused.text
            gone = await http.delete("/api/v1/tags/X1", headers=bearer(token))
            assert gone.status_code == 403
        await put(http, "X1", status="blocked")
        listing = await http.get("/api/v1/tags", headers=bearer(viewer))  # a viewer reads
        assert listing.status_code == 200
        body = listing.json()
        assert body["count"] == 1 and body["list_version"] == 1
        assert body["tags"][0]["id_tag"] == "X1" and body["tags"][0]["status"] == "blocked"

        async def refusal(tag: str, **payload: Any) -> str:
            answer = await http.put(f"/api/v1/tags/{tag}", json=payload, headers=bearer(ADMIN))
            assert answer.status_code == 422, answer.text
            return json.dumps(answer.json()["detail"])

        assert "status" in await refusal("X2", status="stolen")
        assert "parent_id" in await refusal("X2", parent_id="x2")
        assert "owner" in await refusal("X2", owner="NO-SUCH-DRIVER")
        assert "expiry" in await refusal("X2", expiry="next tuesday")
        assert "colour" in await refusal("X2", colour="red")  # unknown fields are refused
        assert "id_tag" in await refusal("A" * 37)  # 2.0.1 idToken is at most 36
        missing = await http.get("/api/v1/tags/NOPE", headers=bearer(viewer))
        assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]
        assert (await http.delete("/api/v1/tags/NOPE", headers=bearer(ADMIN))).status_code == 404

        driver = await http.put(
            "/api/v1/drivers/ANN-TAG",
            json={"name": "Ann", "targets": ["mailto://ann@example.org"]},
            headers=bearer(ADMIN),
        )
        assert driver.status_code == 200, driver.text
        owned = await put(http, "ANN-CARD-2", owner="ann-tag")
        assert (owned["owner"], owned["owner_name"]) == ("ann-tag", "Ann")

        # the case it was first registered in stays; a change bumps the list version
        await put(http, "x1", status="accepted")
        got = (await http.get("/api/v1/tags/X1", headers=bearer(viewer))).json()
        assert (got["id_tag"], got["status"]) == ("X1", "accepted")
        assert (await http.delete("/api/v1/tags/x1", headers=bearer(ADMIN))).status_code == 204
        assert (await http.get("/api/v1/tags/X1", headers=bearer(viewer))).status_code == 404
        assert (await http.get("/api/v1/tags", headers=bearer(viewer))).json()["list_version"] == 4

        audit = (await http.get("/api/v1/audit", headers=bearer(ADMIN))).json()["items"]
        done = {(a["method"], a["path"], a["status"], a["who"]) for a in audit}
        assert ("PUT", "/api/v1/tags/X1", 403, "grafana") in done
        assert ("DELETE", "/api/v1/tags/x1", 204, "config:1") in done


async def test_cli_offline_and_the_registry_survives_a_restart(
    start_app, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    app: App = await start_app(SITES, data_dir=data)
    await app.stop()  # a store exists, nobody holds the lock
    assert main(["tags", "add", "CLI-1", "--status", "blocked", "--data-dir", str(data)]) == 0
    assert main(["tags", "add", "CLI-2", "--parent", "CLI-1", "--data-dir", str(data)]) == 0
    assert main(["tags", "add", "cli-1", "--data-dir", str(data)]) == 1  # there already
    assert main(["tags", "set", "NOPE", "--status", "blocked", "--data-dir", str(data)]) == 1
    assert main(["tags", "add", "BAD TAG", "--data-dir", str(data)]) == 2
    expires = "2020-01-01T00:00:00Z"
    assert main(["tags", "set", "cli-2", "--expires", expires, "--data-dir", str(data)]) == 0
    capsys.readouterr()
    assert main(["tags", "list", "--json", "--data-dir", str(data)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["list_version"] == 3
    assert [(t["id_tag"], t["status"], t["parent_id"]) for t in listed["tags"]] == [
        ("CLI-1", "blocked", None),
        ("CLI-2", "accepted", "CLI-1"),
    ]

    app = await start_app(SITES, data_dir=data)
    # the running one holds the lock: the CLI refuses to write behind its back
    assert main(["tags", "remove", "CLI-1", "--data-dir", str(data)]) == 1
    assert "use the API" in capsys.readouterr().err
    async with raw_charger(app.ocpp_port, "CP-T") as ws:
        assert (await authorize16(ws, "cli-1"))["status"] == "Blocked"
        assert await authorize16(ws, "CLI-2") == {
            "status": "Expired",
            "expiryDate": "2020-01-01T00:00:00Z",
            "parentIdTag": "CLI-1",
        }
    async with client(app) as http:  # written through the API, kept across a restart
        await put(http, "API-1", status="blocked")
    await app.stop()
    app = await start_app(SITES, data_dir=data)
    async with raw_charger(app.ocpp_port, "CP-T") as ws:
        assert (await authorize16(ws, "API-1"))["status"] == "Blocked"
    await app.stop()
    assert main(["tags", "remove", "CLI-1", "--data-dir", str(data)]) == 0
    assert main(["tags", "remove", "CLI-1", "--data-dir", str(data)]) == 1


async def test_blocked_tag_use_fires_the_rule(start_app) -> None:
    app: App = await start_app(SITES)
    async with client(app) as http:
        await put(http, "LOST-9", status="blocked")
        async with lib_station(app.ocpp_port, "ST-T2") as cp:
            token = {"idToken": "unknown-ok", "type": "ISO14443"}
            await cp.send(c201.Authorize(id_token=token))  # accepted: no alert
            token = {"idToken": "LOST-9", "type": "ISO14443"}
            assert (await cp.send(c201.Authorize(id_token=token))).id_token_info == {
                "status": "Blocked"
            }

            async def blocked_alerts() -> list[dict[str, Any]]:
                alerts = (await http.get("/api/v1/alerts")).json()["alerts"]
                return [a for a in alerts if a["labels"]["alertname"] == "BlockedTagUsed"]

            for _ in range(250):
                found = await blocked_alerts()
                if found:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("BlockedTagUsed did not fire")
    [alert] = found
    assert alert["labels"]["charger"] == "ST-T2"
    assert alert["annotations"]["summary"] == "Blocked idTag LOST-9 used on ST-T2"


async def test_an_expiry_out_of_range_is_refused(start_app) -> None:
    app: App = await start_app(SITES)
    async with client(app) as http:
        for when in ("0001-01-01T00:00:00+14:00", "2300-01-01T00:00:00Z"):
            answer = await http.put("/api/v1/tags/T1", json={"expiry": when})
            assert answer.status_code == 422 and "expiry" in answer.text, answer.text
        assert (await http.get("/api/v1/tags/T1")).status_code == 404


async def test_a_session_with_a_drivers_card_notifies_that_driver(start_app, tmp_path) -> None:
    ann = tmp_path / "ann.jsonl"
    app: App = await start_app(
        SITES
        + "notifications:\n  drivers:\n"
        + f'    - {{id_tag: ANN-TAG, name: Ann, targets: ["file:{ann}"], notify: [started]}}\n'
    )
    async with client(app) as http:
        owned = await put(http, "ANN-CARD-2", owner="ann-tag")
        assert owned["owner_name"] == "Ann"
        await put(http, "NOT-ANNS")
    async with raw_charger(app.ocpp_port, "CP-T") as ws:
        for connector, tag in ((1, "NOT-ANNS"), (2, "ann-card-2")):
            start = {"connectorId": connector, "idTag": tag, "meterStart": 0, "timestamp": NOW}
            assert (await call(ws, "StartTransaction", start))[2]["idTagInfo"]["status"] == (
                "Accepted"
            )
        for _ in range(250):
            if ann.exists() and ann.read_text().strip():
                break
            await asyncio.sleep(0.02)
    notices = [json.loads(line) for line in ann.read_text().splitlines()]
    assert len(notices) == 1  # her card's session, not the other one
    assert "Charging started at CP-T connector 2" in notices[0]["text"]
