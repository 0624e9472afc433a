"""The notifier inside `chargewatch run`: a charger's fault reaches a real SMTP server, a
real webhook receiver and a Twilio-like SMS API; a failing target is retried until it
comes back; the notification log records every attempt."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from helpers import NOW, call, db_rows, eventually, raw_charger
from notify_servers import HttpReceiver, SmtpServer
from twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, TwilioServer

from chargewatch.app import App

FAULTED = {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted", "timestamp": NOW}
AVAILABLE = {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": NOW}


def config(smtp: SmtpServer, hook: HttpReceiver, extra_targets: str = "", extra: str = "") -> str:
    return f"""
rules:
  overrides:
    - params: {{faulted_for: 0s}}
sites:
  - {{id: north, timezone: Europe/Berlin, chargers: [CP-1, CP-2]}}
notifications:
  dashboard_url: https://grafana.example/d/cw-charger
  receivers:
    - name: noc
      targets:
        - "mailto://127.0.0.1:{smtp.port}?from=alerts@chargewatch.example&to=noc@cpo.example"
        - "json://127.0.0.1:{hook.port}/hooks/noc"
{extra_targets}
  route:
    receiver: noc
    group_by: [alertname, charger]
    group_wait: 0s
    group_interval: 1s
{extra}
"""


async def log_rows(app: App, **params: Any) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        response = await http.get("/api/v1/notifications", params={"limit": 500, **params})
    response.raise_for_status()
    return response.json()["items"]


async def test_fault_reaches_email_and_webhook_then_resolved_says_how_long(
    start_app, smtp_server: SmtpServer, http_receiver: HttpReceiver
) -> None:
    app: App = await start_app(config(smtp_server, http_receiver))
    async with raw_charger(app.ocpp_port, "CP-1") as ws:
        await call(ws, "StatusNotification", FAULTED)
        [mail] = await smtp_server.wait_for_async(1)
        assert mail.rcpt_tos == ["noc@cpo.example"]
        subject = mail.message["Subject"]
        assert subject.startswith("[FIRING:1] ConnectorFaulted") and "charger=CP-1" in subject
        html = mail.part("text/html")
        assert "Connector 1 of CP-1 is faulted: GroundFailure" in html
        assert "https://grafana.example/d/cw-charger?var-charger=CP-1" in html
        assert "CET" in html or "CEST" in html  # the site's time zone
        [hook] = await http_receiver.wait_for_async(1)
        assert hook.path == "/hooks/noc"
        assert "ConnectorFaulted" in hook.json()["title"] and "CP-1" in hook.json()["title"]
        await call(ws, "StatusNotification", AVAILABLE)
        mails = await smtp_server.wait_for_async(2)
        assert mails[1].message["Subject"].startswith("[RESOLVED] ConnectorFaulted")
        assert "lasted" in mails[1].part("text/plain")
        await http_receiver.wait_for_async(2)
    items = await log_rows(app)
    for _ in range(50):  # the last attempt is logged just after the receiver has it
        if len(items) == 4:
            break
        await asyncio.sleep(0.05)
        items = await log_rows(app)
    assert sorted((i["channel"], i["result"]) for i in items) == [
        ("email", "sent"),
        ("email", "sent"),
        ("push", "sent"),
        ("push", "sent"),
    ]
    assert all("noc@cpo.example" not in i["target"] or "mailto://" in i["target"] for i in items)


async def test_smtp_down_is_retried_and_delivered_when_it_returns_without_holding_others(
    start_app, smtp_server: SmtpServer, http_receiver: HttpReceiver
) -> None:
    smtp_server.stop()
    app: App = await start_app(
        config(smtp_server, http_receiver, extra="  delivery: {retry_max_delay: 1s}")
    )
    async with raw_charger(app.ocpp_port, "CP-1") as ws:
        await call(ws, "StatusNotification", FAULTED)
        await http_receiver.wait_for_async(1)  # the webhook is not held back by SMTP
        await eventually(lambda: len(db_rows(app.config.data_dir, RETRIES)) >= 2, timeout=10)
        smtp_server.start()
        [mail] = await smtp_server.wait_for_async(1, timeout=15)
        assert "ConnectorFaulted" in mail.message["Subject"]
    items = await log_rows(app, receiver="noc")
    email = [i for i in items if i["channel"] == "email"]
    assert email[0]["result"] == "sent"
    assert {i["result"] for i in email[1:]} == {"retry"}
    assert all("Connection refused" in i["error"] for i in email[1:])


RETRIES = "SELECT id FROM notification_log WHERE result='retry'"


async def test_sms_through_twilio(start_app, smtp_server, http_receiver, tmp_path) -> None:
    twilio = TwilioServer()
    twilio.start()
    try:
        targets = '        - "sms:+4917612345678"'
        extra = f"""  twilio:
    account_sid: {ACCOUNT_SID}
    auth_token: {AUTH_TOKEN}
    from_number: "{FROM_NUMBER}"
    api_base_url: {twilio.url}
