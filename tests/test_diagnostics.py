"""Remote diagnostics: get-diagnostics / get-log through the API and the CLI to real library
chargers (ocpp 1.6 and 2.0.1 ChargePoints) that then upload a file over HTTP to the URL
they were given and report it (DiagnosticsStatusNotification / LogStatusNotification).
The upload endpoint's refusals (wrong, used or expired ticket, a file name with a path, too
large, a broken form) are checked to leave nothing on disk; listing and downloading with
token roles."""

from __future__ import annotations

import hashlib
import logging
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import eventually
from helpers_v201 import journal
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as CP16
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as CP201
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201
from test_api_auth import ADMIN, bearer, create
from test_charger_cli import cli, url
from test_commands import charger, post

from chargewatch.app import App
from chargewatch.config import HttpConfig, parse_config
from chargewatch.multipart import Multipart
from chargewatch.uploads import Tickets, UploadRefused, public_url
from chargewatch.yamlfile import ConfigError

# bytes that look like multipart delimiters and line ends, so a careless parser shows it
PAYLOAD = b"diag\r\n--not-a-boundary\r\n\x00\xff" * 500 + b"\r\n--"


class Diag16(CP16):
    """Answers GetDiagnostics with a file name and, when `uploads`, PUTs the file to
    location + name (as `curl -T` and MicroOcpp do), then reports Uploaded."""

    received: list[tuple[str, dict[str, Any]]]
    uploads = True
    file_name: str | None = "diag-CP.tar.gz"
    upload: httpx.Response | None = None

    @on("GetDiagnostics")
    def get_diagnostics(self, **kw: Any) -> Any:
        self.received.append(("GetDiagnostics", kw))
        return r16.GetDiagnostics(file_name=self.file_name)

    @after("GetDiagnostics")
    async def send_file(self, location: str, **kw: Any) -> None:
        if not self.uploads or not self.file_name:
            return
        await self.call(c16.DiagnosticsStatusNotification(status="Uploading"))
        async with httpx.AsyncClient() as h:
            self.upload = await h.put(location + self.file_name, content=PAYLOAD)
        status = "Uploaded" if self.upload.status_code == 201 else "UploadFailed"
        await self.call(c16.DiagnosticsStatusNotification(status=status))


class Log201(CP201):
    """Answers GetLog Accepted and POSTs the log as a multipart form to remoteLocation."""

    received: list[tuple[str, dict[str, Any]]]
    upload: httpx.Response | None = None

    @on("GetLog")
    def get_log(self, **kw: Any) -> Any:
        self.received.append(("GetLog", kw))
        return r201.GetLog(status="Accepted", filename="station.log")

    @after("GetLog")
    async def send_file(self, log: dict[str, Any], request_id: int, **kw: Any) -> None:
        await self.call(c201.LogStatusNotification(status="Uploading", request_id=request_id))
        form = {"file": ("station.log", PAYLOAD, "text/plain")}
        async with httpx.AsyncClient() as h:
            self.upload = await h.post(log["remote_location"], data={"note": "x"}, files=form)
        status = "Uploaded" if self.upload.status_code == 201 else "UploadFailed"
        await self.call(c201.LogStatusNotification(status=status, request_id=request_id))


