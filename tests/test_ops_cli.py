"""The operator commands (`alerts`, `ack`, `unack`, `silence`, `notify`) against a real
running App: a real charger raises the alerts, the CLI runs in-process in a thread (the
App serves on the test's event loop) and every effect is checked through the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import NOW, call, free_port, raw_charger

from chargewatch.alerts import fingerprint
from chargewatch.app import App
from chargewatch.cli import main

FAST = """
rules:
  overrides:
    - params: {faulted_for: 0s}
"""
TOKEN = "0123456789abcdef0123"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's own CHARGEWATCH_URL / CHARGEWATCH_TOKEN must not reach the CLI."""
    monkeypatch.delenv("CHARGEWATCH_URL", raising=False)
    monkeypatch.delenv("CHARGEWATCH_TOKEN", raising=False)


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time 5:30 ahead of UTC (a POSIX TZ string: no tz database needed), so that
    "local time" cannot pass by being UTC."""
    monkeypatch.setenv("TZ", "XST-5:30")
    time.tzset()
    assert datetime(2026, 1, 1).astimezone().utcoffset() == timedelta(hours=5, minutes=30)
    yield
    monkeypatch.undo()
    time.tzset()


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `chargewatch ARGV` in a thread: (exit code, stdout, stderr)."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def url(app: App) -> str:
    return f"--url=http://127.0.0.1:{app.http_port}"


async def api(app: App, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        response = await http.request(method, path, **kwargs)
    response.raise_for_status()
    return response.json()


async def until(check: Any, timeout: float = 5.0) -> Any:
    """Poll the async `check()` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)
    return result


@contextlib.asynccontextmanager
async def faulted(app: App, charger: str, connector: int = 1) -> AsyncIterator[None]:
    """A charger that reports a faulted connector and stays connected (a disconnect would
    raise ChargerOffline as well)."""
    async with raw_charger(app.ocpp_port, charger) as ws:
        payload = {"connectorId": connector, "errorCode": "GroundFailure", "status": "Faulted"}
        answer = await call(ws, "StatusNotification", {**payload, "timestamp": NOW})
        assert answer[0] == 3, answer
        yield


