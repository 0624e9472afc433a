"""Guarded self-healing against the real app and real chargers (the `ocpp` library's 1.6
ChargePoint over real WebSockets): a rule's action is sent, or refused for a stated reason,
and every attempt is journaled, listed with its alert and named in its notifications."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import NOW, app_charger, call, db_rows, eventually, raw_charger
from notify_servers import HttpReceiver
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as CP16
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as CP201
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from chargewatch.app import App
from rules.loader import RuleErrors, load_or_raise

SILENT = """
  - name: Silent
    scope: charger
    condition: {absent: {silent_for: 1s}}
    for: 2s
    action: {do: trigger-status, when: pending, max_per_day: 10}
"""
FAULTED = """
  - name: Faulted
    scope: connector
    condition: {status: {in: [Faulted]}}
    for: 300ms
    action: {do: soft-reset, when: firing, max_per_day: $MAX}
"""


def app_config(
    tmp_path: Path,
    *,
    max_per_day: int = 1,
    healing: str = "enabled: true",
    extra: str = "",
    rules: str = FAULTED,
) -> str:
    path = tmp_path / "heal.yaml"
    path.write_text("rules:" + rules.replace("$MAX", str(max_per_day)))
    return f"""
rules:
  builtin: false
  files: ["{path}"]
  evaluation_delay: 0
  self_healing: {{{healing}, timeout: 1}}
{extra}
"""


class Healable(CP16):
    """Answers Reset and TriggerMessage as told; after an accepted reset its connector is
    Available again, after an accepted trigger it sends the StatusNotification asked for."""

    received: list[tuple[str, dict[str, Any]]]
    answer = "Accepted"

    @on("Reset")
    def reset(self, **kw: Any) -> Any:
        self.received.append(("Reset", kw))
        return r16.Reset(status=self.answer)

    @after("Reset")
    async def back_up(self, **kw: Any) -> None:
        if self.answer == "Accepted":
            await asyncio.sleep(0.5)  # rebooting
            await self.status(1, "Available")

    @on("TriggerMessage")
    def trigger(self, **kw: Any) -> Any:
        self.received.append(("TriggerMessage", kw))
        return r16.TriggerMessage(status=self.answer)

    @after("TriggerMessage")
    async def triggered(self, requested_message: str, **kw: Any) -> None:
        if self.answer == "Accepted" and requested_message == "StatusNotification":
            await self.status(kw.get("connector_id") or 1, "Available")

    async def status(self, connector: int, status: str, error: str = "NoError") -> None:
        await self.call(
            c16.StatusNotification(
                connector_id=connector, error_code=error, status=status, timestamp=NOW
            )
        )


class Healable201(CP201):
    """A 2.0.1 station that accepts a reset and records it."""

    received: list[tuple[str, dict[str, Any]]]
    answer = "Accepted"

    @on("Reset")
    def reset(self, **kw: Any) -> Any:
        self.received.append(("Reset", kw))
        return r201.Reset(status="Accepted")


@contextlib.asynccontextmanager
async def charger(
    app: App, cid: str, answer: str = "Accepted", cls: type = Healable, protocol: str = "ocpp1.6"
) -> AsyncIterator[Any]:
    async with app_charger(app, cid, cls, protocol, received=[], answer=answer) as cp:
        await cp.call(c16.Heartbeat() if cls is Healable else c201.Heartbeat())
        yield cp


def remediations(app: App) -> list[dict[str, Any]]:
    rows = db_rows(app.config.data_dir, "SELECT data FROM journal WHERE kind='remediation'")
    return [json.loads(r[0]) for r in rows]


def self_heal_commands(app: App) -> list[dict[str, Any]]:
    rows = db_rows(app.config.data_dir, "SELECT data FROM journal WHERE kind='command'")
    return [d for d in (json.loads(r[0]) for r in rows) if d["by"].startswith("self-heal:")]


def fired(app: App, rule: str) -> list[str]:
    sql = "SELECT state FROM alert_history WHERE rule=? ORDER BY id"
    return [s for (s,) in db_rows(app.config.data_dir, sql, (rule,))]


async def settle(app: App) -> None:
    """Until the healer has nothing in flight (the alert that asks may still be coming)."""
    await asyncio.sleep(0.3)
    assert app.healer is not None
    await app.healer.idle()


async def test_silent_charger_is_asked_for_its_status_and_the_alert_never_fires(
    start_app, tmp_path
) -> None:
    app: App = await start_app(app_config(tmp_path, rules=SILENT))
    async with charger(app, "CP-1") as cp:
        await eventually(lambda: cp.received, timeout=5)
        action, sent = cp.received[0]
        assert (action, sent) == ("TriggerMessage", {"requested_message": "StatusNotification"})
        await eventually(lambda: remediations(app), timeout=3)
        await asyncio.sleep(2.5)  # past the rule's `for` since it first went pending
        assert "firing" not in fired(app, "Silent")
        assert fired(app, "Silent")[:2] == ["pending", "inactive"]
    first = remediations(app)[0]
    assert first["rule"] == "Silent" and first["alert_state"] == "pending"
    assert (first["action"], first["command"]) == ("trigger-status", "trigger-message")
    assert (first["outcome"], first["status"], first["spent"]) == ("accepted", "Accepted", True)
    assert first["summary"] == "status request — Accepted"
    assert self_heal_commands(app)[0]["action"] == "TriggerMessage"


async def test_faulted_connector_gets_a_soft_reset_shown_in_the_api_and_notification(
    start_app, tmp_path, http_receiver: HttpReceiver
) -> None:
    notify = f"""notifications:
  receivers:
    - name: noc
      targets: ["json://127.0.0.1:{http_receiver.port}/hooks/noc"]
  route: {{receiver: noc, group_by: [alertname, charger], group_wait: 0s, group_interval: 1s}}