def stored(app: App) -> list[Path]:
    """Every file under the upload directory (partial ones included)."""
    root = app.config.data_dir / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_16_get_diagnostics_uploads_to_chargewatch(app, http) -> None:
    async with charger(app, "CP-D", Diag16, "ocpp1.6") as cp:
        body = {"by": "alice", "start_time": "2026-12-01T00:00:00+01:00", "retries": 2}
        answer = await post(http, "CP-D", "get-diagnostics", body)
        assert answer.status_code == 200, answer.text
        out = answer.json()
        assert (out["action"], out["result"]) == ("GetDiagnostics", {"fileName": "diag-CP.tar.gz"})
        link = out["upload_url"]
        assert link.startswith(f"http://127.0.0.1:{app.http_port}/uploads/") and link[-1] == "/"
        [(_, sent)] = cp.received
        assert sent == {"location": link, "retries": 2, "start_time": "2026-11-30T23:00:00Z"}
        await eventually(lambda: app.state.chargers["CP-D"].diagnostics_status == "Uploaded")
    assert cp.upload is not None and cp.upload.status_code == 201, cp.upload.text
    [event] = journal(app, "CP-D", "upload")
    assert event["bytes"] == len(PAYLOAD)
    assert event["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert (event["command"], event["filename"], event["by"]) == (
        "get-diagnostics",
        "diag-CP.tar.gz",
        "alice",
    )
    [path] = stored(app)
    assert path.parent.name == "CP-D" and path.name == event["stored"]
    assert path.name.endswith("Z-diag-CP.tar.gz") and path.read_bytes() == PAYLOAD
    assert cp.upload.json()["sha256"] == event["sha256"]
    [command] = journal(app, "CP-D", "command")
    assert command["request"]["location"] == link
    # single use: the same ticket again is gone, and nothing more is written
    again = await http.put(link + "again.bin", content=b"x")
    assert again.status_code == 410 and "used" in again.json()["detail"]
    assert stored(app) == [path]
    # listed and downloaded through the API
    listed = (await http.get("/api/v1/chargers/CP-D/uploads")).json()
    assert listed["count"] == 1 and listed["uploads"][0]["bytes"] == len(PAYLOAD)
    got = await http.get(listed["uploads"][0]["path"])
    assert got.status_code == 200 and got.content == PAYLOAD


