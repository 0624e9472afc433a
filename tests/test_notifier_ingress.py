"""Alerts from outside: a real Prometheus Alertmanager posts its webhooks (payload
version 4, with a bearer token) to ChargeWatch, and they go through the same notifier."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from alertmanager_server import AlertmanagerServer
from helpers import eventually

from chargewatch.app import App

TOKEN = "test-token-0123456789abcdef"


def lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_alertmanager_webhooks_are_notified_listed_and_acknowledged(
    start_app, start_alertmanager, tmp_path: Path
) -> None:
    out = tmp_path / "ops.jsonl"
    app: App = await start_app(f"""
http: {{api_tokens: ["{TOKEN}"]}}
notifications:
  receivers: [{{name: ops, targets: ["file:{out}"]}}]
  route: {{receiver: ops, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
""")
    url = f"http://127.0.0.1:{app.http_port}"
    am: AlertmanagerServer = start_alertmanager(f"{url}/api/v1/alertmanager", token=TOKEN)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    alert = {
        "labels": {"alertname": "CollectorDiskFull", "severity": "critical", "host": "cw-1"},
        "annotations": {"summary": "Disk of cw-1 is 97% full"},
        "startsAt": start.isoformat(),
        "generatorURL": "http://prometheus:9090/graph",
    }
    am.post_alerts([alert])
    await eventually(lambda: len(lines(out)) >= 1, timeout=10)
    assert lines(out)[0]["title"].startswith("FIRING CollectorDiskFull")
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/api/v1/alerts")).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        listed = (await http.get("/api/v1/alerts", headers=auth)).json()["alerts"]
        [external] = [a for a in listed if a["alertname"] == "CollectorDiskFull"]
        assert external["labels"]["source"] == "alertmanager"
        assert external["fired_at"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))
        ack = await http.post(
            f"/api/v1/alerts/{external['fingerprint']}/acknowledge",
            json={"by": "alice"},
            headers=auth,
        )
        assert ack.status_code == 202
        await eventually(
            lambda: (
                app.notifier.dispatcher.alerts[external["fingerprint"]].acknowledged_by == "alice"
            )
        )
        resolved_at = datetime.now(UTC)
        am.post_alerts([{**alert, "endsAt": resolved_at.isoformat()}])
        await eventually(lambda: len(lines(out)) >= 2, timeout=10)
        assert lines(out)[1]["title"].startswith("RESOLVED CollectorDiskFull")
        history = await http.get(
            "/api/v1/alerts/history",
            params={"fingerprint": external["fingerprint"]},
            headers=auth,
        )
        assert [t["state"] for t in history.json()["items"]] == ["resolved", "firing"]


async def test_bad_webhooks_get_precise_errors(start_app) -> None:
    app: App = await start_app()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        wrong_version = await http.post(
            "/api/v1/alertmanager",
            json={"version": "3", "groupKey": "k", "status": "firing", "receiver": "r",
                  "alerts": []},
        )  # fmt: skip
        assert wrong_version.status_code == 422
        assert "only '4' is accepted" in wrong_version.text
        not_json = await http.post("/api/v1/alertmanager", content=b"{nope")
        assert not_json.status_code == 422
        huge = await http.post("/api/v1/alertmanager", content=b" " * (5 * 1024 * 1024))
        assert huge.status_code == 413
        assert (await http.get("/healthz")).status_code == 200  # still serving