"""
    app: App = await start_app(app_config(tmp_path, extra=notify))
    async with charger(app, "CP-1") as cp:
        await cp.status(1, "Faulted", "InternalError")
        await eventually(lambda: cp.received, timeout=5)
        assert cp.received == [("Reset", {"type": "Soft"})]
        await eventually(lambda: "resolved" in fired(app, "Faulted"), timeout=5)
    [tried] = remediations(app)
    assert tried["charger_id"] == "CP-1" and tried["connector_id"] == 1
    assert (tried["outcome"], tried["status"]) == ("accepted", "Accepted")
    assert tried["by"] == "self-heal:Faulted"
    [command] = self_heal_commands(app)
    assert (command["command"], command["request"], command["status"]) == (
        "reset",
        {"type": "Soft"},
        "Accepted",
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        listed = (await http.get(f"/api/v1/alerts/{tried['fingerprint']}/remediations")).json()
    assert [(r["action"], r["outcome"], r["summary"]) for r in listed] == [
        ("soft-reset", "accepted", "soft reset — Accepted")
    ]
    hooks = await http_receiver.wait_for_async(2)
    resolved = hooks[-1].json()
    assert "RESOLVED" in resolved["title"]
    assert "tried: soft reset — Accepted" in resolved["message"]


async def test_a_201_station_gets_reset_on_idle(start_app, tmp_path) -> None:
    app: App = await start_app(app_config(tmp_path))
    async with charger(app, "CS-1", cls=Healable201, protocol="ocpp2.0.1") as cs:
        await cs.call(
            c201.StatusNotification(
                timestamp=NOW, connector_status="Faulted", evse_id=1, connector_id=1
            )
        )
        await eventually(lambda: remediations(app), timeout=5)
        assert cs.received == [("Reset", {"type": "OnIdle"})]
    [tried] = remediations(app)
    assert (tried["connector_id"], tried["outcome"], tried["status"]) == (1, "accepted", "Accepted")


async def test_active_alert_lists_what_was_tried(start_app, tmp_path) -> None:
    app: App = await start_app(app_config(tmp_path))
    async with charger(app, "CP-1", answer="Rejected") as cp:
        await cp.status(1, "Faulted", "InternalError")
        await eventually(lambda: remediations(app), timeout=5)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
            alerts = (await http.get("/api/v1/alerts", params={"alertname": "Faulted"})).json()
    [alert] = alerts["alerts"]
    [tried] = alert["remediations"]
    assert (tried["outcome"], tried["status"], tried["spent"]) == ("rejected", "Rejected", True)
    assert tried["summary"] == "soft reset — Rejected"


async def test_no_reset_while_a_session_is_open_on_the_charger(start_app, tmp_path) -> None:
    app: App = await start_app(app_config(tmp_path))
    async with charger(app, "CP-1") as cp:
        await cp.call(
            c16.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=0, timestamp=NOW)
        )
        await cp.status(2, "Faulted", "InternalError")  # the other connector
        await eventually(lambda: remediations(app), timeout=5)
        await settle(app)
        assert cp.received == []
    [tried] = remediations(app)
    assert (tried["outcome"], tried["connector_id"], tried["spent"]) == ("skipped", 2, False)
    assert tried["reason"] == "a session is open (connector 1)"
    assert self_heal_commands(app) == []


async def test_no_reset_for_a_safety_fault(start_app, tmp_path) -> None:
    app: App = await start_app(app_config(tmp_path))
    async with charger(app, "CP-1") as cp:
        await cp.status(1, "Faulted", "GroundFailure")
        await eventually(lambda: remediations(app), timeout=5)
        await settle(app)
        assert cp.received == []
    [tried] = remediations(app)
    assert tried["outcome"] == "skipped" and "safety fault (GroundFailure)" in tried["reason"]


async def test_daily_budget_is_kept_and_survives_a_restart(start_app, tmp_path) -> None:
    data = tmp_path / "data"
    app: App = await start_app(app_config(tmp_path, max_per_day=1), data)
    async with charger(app, "CP-1") as cp:
        await cp.status(1, "Faulted", "InternalError")
        await eventually(lambda: "resolved" in fired(app, "Faulted"), timeout=5)
        await cp.status(1, "Faulted", "InternalError")  # again: the budget is spent
        await eventually(lambda: len(remediations(app)) == 2, timeout=5)
        assert cp.received == [("Reset", {"type": "Soft"})]
    await app.stop()
    app = await start_app(app_config(tmp_path, max_per_day=1), data)
    async with charger(app, "CP-1") as cp:
        await cp.status(1, "Available")
        await eventually(lambda: fired(app, "Faulted")[-1] == "resolved", timeout=5)
        await cp.status(1, "Faulted", "InternalError")
        await eventually(lambda: len(remediations(app)) == 3, timeout=5)
        await settle(app)
        assert cp.received == []
    outcomes = [(r["outcome"], r["reason"]) for r in remediations(app)]
    limit = "rate limit: 1 today for Faulted (max_per_day 1)"
    assert outcomes == [("accepted", None), ("skipped", limit), ("skipped", limit)]
    assert len(self_heal_commands(app)) == 1


async def test_the_charger_wide_budget_caps_every_rule(start_app, tmp_path) -> None:
    healing = "enabled: true, max_per_charger_per_day: 1"
    app: App = await start_app(app_config(tmp_path, max_per_day=5, healing=healing))
    async with charger(app, "CP-1") as cp:
        await cp.status(1, "Faulted", "InternalError")
        await eventually(lambda: "resolved" in fired(app, "Faulted"), timeout=5)
        await cp.status(1, "Faulted", "InternalError")
        await eventually(lambda: len(remediations(app)) == 2, timeout=5)
    assert remediations(app)[1]["reason"] == (
        "rate limit: 1 today for this charger (max_per_charger_per_day 1)"
    )


async def test_disabled_globally_nothing_is_sent_or_recorded(start_app, tmp_path) -> None:
    healing = "enabled: false"
    app: App = await start_app(app_config(tmp_path, healing=healing, rules=SILENT + FAULTED))
    assert app.healer is None
    async with charger(app, "CP-1") as cp:
        await cp.status(1, "Faulted", "InternalError")
        await eventually(lambda: "firing" in fired(app, "Faulted"), timeout=5)
        await asyncio.sleep(1.5)  # silent past the Silent rule's 1s as well
        assert cp.received == []
    assert remediations(app) == [] and self_heal_commands(app) == []


async def test_dry_run_records_what_would_be_sent(start_app, tmp_path) -> None:
    app: App = await start_app(app_config(tmp_path, healing="enabled: true, dry_run: true"))
    async with charger(app, "CP-1") as cp:
        await cp.status(1, "Faulted", "InternalError")
        await eventually(lambda: remediations(app), timeout=5)
        await settle(app)
        assert cp.received == []
    tried = remediations(app)[0]
    assert (tried["outcome"], tried["spent"]) == ("dry_run", True)
    assert self_heal_commands(app) == []


async def test_a_charger_that_does_not_answer_is_recorded_as_timeout(start_app, tmp_path) -> None:
    app: App = await start_app(app_config(tmp_path))
    async with raw_charger(app.ocpp_port, "CP-1") as ws:
        faulted = {"connectorId": 1, "errorCode": "InternalError", "status": "Faulted"}
        await call(ws, "StatusNotification", {**faulted, "timestamp": NOW})
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))  # the Reset, left unanswered
        assert frame[2:] == ["Reset", {"type": "Soft"}]
        await eventually(lambda: remediations(app), timeout=5)
    [tried] = remediations(app)
    assert (tried["outcome"], tried["status"], tried["spent"]) == ("timeout", None, True)
    assert tried["summary"] == "soft reset — no answer (timeout)"
    [command] = self_heal_commands(app)
    assert command["outcome"] == "timeout"


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("{do: reboot}", "unknown action 'reboot' (known: trigger-status, soft-reset)"),
        ("{do: soft-reset, when: resolved}", "Input should be 'pending' or 'firing'"),
        ("{do: soft-reset, max_per_day: 0}", "Input should be greater than or equal to 1"),
        ("{do: soft-reset, max_per_day: 2, at: noon}", "unknown key (see docs/rules.md)"),
    ],
)
def test_bad_actions_are_refused_naming_the_key(tmp_path, action: str, message: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "rules:\n  - name: R\n    scope: connector\n    condition: {status: {in: [Faulted]}}\n"
        f"    action: {action}\n"
    )
    with pytest.raises(RuleErrors) as caught:
        load_or_raise([path])
    [error] = caught.value.errors
    assert error.file == str(path) and error.line == 5, str(error)
    assert error.key is not None and error.key.startswith("rules[0].action"), error.key
    assert error.reason == message


@pytest.mark.parametrize(
    ("rule", "line", "key", "message"),
    [
        (
            "scope: site\n    condition: {aggregate: {rule: R0}}\n    action: {do: soft-reset}",
            7,
            "rules[1].action (R)",
            "an action is sent to a charger: the rule's scope must be charger or connector, "
            "not site",
        ),
        (
            "condition: {status: {in: [Faulted]}}\n    action: {do: trigger-status, when: pending}",
            6,
            "rules[1].action.when (R)",
            "when: pending needs a `for:` (without one the alert fires at once)",
        ),
    ],
)
def test_actions_that_cannot_work_are_refused(
    tmp_path, rule: str, line: int, key: str, message: str
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "rules:\n  - name: R0\n    condition: {status: {in: [Faulted]}}\n"
        f"  - name: R\n    {rule}\n"
    )
    with pytest.raises(RuleErrors) as caught:
        load_or_raise([path])
    [error] = caught.value.errors
    assert (error.line, error.key, error.reason) == (line, key, message), str(error)