async def test_201_get_log_security_log_as_a_multipart_form(app, http) -> None:
    async with charger(app, "CS-L", Log201, "ocpp2.0.1") as cs:
        body = {"log_type": "security", "stop_time": "2026-12-02T10:00:00Z", "request_id": 77}
        answer = await post(http, "CS-L", "get-log", body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "Accepted"
        link = answer.json()["upload_url"]
        [(_, sent)] = cs.received
        assert sent["log_type"] == "SecurityLog" and sent["request_id"] == 77
        assert sent["log"] == {"remote_location": link, "latest_timestamp": "2026-12-02T10:00:00Z"}

        def reported() -> list[dict]:
            return [e for e in journal(app, "CS-L", "log_status") if e["status"] == "Uploaded"]

        await eventually(reported)
    assert cs.upload is not None and cs.upload.status_code == 201, cs.upload.text
    [event] = journal(app, "CS-L", "upload")
    assert (event["filename"], event["request_id"], event["command"]) == (
        "station.log",
        77,
        "get-log",
    )
    assert event["content_type"] == "multipart/form-data"
    [path] = stored(app)
    assert path.read_bytes() == PAYLOAD and path.name.endswith("-station.log")
    # the neutral name on 2.0.1 asks for the diagnostics log, with a generated requestId
    async with charger(app, "CS-L2", Log201, "ocpp2.0.1") as cs:
        answer = await post(http, "CS-L2", "get-diagnostics", {"location": "ftp://x.example/"})
        assert answer.status_code == 200 and answer.json()["upload_url"] is None
        [(_, sent)] = cs.received
        assert sent["log_type"] == "DiagnosticsLog" and isinstance(sent["request_id"], int)
        assert sent["log"] == {"remote_location": "ftp://x.example/"}


async def test_an_operators_location_and_a_charger_with_nothing(app, http) -> None:
    async with charger(app, "CP-N", Diag16, "ocpp1.6") as cp:
        cp.uploads = False
        answer = await post(http, "CP-N", "get-diagnostics", {"location": "ftp://u@ftp.example/d"})
        assert answer.status_code == 200 and answer.json()["upload_url"] is None
        assert cp.received[0][1] == {"location": "ftp://u@ftp.example/d"}
        # no fileName: no diagnostics available, so the ticket given is revoked at once
        cp.file_name = None
        answer = await post(http, "CP-N", "get-diagnostics", {})
        assert answer.status_code == 200 and answer.json()["upload_url"] is None
        link = cp.received[1][1]["location"]
        late = await http.put(link + "late.bin", content=b"late")
        assert late.status_code == 404
        # what 1.6 cannot carry is refused before anything is sent
        for bad in ({"log_type": "security"}, {"request_id": 1}):
            refused = await post(http, "CP-N", "get-diagnostics", bad)
            assert refused.status_code == 422 and "OCPP 1.6 GetDiagnostics has no" in refused.text
        naive = await post(http, "CP-N", "get-log", {"start_time": "2026-12-01T00:00:00"})
        assert naive.status_code == 422
        assert len(cp.received) == 2
    assert stored(app) == []


async def test_refused_uploads_write_nothing_and_keep_the_ticket(start_app) -> None:
    app: App = await start_app("http:\n  max_upload_bytes: 1000\n")
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http,
        charger(app, "CP-R", Diag16, "ocpp1.6") as cp,
    ):
        cp.uploads = False
        answer = await post(http, "CP-R", "get-diagnostics", {})
        link = answer.json()["upload_url"]
        wrong = await http.put(link.replace("/uploads/", "/uploads/x") + "f.bin", content=b"1")
        assert wrong.status_code == 404 and wrong.json()["detail"] == "no such upload ticket"
        for name in ("..%2F..%2Fescape", "a%5Cb", "%2E%2E"):
            bad = await http.put(link + name, content=b"evil")
            assert bad.status_code == 400, (name, bad.text)
        assert "path separator" in (await http.put(link + "x%2Fy", content=b"1")).text
        form = {"file": ("../../escape", b"evil")}
        assert (await http.post(link, files=form)).status_code == 400
        big = await http.put(link + "big.bin", content=b"x" * 1001)
        assert big.status_code == 413 and "1000 bytes" in big.json()["detail"]

        async def chunks() -> Any:
            for _ in range(11):
                yield b"y" * 100

        streamed = await http.put(link + "big.bin", content=chunks())  # no Content-Length
        assert streamed.status_code == 413
        broken = await http.post(
            link,
            content=b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nab',
            headers={"Content-Type": "multipart/form-data; boundary=B"},
        )
        assert broken.status_code == 400 and "closing boundary" in broken.json()["detail"]
        no_boundary = await http.post(
            link, content=b"x", headers={"Content-Type": "multipart/form-data"}
        )
        assert no_boundary.status_code == 400
        assert stored(app) == [] and not (app.config.data_dir / "escape").exists()
        assert journal(app, "CP-R", "upload") == []
        # after all that the ticket still takes one good upload (1.6 chargers retry) ...
        good = await http.post(link, content=b"good", headers={"Content-Type": "text/plain"})
        assert good.status_code == 201, good.text
        # ... named after the charger's answer, as the path and the form named nothing
        assert good.json()["stored"].endswith("Z-diag-CP.tar.gz")
        assert (await http.post(link, content=b"again")).status_code == 410
    [path] = stored(app)
    assert path.read_bytes() == b"good"


def test_tickets_expire_and_are_bound_to_one_use() -> None:
    now = [1000.0]
    tickets = Tickets(3600, clock=lambda: now[0])
    token = tickets.issue("CP-1", "get-diagnostics", "bob")
    assert len(token) >= 43 and tickets.get(token).charger_id == "CP-1"
    assert tickets.find(token + "x") is None
    now[0] += 3601
    with pytest.raises(UploadRefused) as gone:
        tickets.get(token)
    assert gone.value.status == 410 and "expired" in gone.value.detail
    now[0] += 3600  # remembered one more lifetime, then forgotten: 404
    tickets.issue("CP-2", "get-log", "")
    with pytest.raises(UploadRefused) as unknown:
        tickets.get(token)
    assert unknown.value.status == 404


def test_multipart_reader_fed_byte_by_byte() -> None:
    body = (
        b'preamble\r\n--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nfield\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="d.txt"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + PAYLOAD + b"\r\n--XyZ--\r\nepilogue"
    )
    for step in (1, 7, len(body)):
        out: list[bytes] = []
        reader = Multipart("XyZ", out.append, lambda name: name)
        for i in range(0, len(body), step):
            reader.feed(body[i : i + step])
        reader.finish()
        assert b"".join(out) == PAYLOAD and reader.filename == "d.txt"