"""
        app: App = await start_app(config(smtp_server, http_receiver, targets, extra))
        async with raw_charger(app.ocpp_port, "CP-2") as ws:
            await call(ws, "StatusNotification", FAULTED)
            [sms] = await asyncio.to_thread(twilio.wait_for, 1)
        assert sms.to == "+4917612345678" and sms.from_ == FROM_NUMBER
        assert sms.body.startswith("FIRING") and "CP-2/1" in sms.body
        assert sms.num_segments == 1
        # Twilio has answered, but the outbox records the receipt a moment after that
        receipts: list[Any] = []
        for _ in range(100):
            receipts = [i["receipt"] for i in await log_rows(app) if i["channel"] == "sms"]
            if receipts and receipts[0] is not None:
                break
            await asyncio.sleep(0.05)
        assert receipts == [sms.sid]
    finally:
        twilio.stop()


async def test_test_notification_to_a_receiver(start_app, smtp_server, http_receiver) -> None:
    app: App = await start_app(config(smtp_server, http_receiver))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        answer = await http.post("/api/v1/receivers/noc/test", json={"by": "alice"})
        assert answer.status_code == 202, answer.text
        assert len(answer.json()["outbox_ids"]) == 2
        missing = await http.post("/api/v1/receivers/nobody/test", json={})
        assert missing.status_code == 404
    [mail] = await smtp_server.wait_for_async(1)
    assert mail.message["Subject"] == "ChargeWatch test notification"
    assert "sent by alice" in mail.part("text/plain")


async def test_silences_over_the_api(start_app, smtp_server, http_receiver) -> None:
    app: App = await start_app(config(smtp_server, http_receiver))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        everything = await http.post(
            "/api/v1/silences",
            json={"matchers": ['site=~".*"'], "duration": "1h", "created_by": "eve"},
        )
        assert everything.status_code == 422
        assert "must not match the empty string" in everything.text
        made = await http.post(
            "/api/v1/silences",
            json={"matchers": ['charger="CP-1"'], "duration": "1h", "created_by": "bob",
                  "comment": "cable replaced"},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        silence = made.json()
        assert silence["state"] == "active"
        async with (
            raw_charger(app.ocpp_port, "CP-1") as ws,
            raw_charger(app.ocpp_port, "CP-2") as ws2,
        ):
            await call(ws, "StatusNotification", FAULTED)
            await call(ws2, "StatusNotification", FAULTED)
            [mail] = await smtp_server.wait_for_async(1)
            assert "charger=CP-2" in mail.message["Subject"]  # CP-1 is silenced
            expired = await http.delete(f"/api/v1/silences/{silence['id']}")
            assert expired.status_code == 200 and expired.json()["state"] == "expired"
            mails = await smtp_server.wait_for_async(2)  # the next tick tells about CP-1
            assert "charger=CP-1" in mails[1].message["Subject"]
        listed = (await http.get("/api/v1/silences", params={"state": "expired"})).json()
        assert [s["id"] for s in listed["silences"]] == [silence["id"]]
        assert (await http.delete("/api/v1/silences/nope")).status_code == 404
        no_body = await http.post("/api/v1/receivers/noc/test")
        assert no_body.status_code == 202


async def test_an_sms_storm_is_rate_limited_and_summarised(
    start_app, smtp_server, http_receiver
) -> None:
    twilio = TwilioServer()
    twilio.start()
    try:
        app: App = await start_app(f"""
rules:
  overrides:
    - params: {{faulted_for: 0s}}
notifications:
  twilio: {{account_sid: {ACCOUNT_SID}, auth_token: {AUTH_TOKEN}, from_number: "{FROM_NUMBER}",
           api_base_url: "{twilio.url}"}}
  receivers:
    - name: oncall
      targets: ["sms:+4917612345678"]
      rate_limit: {{count: 3, per: 3s}}
  route: {{receiver: oncall, group_by: [charger, connector], group_wait: 0s}}
""")
        async with raw_charger(app.ocpp_port, "CP-STORM") as ws:
            for connector in range(1, 21):
                await call(ws, "StatusNotification", {**FAULTED, "connectorId": connector})
            first = await asyncio.to_thread(twilio.wait_for, 3)
            assert all(m.body.startswith("FIRING") for m in first)
            everything = await asyncio.to_thread(twilio.wait_for, 4, 10)
        summary = everything[3].body
        assert "17 notifications were held back" in summary and "ConnectorFaulted x17" in summary
        assert everything[3].num_segments <= 2
        await asyncio.sleep(0.5)
        assert len(twilio.messages) == 4  # not 20
    finally:
        twilio.stop()
