"""The simulated fleet signs in with each OCPP security profile against a real App over
real TLS: profile 2 (Basic auth over wss://, the CA given), profile 3 (a client certificate
per charger), and is refused with a wrong password or no certificate."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from certs import Authority
from test_security_profiles import PASSWORD, register, tls_yaml

from chargewatch.app import App
from collector.simulator import FleetOptions, run_fleet
from collector.simulator.security import connect_kwargs

IDS = ("SIM-0001", "SIM-0002")


def fleet(app: App, **security) -> FleetOptions:
    return FleetOptions(
        url=f"wss://127.0.0.1:{app.ocpp_port}/ocpp",
        chargers=len(IDS),
        connectors=1,
        meter_interval=0.05,
        faults=0.0,
        duration=1.5,
        seed=7,
        **security,
    )


@pytest.fixture
def pki(tmp_path: Path):
    ca = Authority(tmp_path)
    return ca, ca.issue("127.0.0.1", server=True)


async def test_profile_2_fleet_with_basic_auth_over_tls(start_app, tmp_path: Path, pki) -> None:
    ca, _ = pki
    data = tmp_path / "data"
    for cid in IDS:
        register(data, cid, PASSWORD, 2)
    app: App = await start_app(tls_yaml(pki, 2), data_dir=data)
    stats = await run_fleet(fleet(app, password=PASSWORD, ca_file=str(ca.pem.cert)))
    assert stats.connect_failures == 0 and stats.calls["BootNotification"] == len(IDS)
    assert all(app.state.chargers[cid].vendor for cid in IDS)  # booted, accepted

    refused = await run_fleet(fleet(app, password="not-the-password-1", ca_file=str(ca.pem.cert)))
    assert refused.connect_failures > 0 and refused.calls["BootNotification"] == 0


async def test_profile_3_fleet_with_a_certificate_per_charger(
    start_app, tmp_path: Path, pki
) -> None:
    ca, _ = pki
    certs = tmp_path / "chargers"
    certs.mkdir()
    for cid in IDS:
        pem = ca.issue(cid)
        shutil.copy(pem.cert, certs / f"{cid}.pem")
        shutil.copy(pem.key, certs / f"{cid}.key")
    app: App = await start_app(tls_yaml(pki, 3))
    stats = await run_fleet(fleet(app, ca_file=str(ca.pem.cert), cert_dir=str(certs)))
    assert stats.connect_failures == 0 and stats.calls["BootNotification"] == len(IDS)
    assert set(IDS) <= set(app.state.chargers)

    without = await run_fleet(fleet(app, ca_file=str(ca.pem.cert)))  # no client certificate
    assert without.connect_failures > 0 and without.calls["BootNotification"] == 0


def test_bad_security_options_are_clear_errors(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "chargewatch.cli", "simulate", "--duration", "1"]
    cases = [
        (["--ca-file", str(tmp_path / "ca.pem")], "need a wss:// url"),
        (["--url", "wss://127.0.0.1:1/ocpp", "--ca-file", "nope.pem"], "does not exist"),
        (["--url", "wss://127.0.0.1:1/ocpp", "--cert-dir", "nope"], "is not a directory"),
        (["--password-env", "CW_NO_SUCH_VARIABLE"], "environment variable is not set"),
    ]
    for flags, message in cases:
        run = subprocess.run([*cli, *flags], capture_output=True, text=True, timeout=30)
        assert run.returncode == 2 and message in run.stderr, (flags, run.stderr)
    missing = FleetOptions(url="wss://127.0.0.1:1/ocpp", chargers=1, cert_dir=str(tmp_path))
    with pytest.raises(ValueError, match="no client certificate file"):
        connect_kwargs(missing, "SIM-0001")