async def faulted_alerts(app: App, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        alerts = (await api(app, "GET", "/api/v1/alerts", **kwargs))["alerts"]
        found = [a for a in alerts if a["alertname"] == "ConnectorFaulted"]
        return found if len(found) >= count else None

    return await until(check)


def twin(labels: dict[str, str]) -> str:
    """A charger id whose ConnectorFaulted fingerprint shares the first 4 hex digits."""
    want = fingerprint(labels)[:4]
    for n in itertools.count():
        other = f"CP-{n}"
        if other != labels["charger"] and fingerprint({**labels, "charger": other})[:4] == want:
            return other
    raise AssertionError("unreachable")


def rows(out: str) -> list[list[str]]:
    """A table's data rows, split on runs of spaces (no cell here has two in a row)."""
    return [line.split() for line in out.splitlines()[1:]]


async def test_alerts_table_and_json(start_app, capsys, local_tz) -> None:
    app: App = await start_app(FAST)
    async with faulted(app, "CP-A", 2):
        [alert] = await faulted_alerts(app, 1)
        code, out, err = await cli(capsys, "alerts", url(app))
        assert code == 0, err
        header = out.splitlines()[0].split()
        assert header[:5] == ["FINGERPRINT", "STATE", "SEVERITY", "ALERTNAME", "WHERE"]
        local = datetime.fromisoformat(alert["since"]) + timedelta(hours=5, minutes=30)
        since = local.strftime("%Y-%m-%d %H:%M:%S")
        where = ["CP-A/2", *since.split(), "-"]
        expected = [alert["fingerprint"], "firing", "major", "ConnectorFaulted", *where]
        assert expected in rows(out)

        code, out, err = await cli(capsys, "alerts", url(app), "--json", "--charger", "CP-A")
        assert code == 0, err
        answer = json.loads(out)
        assert answer["count"] == 1 and answer["alerts"][0]["fingerprint"] == alert["fingerprint"]

        code, out, _ = await cli(capsys, "alerts", url(app), "--charger", "CP-Z")
        assert (code, out) == (0, "no active alerts match\n")
        code, out, _ = await cli(capsys, "alerts", url(app), "--state", "pending", "--json")
        assert code == 0 and json.loads(out) == {"count": 0, "alerts": []}


async def test_ack_and_unack_by_prefix(start_app, capsys) -> None:
    app: App = await start_app(FAST)
    async with faulted(app, "CP-A", 2):
        [alert] = await faulted_alerts(app, 1)
        fp = alert["fingerprint"]

        async def acked_by() -> str | None:
            alerts = (await api(app, "GET", "/api/v1/alerts"))["alerts"]
            return next(a["acknowledged_by"] for a in alerts if a["fingerprint"] == fp)

        code, out, err = await cli(
            capsys, "ack", fp[:6], "--by", "alice", "--comment", "on my way", url(app)
        )
        assert code == 0, err
        assert out == f"acknowledged {fp} (ConnectorFaulted CP-A/2) by alice\n"
        assert await until(acked_by) == "alice"
        history = await api(app, "GET", "/api/v1/alerts/history", params={"fingerprint": fp})
        assert history["items"][0]["acknowledged_by"] == "alice"
        code, out, _ = await cli(capsys, "alerts", url(app))
        assert code == 0 and [r[-1] for r in rows(out) if r[0] == fp] == ["alice"]

        code, out, err = await cli(capsys, "unack", fp.upper()[:8], "--by", "alice", url(app))
        assert code == 0, err
        assert out == f"unacknowledged {fp} (ConnectorFaulted CP-A/2) by alice\n"

        async def released() -> bool:
            return await acked_by() is None

        await until(released)


async def test_ambiguous_unknown_and_short_prefixes(start_app, capsys) -> None:
    app: App = await start_app(FAST)
    async with faulted(app, "CP-A"):
        [first] = await faulted_alerts(app, 1)
        other = twin(first["labels"])
        async with faulted(app, other):
            alerts = await faulted_alerts(app, 2)
            prefix = first["fingerprint"][:4]
            assert [a["fingerprint"][:4] for a in alerts] == [prefix, prefix]

            code, out, err = await cli(capsys, "ack", prefix, "--by", "alice", url(app))
            assert (code, out) == (1, "")
            assert f"chargewatch: '{prefix}' is ambiguous" in err
            assert all(a["fingerprint"] in err for a in alerts) and f"{other}/1" in err

            taken = {a["fingerprint"][:4] for a in alerts}
            unknown = next(p for p in (f"{n:04x}" for n in range(65536)) if p not in taken)
            code, out, err = await cli(capsys, "unack", unknown, "--by", "alice", url(app))
            assert (code, out) == (1, "")
            assert (
                err == f"chargewatch: no active alert has a fingerprint starting with '{unknown}'\n"
            )

            code, _, err = await cli(capsys, "ack", prefix[:3], "--by", "alice", url(app))
            assert code == 2 and "at least 4 characters" in err
            for a in (await api(app, "GET", "/api/v1/alerts"))["alerts"]:
                assert a["acknowledged_by"] is None  # nothing was acknowledged on the way


async def test_silence_add_list_expire(start_app, capsys, local_tz) -> None:
    app: App = await start_app()
    code, out, err = await cli(
        capsys,
        *("silence", "add", 'site="north"', "alertname=~Charger.*", url(app)),
        *("--duration", "2h", "--by", "bob", "--comment", "maintenance"),
    )
    assert code == 0, err
    [listed] = (await api(app, "GET", "/api/v1/silences"))["silences"]
    assert listed["matchers"] == ['site="north"', "alertname=~Charger.*"]
    assert (listed["state"], listed["created_by"], listed["comment"]) == (
        "active",
        "bob",
        "maintenance",
    )
    starts = datetime.fromisoformat(listed["starts_at"])
    ends = datetime.fromisoformat(listed["ends_at"])
    assert (ends - starts).total_seconds() == 7200
    assert out.startswith(f"silence {listed['id']} (active) from ")

    # a later window: times without a zone are local time
    code, _, err = await cli(
        capsys,
        *("silence", "add", "charger=CP-1", url(app), "--by", "bob"),
        *("--start", "2099-01-01T10:00", "--until", "2099-01-01T12:00+01:00"),
    )
    assert code == 0, err
    pending = (await api(app, "GET", "/api/v1/silences", params={"state": "pending"}))["silences"]
    [later] = pending
    assert datetime.fromisoformat(later["starts_at"]) == datetime.fromisoformat(
        "2099-01-01T04:30:00Z"
    )
    assert datetime.fromisoformat(later["ends_at"]) == datetime.fromisoformat(
        "2099-01-01T11:00:00Z"
    )

    code, out, err = await cli(capsys, "silence", "list", url(app))
    assert code == 0, err
    table = rows(out)
    assert [r[:2] for r in table] == [[later["id"], "pending"], [listed["id"], "active"]]
    window = ["2099-01-01", "10:00:00", "2099-01-01", "16:30:00"]  # local: UTC+5:30
    assert table[0][2:] == [*window, "bob", "charger=CP-1"]
    code, out, _ = await cli(capsys, "silence", "list", "--state", "pending", "--json", url(app))
    assert code == 0 and [s["id"] for s in json.loads(out)["silences"]] == [later["id"]]

    code, out, err = await cli(capsys, "silence", "expire", listed["id"], url(app))
    assert code == 0, err
    assert out.startswith(f"silence {listed['id']} expired at ")
    states = {s["id"]: s["state"] for s in (await api(app, "GET", "/api/v1/silences"))["silences"]}
    assert states == {listed["id"]: "expired", later["id"]: "pending"}

    # the server's own words for what it refuses
    code, out, err = await cli(capsys, "silence", "expire", "nope", url(app))
    assert (code, out, err) == (1, "", "chargewatch: no silence has id 'nope'\n")
    code, _, err = await cli(
        capsys, "silence", "add", "not a matcher", "--duration", "1h", "--by", "bob", url(app)
    )
    assert (code, err) == (
        1,
        "chargewatch: matchers: 'not a matcher' is not a matcher; write name=\"value\" "
        "(operators =, !=, =~, !~)\n",
    )
    code, _, err = await cli(
        capsys,
        *("silence", "add", "a=b", "--until", "2000-01-01T00:00Z", "--by", "bob", url(app)),
    )
    assert (code, err) == (
        1,
        "chargewatch: the silence would end before it starts or in the past\n",
    )
    with pytest.raises(SystemExit) as exit_:
        await cli(capsys, "silence", "add", "a=b", "--duration", "soon", "--by", "bob", url(app))
    assert exit_.value.code == 2 and "is not a duration" in capsys.readouterr().err
    assert len((await api(app, "GET", "/api/v1/silences"))["silences"]) == 2


async def test_notify_test_and_log(start_app, capsys, tmp_path: Path) -> None:
    sent = tmp_path / "out" / "ops.jsonl"
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    app: App = await start_app(
        f"""
notifications:
  receivers:
    - {{name: ops, targets: ["file:{sent}"]}}
    - {{name: broken, targets: ["file:{blocker}/x.jsonl"]}}
  route: {{receiver: ops}}
"""
    )
    code, out, err = await cli(capsys, "notify", "test", "ops", "--by", "alice", url(app))
    assert code == 0, err
    [record] = [json.loads(line) for line in sent.read_text().splitlines()]
    assert record["text"] == "This is a test notification from ChargeWatch, sent by alice."
    lines = out.splitlines()
    assert lines[0].startswith("queued a test notification to ops (outbox ids ")
    assert lines[1].split() == ["CHANNEL", "TARGET", "RESULT", "ERROR"]
    assert lines[2].split() == ["file", f"file:{sent}", "sent"]

    # a target that cannot be written: retried, so not final within the wait
    code, out, err = await cli(capsys, "notify", "test", "broken", "--wait", "1", url(app))
    assert code == 1
    [row] = rows(out.split("\n", 1)[1])
    assert row[:3] == ["file", f"file:{blocker}/x.jsonl", "retry"]
    assert "cannot append to" in out
    assert "not every delivery finished within 1 s" in err

    code, out, err = await cli(capsys, "notify", "test", "broken", "--wait", "0", url(app))
    assert code == 0, err
    assert "follow it with: chargewatch notify log --receiver broken" in out

    code, out, err = await cli(capsys, "notify", "test", "nobody", url(app))
    assert (code, out, err) == (1, "", "chargewatch: no receiver named 'nobody'\n")

    code, out, err = await cli(capsys, "notify", "log", "--receiver", "ops", url(app))
    assert code == 0, err
    table = rows(out)
    assert table[0][2:] == ["ops", "file", f"file:{sent}", "1", "sent"]
    assert out.splitlines()[-1].startswith("outbox: ")
    code, out, err = await cli(capsys, "notify", "log", "--result", "retry", "--json", url(app))
    assert code == 0, err
    answer = json.loads(out)
    assert answer["items"] and {e["receiver"] for e in answer["items"]} == {"broken"}
    code, out, _ = await cli(capsys, "notify", "log", "--receiver", "nobody", url(app))
    assert code == 0 and out.splitlines()[0] == "no deliveries match"


async def test_token_required_and_never_shown(start_app, capsys, monkeypatch) -> None:
    app: App = await start_app(FAST + f'http: {{api_tokens: ["{TOKEN}"]}}\n')
    async with faulted(app, "CP-A"):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        [alert] = await faulted_alerts(app, 1, headers=headers)
        outputs: list[str] = []

        code, out, err = await cli(capsys, "alerts", url(app))
        outputs += [out, err]
        assert (code, out) == (1, "")
        assert err == "chargewatch: the API wants a token (--token or CHARGEWATCH_TOKEN)\n"
        code, out, err = await cli(capsys, "alerts", url(app), "--token", TOKEN[::-1])
        outputs += [out, err]
        assert code == 1 and "refused the token" in err

        code, out, err = await cli(capsys, "alerts", url(app), "--token", TOKEN)
        outputs += [out, err]
        assert code == 0, err
        assert alert["fingerprint"] in out
        code, out, err = await cli(
            capsys, "ack", alert["fingerprint"][:5], "--by", "carol", url(app), f"--token={TOKEN}"
        )
        outputs += [out, err]
        assert code == 0, err

        async def acked() -> bool:
            [now] = await faulted_alerts(app, 1, headers=headers)
            return now["acknowledged_by"] == "carol"

        await until(acked)
        monkeypatch.setenv("CHARGEWATCH_TOKEN", TOKEN)
        monkeypatch.setenv("CHARGEWATCH_URL", f"http://127.0.0.1:{app.http_port}")
        code, out, err = await cli(capsys, "silence", "list", "--json")
        outputs += [out, err]
        assert code == 0 and json.loads(out)["count"] == 0
        unknown = "0000" if not alert["fingerprint"].startswith("0000") else "ffff"
        code, out, err = await cli(capsys, "ack", unknown, "--by", "carol")
        outputs += [out, err]
        assert (code, out) == (1, "") and "no active alert" in err
        with pytest.raises(SystemExit):
            await cli(capsys, "alerts", "--help")
        outputs += list(capsys.readouterr())
        assert all(TOKEN not in text and TOKEN[::-1] not in text for text in outputs)


async def test_unreachable_url(capsys) -> None:
    port = free_port()
    code, out, err = await cli(capsys, "alerts", f"--url=http://127.0.0.1:{port}/")
    assert (code, out) == (1, "")
    assert err == (
        f"chargewatch: cannot reach ChargeWatch at http://127.0.0.1:{port} "
        "(is `chargewatch run` running?)\n"
    )
    code, _, err = await cli(capsys, "notify", "test", "ops", f"--url=http://127.0.0.1:{port}")
    assert code == 1 and "cannot reach ChargeWatch" in err
    with pytest.raises(SystemExit) as exit_:
        await cli(capsys, "alerts", "--url", "127.0.0.1:8000")
    assert exit_.value.code == 2 and "is not an http://" in capsys.readouterr().err
