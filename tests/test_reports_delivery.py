"""Scheduled monthly reports end to end: the real generator (reports/monthly.py, in its
subprocess) on a data dir with journaled charger events, the scheduler on an injected
clock, the notifier, and a real SMTP server that receives the report with its files
attached; once a month and scope, even across restarts; a crashing job is retried."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import db_rows
from notify_servers import SmtpServer
from twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, TwilioServer

from chargewatch import events as ev
from chargewatch.app import App
from chargewatch.config import Config, load_config
from notifier.channels.apprise_channel import AppriseChannel
from notifier.model import DeliveryError, Message
from reports.schedule import ReportScheduleConfig
from reports.scheduler import ReportScheduler

NOV = datetime(2026, 11, 10, 8, 0, tzinfo=UTC).timestamp()
DUE = datetime(2026, 12, 1, 0, 31, tzinfo=UTC).timestamp()  # 2026-11 is due at 00:30


class Clock:
    """The scheduler's `now`, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def write_config(
    tmp_path: Path, smtp: SmtpServer, twilio: TwilioServer, schedule: str = ""
) -> Path:
    """Receivers noc (the alerts) and management (e-mail, SMS, a file); with a
    `schedule` (YAML), `chargewatch run` sends the monthly reports itself."""
    path = tmp_path / "chargewatch.yaml"
    reports = f"reports: {{schedule: {schedule}}}" if schedule else ""
    path.write_text(f"""
{reports}
sites:
  - {{id: north, timezone: Europe/Berlin, chargers: [CP-1, CP-2]}}
notifications:
  twilio: {{account_sid: {ACCOUNT_SID}, auth_token: {AUTH_TOKEN}, from_number: "{FROM_NUMBER}",
           api_base_url: "{twilio.url}"}}
  receivers:
    - name: noc
      targets: ["console:"]
    - name: management
      targets:
        - "mailto://127.0.0.1:{smtp.port}?from=reports@chargewatch.example&to=boss@cpo.example"
        - "sms:+4917612345678"
        - "file:reports-sent.jsonl"
  route: {{receiver: noc}}
""")
    return path


def app_config(path: Path, data_dir: Path) -> Config:
    """The file's config on loopback with ephemeral ports (it keeps its source: the
    report job is started with the same --config)."""
    config = load_config(path)
    return config.model_copy(
        update={
            "data_dir": data_dir,
            "ocpp": config.ocpp.model_copy(update={"host": "127.0.0.1", "port": 0}),
            "http": config.http.model_copy(update={"host": "127.0.0.1", "port": 0}),
        }
    )


SCHEDULE = ReportScheduleConfig(receivers=["management"], retry_after=3600, max_attempts=3)


def november() -> list[ev.Event]:
    """A charger's month: boot, a session of 12 kWh, a fault of 20 minutes."""
    t = NOV
    return [
        ev.Connected("CP-1", t, remote="127.0.0.1", protocol="ocpp1.6"),
        ev.Booted("CP-1", t + 1, vendor="ACME", model="AC22"),
        ev.StatusReported("CP-1", t + 2, connector_id=1, status="Available", charger_ts=t + 2),
        ev.SessionStarted(
            "CP-1", t + 60, session_id="s-1", transaction_id="1", connector_id=1,
            id_tag="TAG1", meter_start_wh=1000.0, started_at=t + 60, auth_status="Accepted",
        ),
        ev.StatusReported("CP-1", t + 61, connector_id=1, status="Charging", charger_ts=t + 61),
        ev.SessionStopped(
            "CP-1", t + 3660, session_id="s-1", meter_stop_wh=13000.0, stopped_at=t + 3660,
            reason="EVDisconnected", id_tag="TAG1", energy_wh=12000.0, connector_id=1,
            started_at=t + 60, meter_start_wh=1000.0,
        ),
        ev.StatusReported("CP-1", t + 3661, connector_id=1, status="Available"),
        ev.StatusReported(
            "CP-1", t + 7200, connector_id=1, status="Faulted", error_code="GroundFailure"
        ),
        ev.StatusReported("CP-1", t + 8400, connector_id=1, status="Available"),
    ]  # fmt: skip


@pytest.fixture
def twilio() -> Any:
    server = TwilioServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start Apps; each is stopped at the end (or when the test stops it)."""
    apps: list[App] = []

    async def start(config: Config, clock: Clock) -> App:
        app = App(config, report_clock=clock)
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in reversed(apps):
        if app.journal is not None:
            await app.stop()


def scheduler(app: App, clock: Clock, **kw: Any) -> ReportScheduler:
    """The scheduler `chargewatch run` wires, on the running app's journal."""
    assert app.journal is not None
    return ReportScheduler(SCHEDULE, app.config, app.journal, clock, **kw)


