"""`chargewatch dashboards push` against a real HTTP server on loopback that answers like
Grafana's API (tests/grafana_server.py), through grafana-client, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from grafana_server import PASSWORD, TOKEN, USER, VIEWER_TOKEN, GrafanaServer
from grafana_server import grafana_server as grafana_server  # the fixtures
from grafana_server import start_grafana as start_grafana
from helpers import free_port

from chargewatch.cli import main
from dashboards.push import DASHBOARDS_DIR, ENV_REF

INFLUX_TOKEN = "influx-secret-token-9d8c7b"
DATASOURCES = """\
apiVersion: 1
datasources:
  - name: Prometheus
    type: prometheus
    uid: cw-prometheus
    access: proxy
    url: ${CW_TEST_PROM_URL}
    isDefault: true
    jsonData:
      timeInterval: 15s
  - name: InfluxDB
    type: influxdb
    uid: cw-influxdb
    url: http://influxdb:8086
    database: chargewatch
    orgId: 1
    editable: false
    jsonData:
      dbName: chargewatch
      httpMode: POST
      httpHeaderName1: Authorization
    secureJsonData:
      httpHeaderValue1: Token $CW_TEST_INFLUX_TOKEN
      literal: cost$$5
"""


def dashboard(uid: str, title: str, expr: str = "up") -> dict[str, Any]:
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "schemaVersion": 39,
        "version": 3,
        "tags": ["chargewatch"],
        "panels": [
            {
                "id": 1,
                "type": "stat",
                "title": "Chargers online",
                "datasource": {"type": "prometheus", "uid": "cw-prometheus"},
                "targets": [{"refId": "A", "expr": expr}],
            }
        ],
    }


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dashboards directory like the package's: two dashboards and a datasource file."""
    for name in ("GRAFANA_TOKEN", "GRAFANA_USER", "GRAFANA_PASSWORD", "GRAFANA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CW_TEST_PROM_URL", "http://prometheus:9090")
    monkeypatch.setenv("CW_TEST_INFLUX_TOKEN", INFLUX_TOKEN)
    root = tmp_path / "bundle"
    (root / "provisioning" / "datasources").mkdir(parents=True)
    (root / "provisioning" / "datasources" / "datasources.yaml").write_text(DATASOURCES)
    write(root / "overview.json", dashboard("cw-overview", "Network overview"))
    write(root / "charger.json", dashboard("cw-charger", "Charger detail", "cw_power_w"))
    return root


def write(path: Path, model: dict[str, Any]) -> None:
    path.write_text(json.dumps(model, indent=2))


def push(
    capsys: pytest.CaptureFixture[str], server: GrafanaServer, root: Path, *extra: str
) -> tuple[int, str, str]:
    """Run the command in-process; (exit code, stdout, stderr)."""
    argv = ["dashboards", "push", "--url", server.url, "--dashboards-dir", str(root)]
    code = main([*argv, *(extra or ("--token", TOKEN))])
    out, err = capsys.readouterr()
    return code, out, err


def outcomes(out: str) -> dict[str, str]:
    """`created  dashboard  Title (uid x, ...)` lines as {"dashboard x": "created"}."""
    found = {}
    for line in out.splitlines():
        if "(uid " in line:
            outcome, kind, rest = line.split(maxsplit=2)
            found[f"{kind} {rest.split('(uid ')[1].split(',')[0].rstrip(')')}"] = outcome
    return found


EVERYTHING = {
    "folder chargewatch",
    "datasource cw-prometheus",
    "datasource cw-influxdb",
    "dashboard cw-overview",
    "dashboard cw-charger",
}


