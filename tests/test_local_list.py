"""Local authorisation lists on real chargers: the `ocpp` library's 1.6 ChargePoint and
2.0.1 station take SendLocalList over real WebSockets (validating our requests against
their schemas) and record what they got — after they sign in, after a tag changes, not
again after a restart when they are up to date, and not hammered when they refuse."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import NOW, app_charger, eventually
from helpers_v201 import STATION, journal
from ocpp.routing import on
from ocpp.v16 import ChargePoint as CP16
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as CP201
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from chargewatch.app import App
from chargewatch.cli import main

SITES = "sites:\n  - id: depot\n    chargers: [CP-L, CP-NO, ST-L, CP-OFF]\n"
SYNC = SITES + "ocpp:\n  authorization:\n    sync_local_lists: true\n"
LONG = "A" * 21  # a 2.0.1 idToken no 1.6 charger can hold (CiString20Type)


class Charger16(CP16):
    """Stores the local list it is sent (or refuses it, as told)."""

    lists: list[dict[str, Any]]
    answer = "Accepted"
    version = 0

    @on("SendLocalList")
    def send_local_list(self, list_version: int, update_type: str, **kw: Any) -> Any:
        self.lists.append({"list_version": list_version, "update_type": update_type, **kw})
        if self.answer == "Accepted":
            self.version = list_version
        return r16.SendLocalList(status=self.answer)

    @on("GetLocalListVersion")
    def get_local_list_version(self) -> Any:
        return r16.GetLocalListVersion(list_version=self.version)


class Station201(CP201):
    lists: list[dict[str, Any]]

    @on("SendLocalList")
    def send_local_list(self, version_number: int, update_type: str, **kw: Any) -> Any:
        self.lists.append({"version_number": version_number, "update_type": update_type, **kw})
        return r201.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def get_local_list_version(self) -> Any:
        return r201.GetLocalListVersion(version_number=len(self.lists))


def charger(app: App, cid: str, cls: type, protocol: str = "ocpp1.6") -> Any:
    return app_charger(app, cid, cls, protocol, lists=[])


async def boot16(cp: Any) -> None:
    await cp.call(c16.BootNotification(charge_point_vendor="ABB", charge_point_model="Terra"))


def client(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}")


async def put(http: httpx.AsyncClient, tag: str, **body: Any) -> None:
    answer = await http.put(f"/api/v1/tags/{tag}", json=body)
    assert answer.status_code == 200, answer.text


def pushes(app: App, cid: str) -> list[dict[str, Any]]:
    return [c for c in journal(app, cid, "command") if c["by"] == "local-list-sync"]


async def test_the_list_arrives_after_sign_in_and_after_each_change(
    start_app, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    app: App = await start_app(SYNC, data_dir=data)
    async with client(app) as http:
        await put(http, "CARD-1", parent_id="FLEET")
        await put(http, "LOST-2", status="blocked", expiry="2030-01-01T00:00:00Z")
        await put(http, LONG)
    async with charger(app, "CP-L", Charger16) as cp:
        await asyncio.sleep(1.2)  # connected, not signed in: nothing is sent yet
        assert cp.lists == []
        await boot16(cp)
        await eventually(lambda: len(cp.lists) == 1)
        first = cp.lists[0]
        assert (first["list_version"], first["update_type"]) == (3, "Full")
        assert first["local_authorization_list"] == [
            {"id_tag": "CARD-1", "id_tag_info": {"status": "Accepted", "parent_id_tag": "FLEET"}},
            {
                "id_tag": "LOST-2",
                "id_tag_info": {"status": "Blocked", "expiry_date": "2030-01-01T00:00:00Z"},
            },
        ]  # the 21-character tag is left out: a 1.6 charger cannot hold it
        await eventually(lambda: len(pushes(app, "CP-L")) == 1)
        [sent] = pushes(app, "CP-L")
        assert sent["action"] == "SendLocalList" and sent["status"] == "Accepted"
        assert sent["request"]["localAuthorizationList"][0]["idTagInfo"]["parentIdTag"] == "FLEET"

        async with client(app) as http:  # a change reaches the connected charger
            await put(http, "CARD-1", status="blocked", parent_id="FLEET")  # PUT: the whole tag
        await eventually(lambda: len(cp.lists) == 2)
        assert cp.lists[1]["list_version"] == 4
        assert cp.lists[1]["local_authorization_list"][0] == {
            "id_tag": "CARD-1",
            "id_tag_info": {"status": "Blocked", "parent_id_tag": "FLEET"},
        }
        await cp.call(c16.Heartbeat())
        await asyncio.sleep(1.2)
        assert len(cp.lists) == 2  # up to date: nothing more
    await app.stop()

    # a restart does not resend to a charger that has this version already ...
    app = await start_app(SYNC, data_dir=data)
    async with charger(app, "CP-L", Charger16) as cp:
        cp.version = 4
        await boot16(cp)
        await asyncio.sleep(1.2)
        assert cp.lists == []
        async with client(app) as http:
            got = await http.post("/api/v1/chargers/CP-L/commands/get-local-list-version", json={})
            assert got.status_code == 200, got.text
            assert got.json()["result"] == {"listVersion": 4}
            # ... and an operator can push it by hand (the registry's list, version 4)
            sent = await http.post("/api/v1/chargers/CP-L/commands/send-local-list", json={})
            assert sent.status_code == 200 and sent.json()["status"] == "Accepted", sent.text
            assert sent.json()["action"] == "SendLocalList"
            await http.delete("/api/v1/tags/CARD-1")
        await eventually(lambda: len(cp.lists) == 2)
        assert [x["list_version"] for x in cp.lists] == [4, 5]
        assert [e["id_tag"] for e in cp.lists[1]["local_authorization_list"]] == ["LOST-2"]


async def test_a_charger_that_refuses_is_not_hammered(start_app) -> None:
    app: App = await start_app(SYNC)
    async with client(app) as http:
        await put(http, "CARD-1")
    async with charger(app, "CP-NO", Charger16) as cp:
        cp.answer = "NotSupported"
        await boot16(cp)
        await eventually(lambda: len(cp.lists) == 1)
        for _ in range(3):
            await cp.call(c16.Heartbeat())
            await cp.call(c16.StatusNotification(1, "NoError", "Available", timestamp=NOW))
        await asyncio.sleep(1.2)
        assert len(cp.lists) == 1  # recorded, left alone
        [refused] = pushes(app, "CP-NO")
        assert refused["status"] == "NotSupported"
        async with client(app) as http:  # the next change tries again, once
            await put(http, "CARD-2")
        await eventually(lambda: len(cp.lists) == 2)
        await asyncio.sleep(1.2)
        assert len(cp.lists) == 2


async def test_a_201_station_gets_id_token_info(
    start_app, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHARGEWATCH_URL", raising=False)
    monkeypatch.delenv("CHARGEWATCH_TOKEN", raising=False)
    app: App = await start_app(SYNC)
    async with client(app) as http:
        await put(http, "CARD-1", parent_id="FLEET", token_type="KeyCode")
        await put(http, LONG, status="invalid")
    async with charger(app, "ST-L", Station201, "ocpp2.0.1") as cp:
        await cp.call(c201.BootNotification(charging_station=STATION, reason="PowerUp"))
        await eventually(lambda: len(cp.lists) == 1)
        [got] = cp.lists
        assert (got["version_number"], got["update_type"]) == (2, "Full")
        assert got["local_authorization_list"] == [
            {
                "id_token": {"id_token": LONG, "type": "ISO14443"},
                "id_token_info": {"status": "Invalid"},
            },
            {
                "id_token": {"id_token": "CARD-1", "type": "KeyCode"},
                "id_token_info": {
                    "status": "Accepted",
                    "group_id_token": {"id_token": "FLEET", "type": "Central"},
                },
            },
        ]
        async with client(app) as http:
            got = await http.post("/api/v1/chargers/ST-L/commands/get-local-list-version", json={})
        assert got.json()["result"] == {"versionNumber": 1}
        # the CLI, over the API: a push by hand, then the version asked again
        api = f"--url=http://127.0.0.1:{app.http_port}"
        code = await asyncio.to_thread(main, ["charger", "send-local-list", "ST-L", api])
        assert code == 0, capsys.readouterr().err
        assert len(cp.lists) == 2 and cp.lists[1]["version_number"] == 2
        code = await asyncio.to_thread(main, ["charger", "get-local-list-version", "ST-L", api])
        assert code == 0 and '"versionNumber": 2' in capsys.readouterr().out


async def test_no_list_is_sent_unless_configured(start_app) -> None:
    app: App = await start_app(SITES)
    async with client(app) as http:
        await put(http, "CARD-1")
    async with charger(app, "CP-OFF", Charger16) as cp:
        await boot16(cp)
        await cp.call(c16.Heartbeat())
        await asyncio.sleep(1.2)
        assert cp.lists == []
    assert pushes(app, "CP-OFF") == []