async def settled(app: App) -> None:
    """Until the notifier has decided everything journaled and delivered what it decided."""
    assert app.journal is not None and app.notifier is not None
    await app.notifier.caught_up(app.journal.last_seq)
    for _ in range(200):
        if not db_rows(app.config.data_dir, "SELECT id FROM outbox WHERE state!='sent'"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("outbox not delivered")


def attachments(mail: Any) -> dict[str, bytes]:
    """File name -> content (transfer encoding undone), in the order of the message."""
    return {p.get_filename(): p.get_payload(decode=True) for p in mail.message.iter_attachments()}


async def test_last_month_is_mailed_with_its_files_once_even_across_restarts(
    tmp_path: Path, started, smtp_server: SmtpServer, twilio: TwilioServer
) -> None:
    path = write_config(tmp_path, smtp_server, twilio, "{receivers: [management]}")
    config = app_config(path, tmp_path / "data")
    clock = Clock(DUE)
    app: App = await started(config, clock)
    assert app.journal is not None and app.reports is not None  # wired by `run`
    await app.journal.commit(november())
    app.reports.wake()  # its loop looks again: November is due and has data now

    [mail] = await smtp_server.wait_for_async(1, timeout=30)
    [(state, files_json)] = db_rows(config.data_dir, "SELECT state, files FROM report_runs")
    assert state == "done"
    files = [Path(f) for f in json.loads(files_json)]
    assert files[0] == tmp_path / "data" / "reports" / "2026-11" / "report.html"
    assert {"sessions.csv", "outages.csv", "uptime_ports.csv"} <= {f.name for f in files}
    assert mail.rcpt_tos == ["boss@cpo.example"]
    assert mail.message["Subject"] == "ChargeWatch monthly report 2026-11"
    report_html = files[0].read_text(encoding="utf-8")
    assert mail.part("text/html").strip() == report_html.strip()  # the report is the body
    attached = attachments(mail)
    assert list(attached) == [f.name for f in files]  # report.html first, then the CSVs
    for f in files:
        assert attached[f.name] == f.read_bytes(), f.name
    assert b"s-1" in attached["sessions.csv"]  # the month's session

    [sms] = await asyncio.to_thread(twilio.wait_for, 1, 15)
    assert sms.body.startswith("ChargeWatch monthly report 2026-11") and "Uptime" in sms.body
    await settled(app)
    [line] = (tmp_path / "reports-sent.jsonl").read_text().splitlines()
    pushed = json.loads(line)
    assert pushed["title"] == "ChargeWatch monthly report 2026-11"
    assert "Uptime" in pushed["text"] and "<" not in pushed["text"]  # the summary, as text

    [row] = db_rows(config.data_dir, "SELECT month, site, state, attempts, error FROM report_runs")
    assert row == ("2026-11", "", "done", 1, None)
    assert "" not in app.state.chargers  # the report event is no charger's
    assert db_rows(config.data_dir, "SELECT COUNT(*) FROM journal WHERE kind='report'") == [(1,)]

    # a second trigger, later that month: nothing to do
    clock.now = DUE + 20 * 86400
    assert await app.reports.run_due() == []
    # a restart of the whole process: nothing either
    await app.stop()
    app = await started(app_config(path, config.data_dir), clock)
    assert app.reports is not None
    assert await app.reports.run_due() == []
    await settled(app)
    await asyncio.sleep(0.5)
    assert len(smtp_server.messages) == 1 and len(twilio.messages) == 1
    rows = db_rows(config.data_dir, "SELECT channel FROM outbox WHERE reason='report'")
    assert sorted(rows) == [("email",), ("file",), ("sms",)]


async def test_one_report_per_site_too(
    tmp_path: Path, started, smtp_server: SmtpServer, twilio: TwilioServer
) -> None:
    schedule = "{receivers: [management], sites: true, timezone: Europe/Berlin}"
    config = app_config(write_config(tmp_path, smtp_server, twilio, schedule), tmp_path / "data")
    clock = Clock(datetime(2026, 11, 30, 23, 31, tzinfo=UTC).timestamp())  # 00:31 in Berlin
    app: App = await started(config, clock)
    assert app.journal is not None and app.reports is not None
    await app.journal.commit(november())
    app.reports.wake()
    mails = await smtp_server.wait_for_async(2, timeout=60)
    subjects = sorted(m.message["Subject"] for m in mails)
    assert subjects == [
        "ChargeWatch monthly report 2026-11",
        "ChargeWatch monthly report 2026-11 — site north",
    ]
    rows = db_rows(config.data_dir, "SELECT site, state, files FROM report_runs ORDER BY site")
    assert [(site, state) for site, state, _ in rows] == [("", "done"), ("north", "done")]
    site_files = [Path(f) for f in json.loads(rows[1][2])]
    assert site_files[0] == config.data_dir / "reports" / "2026-11" / "sites" / "north" / (
        "report.html"
    )
    [site_mail] = [m for m in mails if "site north" in m.message["Subject"]]
    assert list(attachments(site_mail)) == [f.name for f in site_files]


def crashing(month: str, site: str | None, out_dir: Path) -> list[str]:
    return [sys.executable, "-c", "import sys; print('no memory left', file=sys.stderr); exit(3)"]


async def test_a_crashing_report_job_is_recorded_and_retried_later(
    tmp_path: Path, started, smtp_server: SmtpServer, twilio: TwilioServer
) -> None:
    config = app_config(write_config(tmp_path, smtp_server, twilio), tmp_path / "data")
    clock = Clock(DUE)
    app: App = await started(config, clock)
    assert app.journal is not None
    await app.journal.commit(november())
    broken = scheduler(app, clock, command=crashing)
    [outcome] = await broken.run_due()
    assert outcome.state == "error" and "exit status 3" in (outcome.error or "")
    assert "no memory left" in (outcome.error or "")
    [row] = db_rows(config.data_dir, "SELECT state, attempts, error FROM report_runs")
    assert row[0] == "error" and row[1] == 1 and "no memory left" in row[2]
    assert db_rows(config.data_dir, "SELECT COUNT(*) FROM journal WHERE kind='report'") == [(0,)]
    clock.now = DUE + 1800  # not before retry_after
    assert await broken.run_due() == []
    await broken.stop()

    clock.now = DUE + 3601  # an hour later, and the job works again: the loop retries it
    fixed = scheduler(app, clock)
    await fixed.start()
    [mail] = await smtp_server.wait_for_async(1, timeout=30)
    assert "report.html" in attachments(mail)
    [row] = db_rows(config.data_dir, "SELECT state, attempts, error FROM report_runs")
    assert row == ("done", 2, None)
    await fixed.stop()


async def test_giving_up_after_max_attempts(
    tmp_path: Path, started, smtp_server: SmtpServer, twilio: TwilioServer
) -> None:
    config = app_config(write_config(tmp_path, smtp_server, twilio), tmp_path / "data")
    clock = Clock(DUE)
    app: App = await started(config, clock)
    assert app.journal is not None
    await app.journal.commit(november())
    broken = scheduler(app, clock, command=crashing)
    states = []
    for hour in range(5):
        clock.now = DUE + hour * 3601
        states += [o.state for o in await broken.run_due()]
    assert states == ["error", "error", "failed"]  # max_attempts 3, then left alone
    [row] = db_rows(config.data_dir, "SELECT state, attempts FROM report_runs")
    assert row == ("failed", 3)
    await broken.stop()


def sleeping(month: str, site: str | None, out_dir: Path) -> list[str]:
    return [sys.executable, "-c", "import time; time.sleep(60)"]


async def test_a_report_interrupted_by_the_stop_is_redone_at_the_next_start(
    tmp_path: Path, started, smtp_server: SmtpServer, twilio: TwilioServer
) -> None:
    config = app_config(write_config(tmp_path, smtp_server, twilio), tmp_path / "data")
    clock = Clock(DUE)
    app: App = await started(config, clock)
    assert app.journal is not None
    await app.journal.commit(november())
    slow = scheduler(app, clock, command=sleeping)
    await slow.start()
    query = "SELECT state, attempts FROM report_runs"
    for _ in range(100):
        if db_rows(config.data_dir, query) == [("running", 1)]:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # the job is under way
    await asyncio.wait_for(slow.stop(), 10)  # the job is stopped, not waited for
    assert db_rows(config.data_dir, query) == [("running", 1)]
    [outcome] = await scheduler(app, clock).run_due()
    assert outcome.state == "done"
    assert db_rows(config.data_dir, query) == [("done", 2)]
    await smtp_server.wait_for_async(1, timeout=30)


async def test_a_job_over_its_timeout_is_killed_and_retried(
    tmp_path: Path, started, smtp_server: SmtpServer, twilio: TwilioServer
) -> None:
    config = app_config(write_config(tmp_path, smtp_server, twilio), tmp_path / "data")
    clock = Clock(DUE)
    app: App = await started(config, clock)
    assert app.journal is not None
    await app.journal.commit(november())
    short = SCHEDULE.model_copy(update={"timeout": 0.5})
    slow = ReportScheduler(short, app.config, app.journal, clock, command=sleeping)
    [outcome] = await asyncio.wait_for(slow.run_due(), 10)
    assert outcome.state == "error" and outcome.error == "no report within 0.5 s"
    await slow.stop()


def test_an_e_mail_whose_report_file_is_gone_fails_for_good(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    report = tmp_path / "report.html"
    report.write_text("<html><body><h1>November</h1></body></html>", encoding="utf-8")
    message = Message(
        "email",
        "ChargeWatch monthly report 2026-11",
        "Uptime 99 %",
        "<p>Uptime 99 %</p>",
        attachments=[str(report), str(tmp_path / "sessions.csv")],
        html_file=str(report),
    )
    target = f"mailto://127.0.0.1:{smtp_server.port}?from=r@chargewatch.example&to=b@cpo.example"
    channel = AppriseChannel("email", timeout=5)
    with pytest.raises(DeliveryError, match=r"sessions\.csv does not exist") as failure:
        channel.send(target, message)
    assert failure.value.permanent and smtp_server.messages == []
    (tmp_path / "sessions.csv").write_text("session_id\ns-1\n", encoding="utf-8")
    channel.send(target, message)
    [mail] = smtp_server.wait_for(1)
    assert "<h1>November</h1>" in mail.part("text/html")
    csv = b"session_id\ns-1\n"
    assert attachments(mail) == {"report.html": report.read_bytes(), "sessions.csv": csv}