def test_first_push_creates_folder_datasources_and_dashboards(
    grafana_server: GrafanaServer, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = push(capsys, grafana_server, bundle)
    assert code == 0, err
    assert outcomes(out) == dict.fromkeys(EVERYTHING, "created")
    assert f"Grafana 11.2.0 at {grafana_server.url}: 5 created, 0 updated, 0 unchanged" in out

    assert grafana_server.folders["chargewatch"]["title"] == "ChargeWatch"
    prom = grafana_server.datasources["cw-prometheus"]
    assert (prom["url"], prom["isDefault"], prom["access"]) == (
        "http://prometheus:9090",
        True,
        "proxy",
    )
    influx = grafana_server.datasources["cw-influxdb"]
    assert influx["secureJsonData"] == {
        "httpHeaderValue1": f"Token {INFLUX_TOKEN}",
        "literal": "cost$5",
    }
    for uid, title in (("cw-overview", "Network overview"), ("cw-charger", "Charger detail")):
        stored = grafana_server.dashboards[uid]
        assert stored["folderUid"] == "chargewatch"
        assert (stored["dashboard"]["title"], stored["dashboard"]["version"]) == (title, 1)
    posts = [r.body for r in grafana_server.requests if r.path == "/api/dashboards/db"]
    assert len(posts) == 2
    assert all(p["overwrite"] is True and p["folderUid"] == "chargewatch" for p in posts)
    assert all("id" not in p["dashboard"] for p in posts)  # Grafana would 404 a stale id
    provisioning_only = {"orgId", "editable"}
    ds_posts = [r.body for r in grafana_server.requests if r.path == "/api/datasources"]
    assert len(ds_posts) == 2 and not provisioning_only & set(ds_posts[1])
    assert [p["access"] for p in ds_posts] == ["proxy", "proxy"]  # the provisioning default
    assert {r.headers.get("authorization") for r in grafana_server.requests[1:]} == {
        f"Bearer {TOKEN}"
    }
    assert INFLUX_TOKEN not in out + err and TOKEN not in out + err


def test_second_push_changes_nothing(
    grafana_server: GrafanaServer, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(capsys, grafana_server, bundle)[0] == 0
    versions = {uid: d["dashboard"]["version"] for uid, d in grafana_server.dashboards.items()}
    ds_versions = {uid: d["version"] for uid, d in grafana_server.datasources.items()}
    before = len(grafana_server.requests)

    code, out, err = push(capsys, grafana_server, bundle)
    assert code == 0, err
    assert outcomes(out) == dict.fromkeys(EVERYTHING, "unchanged")
    assert "0 created, 0 updated, 5 unchanged" in out
    assert [r for r in grafana_server.requests[before:] if r.method != "GET"] == []
    assert {uid: d["dashboard"]["version"] for uid, d in grafana_server.dashboards.items()} == (
        versions
    )
    assert {uid: d["version"] for uid, d in grafana_server.datasources.items()} == ds_versions


def test_changes_are_updated_and_the_rest_left_alone(
    grafana_server: GrafanaServer,
    bundle: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert push(capsys, grafana_server, bundle)[0] == 0
    write(bundle / "charger.json", dashboard("cw-charger", "Charger detail", "cw_power_w * 2"))
    monkeypatch.setenv("CW_TEST_PROM_URL", "http://prometheus.noc:9090")
    # someone edited the overview in Grafana's UI: the push puts the shipped one back
    grafana_server.dashboards["cw-overview"]["dashboard"]["title"] = "Overview (mine)"

    code, out, err = push(capsys, grafana_server, bundle)
    assert code == 0, err
    assert outcomes(out) == {
        "folder chargewatch": "unchanged",
        "datasource cw-prometheus": "updated",
        "datasource cw-influxdb": "unchanged",
        "dashboard cw-overview": "updated",
        "dashboard cw-charger": "updated",
    }
    assert "0 created, 3 updated, 2 unchanged" in out
    charger = grafana_server.dashboards["cw-charger"]["dashboard"]
    assert (charger["version"], charger["panels"][0]["targets"][0]["expr"]) == (2, "cw_power_w * 2")
    assert grafana_server.dashboards["cw-overview"]["dashboard"]["title"] == "Network overview"
    prom = grafana_server.datasources["cw-prometheus"]
    assert (prom["url"], prom["version"]) == ("http://prometheus.noc:9090", 2)
    puts = [r for r in grafana_server.requests if r.method == "PUT"]
    assert [r.path for r in puts] == ["/api/datasources/uid/cw-prometheus"]


def test_rotated_secret_is_sent_with_update_secrets(
    grafana_server: GrafanaServer,
    bundle: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert push(capsys, grafana_server, bundle)[0] == 0
    monkeypatch.setenv("CW_TEST_INFLUX_TOKEN", "rotated-token")
    # Grafana never shows secrets: without the flag the push cannot see the change
    assert outcomes(push(capsys, grafana_server, bundle)[1])["datasource cw-influxdb"] == (
        "unchanged"
    )
    code, out, _ = push(capsys, grafana_server, bundle, "--token", TOKEN, "--update-secrets")
    assert code == 0
    assert outcomes(out)["datasource cw-influxdb"] == "updated"
    assert outcomes(out)["datasource cw-prometheus"] == "unchanged"  # it has no secrets
    secret = grafana_server.datasources["cw-influxdb"]["secureJsonData"]["httpHeaderValue1"]
    assert secret == "Token rotated-token"


def test_wrong_token_is_refused_without_printing_it(
    grafana_server: GrafanaServer, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = push(capsys, grafana_server, bundle, "--token", "glsa_wrong_secret_value")
    assert code == 1
    assert "Grafana refused the token/credentials (401: invalid API key)" in err
    assert "glsa_wrong_secret_value" not in out + err
    assert grafana_server.writes() == []


def test_basic_auth_from_the_environment(
    grafana_server: GrafanaServer,
    bundle: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRAFANA_USER", USER)
    monkeypatch.setenv("GRAFANA_PASSWORD", "not-the-password")
    code, out, err = push(capsys, grafana_server, bundle, "--no-datasources")
    assert code == 1
    assert "Grafana refused the token/credentials (401: invalid username or password)" in err
    assert "not-the-password" not in out + err

    monkeypatch.setenv("GRAFANA_PASSWORD", PASSWORD)
    code, out, err = push(capsys, grafana_server, bundle, "--no-datasources")
    assert code == 0, err
    assert set(outcomes(out)) == {
        "folder chargewatch",
        "dashboard cw-overview",
        "dashboard cw-charger",
    }
    assert grafana_server.datasources == {}
    assert PASSWORD not in out + err


def test_token_from_the_environment_and_permissions_refused(
    grafana_server: GrafanaServer,
    bundle: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", VIEWER_TOKEN)
    code, out, err = push(capsys, grafana_server, bundle, "--folder", "ChargeWatch")
    assert code == 1
    assert "Grafana refused the token/credentials (403: You'll need additional permissions" in err
    assert VIEWER_TOKEN not in out + err


@pytest.mark.parametrize("status", ["version-mismatch", "name-exists"])
def test_412_names_the_dashboard_and_what_grafana_said(
    grafana_server: GrafanaServer, bundle: Path, capsys: pytest.CaptureFixture[str], status: str
) -> None:
    grafana_server.reject["cw-charger"] = status
    code, out, err = push(capsys, grafana_server, bundle)
    assert code == 1
    message = {
        "version-mismatch": "The dashboard has been changed by someone else",
        "name-exists": "A dashboard with the same name in the folder already exists",
    }[status]
    assert (
        f"chargewatch: dashboard Charger detail (uid cw-charger, charger.json): "
        f"Grafana refused it (412 {status}): {message}"
    ) in err
    assert outcomes(out)["dashboard cw-overview"] == "created"  # the others still go in
    assert "4 created, 0 updated, 0 unchanged, 1 failed" in out
    assert "cw-charger" not in grafana_server.dashboards


@pytest.mark.parametrize("version", ["9.5.2", "8.4.0-beta1"])
def test_too_old_grafana_is_refused(
    grafana_server: GrafanaServer, bundle: Path, capsys: pytest.CaptureFixture[str], version: str
) -> None:
    grafana_server.version = version
    code, _, err = push(capsys, grafana_server, bundle)
    assert code == 1
    assert f"Grafana {version} at {grafana_server.url} is too old" in err
    assert "need Grafana 10 or newer" in err
    assert [r.path for r in grafana_server.requests] == ["/api/health"]


def test_grafana_10_with_a_suffixed_version_is_accepted(
    grafana_server: GrafanaServer, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grafana_server.version = "10.4.1-security-01"
    code, out, err = push(capsys, grafana_server, bundle)
    assert code == 0, err
    assert "Grafana 10.4.1-security-01 at" in out


def test_grafana_at_a_sub_path(
    start_grafana: Callable[..., GrafanaServer], bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_grafana(prefix="/grafana")
    for url in (server.url, server.url + "/"):
        code, out, err = push(capsys, server, bundle, "--token", TOKEN, "--url", url)
        assert code == 0, err
    assert set(server.dashboards) == {"cw-overview", "cw-charger"}
    assert "0 created, 0 updated, 5 unchanged" in out


def test_unreachable_grafana(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens on it
    argv = ["dashboards", "push", "--dashboards-dir", str(bundle), "--token", TOKEN]
    code = main([*argv, "--url", f"http://127.0.0.1:{port}"])
    out, err = capsys.readouterr()
    assert code == 1
    assert (
        f"chargewatch: cannot reach Grafana at http://127.0.0.1:{port} (Connection refused)" in err
    )
    # credentials in the URL are used but never shown
    code = main([*argv[:-2], "--url", f"http://admin:hunter2-pw@127.0.0.1:{port}/grafana"])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"cannot reach Grafana at http://127.0.0.1:{port}/grafana" in err
    assert "hunter2-pw" not in out + err


def test_invalid_dashboard_json_names_file_and_line(
    grafana_server: GrafanaServer, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundle / "sessions.json").write_text(
        '{\n  "uid": "cw-sessions",\n  "title": "Sessions"\n  "panels": []\n}\n'
    )
    code, _, err = push(capsys, grafana_server, bundle)
    assert code == 1
    assert f"{bundle / 'sessions.json'}:4:3: invalid JSON: Expecting ',' delimiter" in err
    assert grafana_server.requests == []  # nothing is pushed when a file is wrong


def test_dashboard_without_uid_or_duplicate_uid(
    grafana_server: GrafanaServer, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(bundle / "zz-copy.json", dashboard("cw-overview", "Copy of overview"))
    code, _, err = push(capsys, grafana_server, bundle)
    assert code == 1
    assert "zz-copy.json: uid 'cw-overview' is also used by overview.json" in err
    (bundle / "zz-copy.json").write_text(json.dumps({"title": "No uid"}))
    code, _, err = push(capsys, grafana_server, bundle)
    assert code == 1
    assert "zz-copy.json: not a dashboard with a uid and a title" in err
    assert grafana_server.requests == []


def test_missing_environment_variable_is_named(
    grafana_server: GrafanaServer,
    bundle: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CW_TEST_INFLUX_TOKEN")
    code, _, err = push(capsys, grafana_server, bundle)
    assert code == 1
    assert "datasources.yaml: datasources[1].secureJsonData.httpHeaderValue1: environment " in err
    assert "variable CW_TEST_INFLUX_TOKEN is not set" in err
    assert grafana_server.requests == []
    # the dashboards alone do not need it
    code, _, err = push(capsys, grafana_server, bundle, "--token", TOKEN, "--no-datasources")
    assert code == 0, err


def test_read_only_datasource_that_differs_is_reported(
    grafana_server: GrafanaServer,
    bundle: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert push(capsys, grafana_server, bundle)[0] == 0
    grafana_server.read_only.add("cw-prometheus")
    grafana_server.datasources["cw-prometheus"]["readOnly"] = True
    monkeypatch.setenv("CW_TEST_PROM_URL", "http://elsewhere:9090")
    code, out, err = push(capsys, grafana_server, bundle)
    assert code == 1
    assert "datasource Prometheus (uid cw-prometheus): read-only in Grafana" in err
    assert outcomes(out)["dashboard cw-overview"] == "unchanged"


def test_existing_folder_with_another_uid_is_used(
    grafana_server: GrafanaServer, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grafana_server.folders["abc123"] = {"id": 99, "uid": "abc123", "title": "NOC"}
    code, out, err = push(capsys, grafana_server, bundle, "--token", TOKEN, "--folder", "NOC")
    assert code == 0, err
    assert "unchanged  folder      NOC (uid abc123)" in out
    assert grafana_server.dashboards["cw-overview"]["folderUid"] == "abc123"


def test_usage_errors_exit_2(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["dashboards", "push", "--url", "http://127.0.0.1:1", "--dashboards-dir", str(bundle)]
    assert main([*base, "--token", "t", "--user", "u"]) == 2
    assert "either --token or --user/--password" in capsys.readouterr().err
    assert main([*base, "--user", "u"]) == 2
    assert "--user needs --password" in capsys.readouterr().err
    assert main(base) == 2
    assert "Grafana wants credentials" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["dashboards", "push", "--url", "grafana:3000", "--token", "t"])
    assert exit_.value.code == 2


def test_the_shipped_dashboards_and_datasources(
    grafana_server: GrafanaServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipped = sorted(DASHBOARDS_DIR.glob("*.json"))
    if not shipped:
        pytest.skip(f"{DASHBOARDS_DIR} holds no *.json dashboards yet")
    folder = DASHBOARDS_DIR / "provisioning" / "datasources"
    for path in [*folder.glob("*.yaml"), *folder.glob("*.yml")]:
        for match in ENV_REF.finditer(path.read_text()):
            name = match.group(1) or match.group(2)
            if name and name not in os.environ:
                monkeypatch.setenv(name, f"test-value-of-{name}")
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    code, out, err = push(capsys, grafana_server, DASHBOARDS_DIR)
    assert code == 0, err
    uids = {json.loads(p.read_text())["uid"] for p in shipped}
    assert set(grafana_server.dashboards) == uids
    assert all(d["folderUid"] == "chargewatch" for d in grafana_server.dashboards.values())
    assert all(o == "created" for o in outcomes(out).values())

    code, out, err = push(capsys, grafana_server, DASHBOARDS_DIR)
    assert code == 0, err
    assert set(outcomes(out).values()) == {"unchanged"}
    assert all(d["dashboard"]["version"] == 1 for d in grafana_server.dashboards.values())


def test_the_installed_command(grafana_server: GrafanaServer, bundle: Path) -> None:
    """`python -m chargewatch.cli dashboards push` as a process, token from the environment."""
    env = {**os.environ, "GRAFANA_TOKEN": TOKEN, "GRAFANA_URL": grafana_server.url}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chargewatch.cli",
            "dashboards",
            "push",
            "--dashboards-dir",
            str(bundle),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "5 created, 0 updated, 0 unchanged" in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr
    assert proc.stderr == ""