async def test_listing_and_downloading_need_a_viewer_token(start_app) -> None:
    app: App = await start_app(f'http: {{api_tokens: ["{ADMIN}"]}}\n')
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http,
        charger(app, "CP-T", Diag16, "ocpp1.6") as cp,
    ):
        viewer = await create(http, "grafana", "viewer")
        operator = await create(http, "night-shift", "operator")
        refused = await post(http, "CP-T", "get-diagnostics", {})
        assert refused.status_code == 401
        denied = await http.post(
            "/api/v1/chargers/CP-T/commands/get-diagnostics", json={}, headers=bearer(viewer)
        )
        assert denied.status_code == 403
        answer = await http.post(
            "/api/v1/chargers/CP-T/commands/get-diagnostics", json={}, headers=bearer(operator)
        )
        assert answer.status_code == 200, answer.text
        await eventually(lambda: cp.upload is not None)  # the charger needs no token
        assert cp.upload is not None and cp.upload.status_code == 201
        listing = "/api/v1/chargers/CP-T/uploads"
        assert (await http.get(listing)).status_code == 401
        listed = await http.get(listing, headers=bearer(viewer))
        assert listed.status_code == 200 and listed.json()["count"] == 1
        name = listed.json()["uploads"][0]["name"]
        assert (await http.get(f"{listing}/{name}")).status_code == 401
        got = await http.get(f"{listing}/{name}", headers=bearer(viewer))
        assert got.status_code == 200 and got.content == PAYLOAD
        assert "attachment" in got.headers["content-disposition"]
        for missing in ("nope", "%2E%2E", "..%2Fchargewatch.db"):
            answer = await http.get(f"{listing}/{missing}", headers=bearer(viewer))
            assert answer.status_code == 404, missing
        unknown = await http.get("/api/v1/chargers/NOBODY/uploads", headers=bearer(viewer))
        assert unknown.status_code == 404


async def test_cli_get_diagnostics_and_uploads(app, capsys) -> None:
    async with charger(app, "CP-CLI", Diag16, "ocpp1.6") as cp:
        code, out, err = await cli(
            capsys, "charger", "get-diagnostics", "CP-CLI", "--since", "2026-12-01T00:00Z", url(app)
        )
        assert code == 0, err
        assert "GetDiagnostics (ocpp1.6): answered" in out and '"diag-CP.tar.gz"' in out
        assert f"upload to: http://127.0.0.1:{app.http_port}/uploads/" in out
        assert cp.received[0][1]["start_time"] == "2026-12-01T00:00:00Z"
        await eventually(lambda: cp.upload is not None)
        code, out, err = await cli(capsys, "charger", "uploads", "CP-CLI", url(app))
        assert code == 0, err
        assert "Z-diag-CP.tar.gz" in out and str(len(PAYLOAD)) in out
        code, out, err = await cli(capsys, "charger", "uploads", "NOBODY", url(app))
        assert code == 1 and "NOBODY" in err
    with pytest.raises(SystemExit):
        await cli(capsys, "charger", "get-log", "CP-CLI", "--since", "yesterday", url(app))
    assert "'yesterday' is not an ISO 8601 time" in capsys.readouterr().err


async def test_the_public_url_chargers_are_given(start_app, caplog) -> None:
    app: App = await start_app("http:\n  public_url: https://cw.example.net:8443/base/\n")
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http,
        charger(app, "CP-P", Diag16, "ocpp1.6") as cp,
    ):
        cp.uploads = False
        answer = await post(http, "CP-P", "get-diagnostics", {})
        assert answer.json()["upload_url"].startswith("https://cw.example.net:8443/base/uploads/")
    with caplog.at_level(logging.WARNING, "chargewatch.uploads"):
        derived = public_url(HttpConfig(host="0.0.0.0", port=0), 8000, tls=True)
    assert derived == f"https://{socket.gethostname()}:8000"
    assert "http.public_url is not set" in caplog.text
    assert public_url(HttpConfig(host="::1"), 8000, tls=False) == "http://[::1]:8000"
    with pytest.raises(ConfigError) as bad:
        parse_config("http:\n  public_url: ftp://cw.example.net/?x=1\n")
    assert "http.public_url" in str(bad.value)
