"""HTTPS for the API (`http.tls`): a self-signed certificate made here, a client that trusts
it, TLS 1.2 as the floor, a plain-HTTP request refused, and bad files as config errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chargewatch.app import App
from chargewatch.cli import main
from chargewatch.config import Config, load_config
from chargewatch.yamlfile import ConfigError


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chargewatch-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls" / "cert.pem", directory / "tls" / "key.pem"
    cert_file.parent.mkdir()
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


def config(tmp_path: Path, tls: str) -> Config:
    """A config file (paths relative to it) on loopback with ephemeral ports."""
    path = tmp_path / "chargewatch.yaml"
    path.write_text(f"http:\n  tls: {tls}\n")
    path.chmod(0o600)
    cfg = load_config(path)
    return cfg.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "ocpp": cfg.ocpp.model_copy(update={"host": "127.0.0.1", "port": 0}),
            "http": cfg.http.model_copy(update={"host": "127.0.0.1", "port": 0}),
        }
    )


@pytest.fixture
async def tls_app(tmp_path: Path):
    self_signed(tmp_path)
    app = App(config(tmp_path, "{cert_file: tls/cert.pem, key_file: tls/key.pem}"))
    await app.start()
    yield app
    await app.stop()


async def test_https_with_a_trusted_certificate(tls_app: App, tmp_path: Path) -> None:
    trust = ssl.create_default_context(cafile=tmp_path / "tls" / "cert.pem")
    base = f"https://127.0.0.1:{tls_app.http_port}"
    async with httpx.AsyncClient(base_url=base, verify=trust) as http:
        assert (await http.get("/healthz")).json()["status"] == "ok"
        assert (await http.get("/api/v1/chargers")).status_code == 200

    async with httpx.AsyncClient(verify=True) as untrusting:  # the system's CAs only
        with pytest.raises(httpx.ConnectError):
            await untrusting.get(base + "/healthz")
    async with httpx.AsyncClient() as plain:
        with pytest.raises(httpx.TransportError):
            await plain.get(f"http://127.0.0.1:{tls_app.http_port}/healthz")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
async def test_tls_below_1_2_is_refused(tls_app: App, tmp_path: Path) -> None:
    for version, accepted in ((ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_1, False)):
        ctx = ssl.create_default_context(cafile=tmp_path / "tls" / "cert.pem")
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = version
        async with httpx.AsyncClient(verify=ctx) as http:
            url = f"https://127.0.0.1:{tls_app.http_port}/healthz"
            if accepted:
                assert (await http.get(url)).status_code == 200
            else:
                with pytest.raises(httpx.ConnectError):
                    await http.get(url)


async def test_missing_or_mismatched_files_are_config_errors(tmp_path: Path) -> None:
    self_signed(tmp_path)
    app = App(config(tmp_path, "{cert_file: tls/nope.pem, key_file: tls/key.pem}"))
    with pytest.raises(ConfigError) as missing:
        await app.start()
    assert missing.value.key == "http.tls.cert_file" and "nope.pem" in str(missing.value)
    assert "chargewatch.yaml" in str(missing.value)
    # the key where the certificate should be: refused without showing the key
    app = App(config(tmp_path, "{cert_file: tls/key.pem, key_file: tls/key.pem}"))
    with pytest.raises(ConfigError) as wrong:
        await app.start()
    key_pem = (tmp_path / "tls" / "key.pem").read_text()
    assert wrong.value.key == "http.tls" and key_pem.splitlines()[1] not in str(wrong.value)


async def test_cli_over_https_trusting_ca_file(
    tls_app: App, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHARGEWATCH_TOKEN", raising=False)
    url = f"--url=https://127.0.0.1:{tls_app.http_port}"
    code = await asyncio.to_thread(main, ["audit", url])
    assert code == 1 and "cannot reach" in capsys.readouterr().err  # not trusted
    monkeypatch.setenv("CHARGEWATCH_CA_FILE", str(tmp_path / "tls" / "cert.pem"))
    code = await asyncio.to_thread(main, ["audit", url])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "no state-changing calls recorded\n"
