"""OCPP security profiles at the handshake, with real TLS and real chargers: our own raw
WebSocket client and the independent `test-ocpp` client (PyPI) connect with each profile —
right credentials accepted; a wrong password, a missing certificate, a wrong CN, plain
ws:// to a TLS endpoint and TLS 1.1 refused; repeated failures locked out."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
import ssl
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from certs import Authority
from helpers import call
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from chargewatch import credentials, store
from chargewatch.app import App
from chargewatch.cli import main

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def register(data_dir: Path, cid: str, password: str, profile: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = store.open_db(data_dir / "chargewatch.db")
    credentials.save(conn, cid, credentials.hash_password(password), profile)
    conn.close()


async def boot(url: str, cid: str, **kwargs) -> list:
    async with connect(f"{url}/{cid}", subprotocols=["ocpp1.6"], **kwargs) as ws:
        return await call(ws, "BootNotification", BOOT)


async def refused(url: str, cid: str, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as info:
        await boot(url, cid, **kwargs)
    return info.value.response.status_code


PASSWORD = "correct-horse-battery"


def test_the_chargers_cli_generates_shows_once_and_stores_a_hash(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    data = tmp_path / "d"
    assert main(["chargers", "add", "CP-G", "--profile", "2", "--data-dir", str(data)]) == 0
    password = capsys.readouterr().out.strip()
    assert len(password) == 32 and password.isalnum()
    monkeypatch.setattr(sys, "stdin", io.StringIO("too-short\n"))
    assert main(["chargers", "set-password", "CP-G", "--password-stdin", "--data-dir", str(data)])
    assert "16 to 40 characters" in capsys.readouterr().err
    assert main(["chargers", "list", "--data-dir", str(data)]) == 0
    assert capsys.readouterr().out == "CP-G\tprofile 2\tpassword\n"
    raw = (data / "chargewatch.db").read_bytes()
    assert password.encode() not in raw  # only the scrypt hash is kept
    [(stored,)] = store.open_db(data / "chargewatch.db").execute(
        "SELECT password_hash FROM charger_credentials"
    )
    assert stored.startswith("scrypt$") and credentials.verify_password(password, stored)


async def test_profile_1_basic_auth_and_the_lockout(start_app, tmp_path: Path) -> None:
    data = tmp_path / "data"
    register(data, "CP-1", PASSWORD, 1)
    app: App = await start_app(
        "ocpp:\n  security:\n    profile: 1\n    max_failures: 3\n    lockout: 60\n",
        data_dir=data,
    )
    url = f"ws://127.0.0.1:{app.ocpp_port}/ocpp"
    assert (await boot(url, "CP-1", additional_headers=basic("CP-1", PASSWORD)))[0] == 3
    assert await refused(url, "CP-1") == 401  # no credentials
    assert await refused(url, "CP-1", additional_headers=basic("CP-1", "wrong-password-123")) == 401
    assert await refused(url, "CP-X", additional_headers=basic("CP-X", PASSWORD)) == 401  # unknown
    # three failures from this address: locked out, even with the right password
    assert await refused(url, "CP-1", additional_headers=basic("CP-1", PASSWORD)) == 429
    assert app.state.chargers.keys() == {"CP-1"}  # nothing of the refused ones was stored


@pytest.fixture
def pki(tmp_path: Path):
    ca = Authority(tmp_path)
    return ca, ca.issue("127.0.0.1", server=True)


def tls_yaml(pki, profile: int) -> str:
    ca, server = pki
    return (
        f"ocpp:\n  security:\n    profile: {profile}\n    tls:\n"
        f"      cert_file: {server.cert}\n      key_file: {server.key}\n"
        f"      ca_file: {ca.pem.cert}\n"
    )


def client_ssl(ca: Authority, cert=None, maximum=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca.pem.cert))
    if cert is not None:
        ctx.load_cert_chain(cert.cert, cert.key)
    if maximum is not None:
        with warnings.catch_warnings():  # an old TLS version, on purpose
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = maximum
    return ctx


async def test_profile_2_basic_auth_over_tls_only(start_app, tmp_path: Path, pki) -> None:
    ca, _ = pki
    data = tmp_path / "data"
    register(data, "CP-2", PASSWORD, 2)
    app: App = await start_app(tls_yaml(pki, 1), data_dir=data)  # CP-2 itself needs 2
    wss = f"wss://127.0.0.1:{app.ocpp_port}/ocpp"
    ok = await boot(wss, "CP-2", ssl=client_ssl(ca), additional_headers=basic("CP-2", PASSWORD))
    assert ok[0] == 3
    bad = basic("CP-2", "not-the-password!")
    assert await refused(wss, "CP-2", ssl=client_ssl(ca), additional_headers=bad) == 401
    with pytest.raises((OSError, InvalidHandshake)):  # not TLS at all
        await boot(f"ws://127.0.0.1:{app.ocpp_port}/ocpp", "CP-2", open_timeout=3)
    old = client_ssl(ca, maximum=ssl.TLSVersion.TLSv1_1)
    with pytest.raises(ssl.SSLError):  # TLS 1.1 is refused by the server's floor
        await boot(wss, "CP-2", ssl=old, additional_headers=basic("CP-2", PASSWORD))


async def test_profile_3_client_certificate_with_the_charger_id_as_cn(
    start_app, tmp_path: Path, pki
) -> None:
    ca, _ = pki
    app: App = await start_app(tls_yaml(pki, 3))
    wss = f"wss://127.0.0.1:{app.ocpp_port}/ocpp"
    assert (await boot(wss, "CP-3", ssl=client_ssl(ca, ca.issue("CP-3"))))[0] == 3
    assert await refused(wss, "CP-3", ssl=client_ssl(ca)) == 403  # no certificate
    assert await refused(wss, "CP-3", ssl=client_ssl(ca, ca.issue("CP-OTHER"))) == 403
    (tmp_path / "other").mkdir()
    stranger = Authority(tmp_path / "other", "another CA")
    # signed by another CA: the server's TLS refuses it (in TLS 1.3 the client learns it
    # only when it reads, so the WebSocket handshake fails rather than the TLS one)
    with pytest.raises((ssl.SSLError, InvalidHandshake, OSError)):
        await boot(wss, "CP-3", ssl=client_ssl(ca, stranger.issue("CP-3")))
    assert sorted(app.state.chargers) == ["CP-3"]


TEST_OCPP = shutil.which("test-ocpp") or str(Path(sys.executable).with_name("test-ocpp"))


def run_test_ocpp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TEST_OCPP, *args], capture_output=True, text=True, timeout=60)


async def test_the_independent_test_ocpp_client_with_each_profile(
    start_app, tmp_path: Path, pki
) -> None:
    """test-ocpp (PyPI) boots and heartbeats as a charger: profiles 1 and 2 with their
    passwords (2 in both OCPP versions), profile 3 with its certificate; a wrong password, no
    certificate, a certificate of another CN and an unknown id make it fail."""
    import asyncio

    ca, _ = pki
    data = tmp_path / "data"
    register(data, "TO-1", PASSWORD, 1)
    register(data, "TO-2", PASSWORD, 2)
    conn = store.open_db(data / "chargewatch.db")
    credentials.save(conn, "TO-3", None, 3)  # a certificate, no password
    conn.close()
    app: App = await start_app(tls_yaml(pki, 0) + "    unknown_chargers: reject\n", data_dir=data)
    wss = f"wss://127.0.0.1:{app.ocpp_port}/ocpp"
    cert = ca.issue("TO-3")
    ca_file = str(ca.pem.cert)

    def runs(*args: str) -> subprocess.CompletedProcess[str]:
        return run_test_ocpp(wss, *args, "--ca", ca_file, "--timeout", "10")

    ok1 = await asyncio.to_thread(runs, "TO-1", "--password", PASSWORD)
    assert ok1.returncode == 0, ok1.stdout + ok1.stderr
    ok2 = await asyncio.to_thread(runs, "TO-2", "--password", PASSWORD)
    assert ok2.returncode == 0, ok2.stdout + ok2.stderr
    ok201 = await asyncio.to_thread(runs, "TO-2", "--password", PASSWORD, "--ocpp", "2.0.1")
    assert ok201.returncode == 0, ok201.stdout + ok201.stderr
    bad2 = await asyncio.to_thread(runs, "TO-2", "--password", "wrong-password-xyz")
    assert bad2.returncode != 0
    ok3 = await asyncio.to_thread(runs, "TO-3", "--cert", str(cert.cert), "--key", str(cert.key))
    assert ok3.returncode == 0, ok3.stdout + ok3.stderr
    bad3 = await asyncio.to_thread(runs, "TO-3")  # no certificate
    assert bad3.returncode != 0
    other = ca.issue("TO-4")  # signed by our CA, but for another charge point
    wrong_cn = await asyncio.to_thread(
        runs, "TO-3", "--cert", str(other.cert), "--key", str(other.key)
    )
    assert wrong_cn.returncode != 0
    unknown = await asyncio.to_thread(runs, "TO-9", "--password", PASSWORD)
    assert unknown.returncode != 0
    assert json.dumps(sorted(app.state.chargers)) == json.dumps(["TO-1", "TO-2", "TO-3"])


async def test_a_cap_on_connections_per_address_and_a_handshake_timeout(start_app) -> None:
    """Two open connections from 127.0.0.1 are the cap: the third is refused (503) until one
    closes. A socket that never completes the handshake is dropped by the server."""
    import asyncio

    app: App = await start_app(
        "ocpp:\n  security:\n    max_connections_per_address: 2\n    handshake_timeout: 0.5\n"
    )
    url = f"ws://127.0.0.1:{app.ocpp_port}/ocpp"
    async with (
        connect(f"{url}/CAP-1", subprotocols=["ocpp1.6"]) as one,
        connect(f"{url}/CAP-2", subprotocols=["ocpp1.6"]),
    ):
        assert (await call(one, "Heartbeat", {}))[0] == 3
        assert await refused(url, "CAP-3") == 503
    async with connect(f"{url}/CAP-3", subprotocols=["ocpp1.6"]) as three:
        assert (await call(three, "Heartbeat", {}))[0] == 3  # room again
    reader, writer = await asyncio.open_connection("127.0.0.1", app.ocpp_port)
    try:  # silent after connecting: dropped after 0.5 s (5 s bound; the default would be 10 s)
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()


async def test_a_duplicate_connection_replaces_the_open_one_only_once_authenticated(
    start_app, tmp_path: Path, caplog
) -> None:
    data = tmp_path / "data"
    register(data, "CP-DUP", PASSWORD, 1)
    app: App = await start_app("ocpp:\n  security:\n    profile: 1\n", data_dir=data)
    url = f"ws://127.0.0.1:{app.ocpp_port}/ocpp"
    good = basic("CP-DUP", PASSWORD)
    async with connect(f"{url}/CP-DUP", subprotocols=["ocpp1.6"], additional_headers=good) as old:
        assert (await call(old, "BootNotification", BOOT))[0] == 3
        # an impostor without the password: refused, and the charger's connection untouched
        bad = basic("CP-DUP", "an-impostors-guess!")
        assert await refused(url, "CP-DUP", additional_headers=bad) == 401
        assert (await call(old, "Heartbeat", {}))[0] == 3
        with caplog.at_level("WARNING", logger="collector.server"):
            async with connect(
                f"{url}/CP-DUP", subprotocols=["ocpp1.6"], additional_headers=good
            ) as new:
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(old.recv(), 5)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.reason == "replaced by a new connection"
                assert (await call(new, "Heartbeat", {}))[0] == 3
    assert "CP-DUP: new connection from" in caplog.text and "replaces the open one" in caplog.text
