"""The audit log: every state-changing /api/v1 call recorded by the middleware (who, when,
what, result), secrets redacted, read through the API with paging and through the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from chargewatch.app import App
from chargewatch.cli import main

ADMIN = "config-admin-token-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARGEWATCH_URL", raising=False)
    monkeypatch.delenv("CHARGEWATCH_TOKEN", raising=False)


async def test_state_changes_are_recorded_with_secrets_redacted(start_app) -> None:
    app: App = await start_app(f'http: {{api_tokens: ["{ADMIN}"]}}')
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        made = await http.post(
            "/api/v1/tokens", json={"name": "ops", "role": "operator"}, headers=bearer(ADMIN)
        )
        op = made.json()["token"]
        viewer = (
            await http.post(
                "/api/v1/tokens", json={"name": "dash", "role": "viewer"}, headers=bearer(ADMIN)
            )
        ).json()["token"]
        silence = {
            "matchers": ['site="north"'],
            "duration": "2h",
            "created_by": "carol",
            "comment": "maintenance",
            "api_key": "s3cret-value",
            "nested": {"password": "hunter2"},
        }
        added = await http.post("/api/v1/silences", json=silence, headers=bearer(op))
        assert added.status_code == 201
        await http.get("/api/v1/chargers", headers=bearer(op))  # a read: not audited
        await http.delete("/api/v1/exclusions/nope?by=carol&token=abc", headers=bearer(op))
        await http.post("/api/v1/silences", json=silence, headers=bearer(viewer))  # 403
        await http.post("/api/v1/silences", json=silence)  # 401
        await http.post("/api/v1/alertmanager", content=b"x" * 70_000, headers=bearer(op))

        page = await http.get("/api/v1/audit", params={"limit": 3}, headers=bearer(op))
        assert page.status_code == 200  # an operator reads the audit
        assert (await http.get("/api/v1/audit", headers=bearer(viewer))).status_code == 403
        first = page.json()
        rest = await http.get(
            "/api/v1/audit", params={"before": first["next_before"]}, headers=bearer(op)
        )
    entries = first["items"] + rest.json()["items"]
    assert rest.json()["next_before"] is None
    got = [(e["who"], e["method"], e["path"], e["status"]) for e in reversed(entries)]
    assert got == [
        ("config:1", "POST", "/api/v1/tokens", 201),
        ("config:1", "POST", "/api/v1/tokens", 201),
        ("ops", "POST", "/api/v1/silences", 201),
        ("ops", "DELETE", "/api/v1/exclusions/nope", 404),
        ("dash", "POST", "/api/v1/silences", 403),
        ("unauthenticated", "POST", "/api/v1/silences", 401),
        ("ops", "POST", "/api/v1/alertmanager", 422),  # a large body: kept by its size only
    ]
    by_path = {(e["who"], e["status"]): e for e in entries}
    summary = json.loads(by_path[("ops", 201)]["summary"])
    assert summary["comment"] == "maintenance" and summary["created_by"] == "carol"
    assert summary["api_key"] == "***" and summary["nested"] == {"password": "***"}
    assert by_path[("ops", 404)]["query"] == "by=carol&token=***"
    assert (
        by_path[("ops", 201)]["role"] == "operator" and by_path[("dash", 403)]["role"] == "viewer"
    )
    assert "not kept" in by_path[("ops", 422)]["summary"]
    text = json.dumps(entries)
    assert "s3cret-value" not in text and "hunter2" not in text and op not in text
    assert all(e["at"] for e in entries)


async def test_open_api_audits_anonymous_and_the_cli_lists(
    start_app, tmp_path: Path, capsys
) -> None:
    app: App = await start_app()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        body = {"matchers": ['site="north"'], "duration": "1h", "created_by": "bob"}
        for _ in range(3):
            assert (await http.post("/api/v1/silences", json=body)).status_code == 201
    url = f"--url=http://127.0.0.1:{app.http_port}"
    code = await asyncio.to_thread(main, ["audit", url, "--limit", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["ID", "AT", "WHO", "METHOD", "PATH"]
    assert len(lines) == 3
    assert all(
        line.split()[3:7] == ["anonymous", "POST", "/api/v1/silences", "201"] for line in lines[1:]
    )
    code = await asyncio.to_thread(main, ["audit", f"--data-dir={tmp_path / 'data'}", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    items = json.loads(out)["items"]
    assert len(items) == 3 and json.loads(items[0]["summary"])["created_by"] == "bob"
