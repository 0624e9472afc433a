"""The notifier's channels against real servers on loopback: e-mail through apprise to an
aiosmtpd server, push through apprise to an HTTP receiver (JSON webhook, ntfy), and the
local file and console channels."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from notifier.channels.apprise_channel import AppriseChannel
from notifier.channels.local import ConsoleChannel, FileChannel
from notifier.model import CONSOLE, EMAIL, FILE, PUSH, DeliveryError, Message

if TYPE_CHECKING:  # imported by pytest as a plugin, before any import here
    from notify_servers import SmtpServer


PASSWORD = "Sm7pPassw0rd"
TOKEN = "Tok3nInThePath"
TITLE = "[FIRING:1] ConnectorFaulted — north ⚡"
TEXT = "ConnectorFaulted on CP-0001 connector 2\nsite: north\nsince 10:00 UTC"
HTML = (
    "<h1>ConnectorFaulted</h1>"
    "<p>Charger <b>CP-0001</b> connector 2 at site <i>north</i> reports a fault.</p>"
)


def email_message(**fields: str) -> Message:
    return Message(**{"kind": EMAIL, "title": TITLE, "text": TEXT, "html": HTML, **fields})


def push_message(**fields: str) -> Message:
    return Message(**{"kind": PUSH, "title": TITLE, "text": TEXT, **fields})


def mailto(server: SmtpServer, query: str, auth: str = "") -> str:
    """A mailto:// URL for a plain SMTP server on loopback (apprise: no TLS for mailto://)."""
    return f"mailto://{auth}{server.host}:{server.port}?{query}"


@pytest.fixture
def smtp_with_login(start_smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    return start_smtp_server(credentials=("chargewatch", PASSWORD))


# --- e-mail -------------------------------------------------------------------------------


def test_email_reaches_every_recipient_with_subject_from_html_and_text(smtp_server):
    url = mailto(
        smtp_server,
        "from=alerts@example.org&name=ChargeWatch&to=ops@example.com,oncall@example.net",
    )

    receipt = AppriseChannel(EMAIL, timeout=5).send(url, email_message())

    assert receipt == ""
    mails = sorted(smtp_server.wait_for(2), key=lambda m: m.rcpt_tos)
    assert [m.rcpt_tos for m in mails] == [["oncall@example.net"], ["ops@example.com"]]
    for mail, to in zip(mails, ["oncall@example.net", "ops@example.com"], strict=True):
        assert mail.mail_from == "alerts@example.org"
        assert mail.message["To"] == to
        assert mail.message["From"] == "ChargeWatch <alerts@example.org>"
        assert mail.message["Subject"] == TITLE
        assert mail.message.get_content_type() == "multipart/alternative"
        assert mail.part("text/html") == HTML
        # apprise's own conversion of the HTML: the words without the tags
        plain = mail.part("text/plain")
        assert "Charger CP-0001 connector 2 at site north reports a fault." in plain
        assert "<" not in plain
        assert mail.login is None
    assert len(smtp_server.messages) == 2


def test_email_recipients_in_the_path_and_login(smtp_with_login):
    url = (
        f"mailto://chargewatch:{PASSWORD}@{smtp_with_login.host}:{smtp_with_login.port}"
        "/ops@example.com/oncall@example.net?from=alerts@example.org"
    )

    AppriseChannel(EMAIL, timeout=5).send(url, email_message())

    mails = smtp_with_login.wait_for(2)
    assert sorted(r for m in mails for r in m.rcpt_tos) == ["oncall@example.net", "ops@example.com"]
    assert {m.login for m in mails} == {"chargewatch"}


def test_email_format_text_sends_our_own_text(smtp_server):
    url = mailto(smtp_server, "from=alerts@example.org&to=ops@example.com&format=text")

    AppriseChannel(EMAIL, timeout=5).send(url, email_message())

    [mail] = smtp_server.wait_for(1)
    assert mail.message.get_content_type() == "text/plain"
    assert mail.part("text/plain").strip() == TEXT
    assert mail.message["Subject"] == TITLE


def test_smtp_down_is_a_temporary_failure_then_delivered_once_back(smtp_with_login):
    url = mailto(
        smtp_with_login,
        "from=alerts@example.org&to=ops@example.com",
        auth=f"chargewatch:{PASSWORD}@",
    )
    channel = AppriseChannel(EMAIL, timeout=5)
    smtp_with_login.stop()

    with pytest.raises(DeliveryError) as failed:
        channel.send(url, email_message())

    assert not failed.value.permanent
    assert "Connection refused" in failed.value.reason
    assert PASSWORD not in str(failed.value) and PASSWORD not in failed.value.reason
    assert smtp_with_login.messages == []

    smtp_with_login.start()
    channel.send(url, email_message())

    [mail] = smtp_with_login.wait_for(1)
    assert mail.rcpt_tos == ["ops@example.com"]
    assert mail.login == "chargewatch"
    assert mail.message["Subject"] == TITLE


def test_wrong_smtp_password_fails_without_showing_it(smtp_with_login):
    wrong = "WrongPassw0rd"
    url = mailto(
        smtp_with_login, "from=alerts@example.org&to=ops@example.com", auth=f"chargewatch:{wrong}@"
    )

    with pytest.raises(DeliveryError) as failed:
        AppriseChannel(EMAIL, timeout=5).send(url, email_message())

    assert "535" in failed.value.reason  # the server's "authentication credentials invalid"
    assert wrong not in failed.value.reason
    assert smtp_with_login.messages == []


def test_smtp_server_that_never_answers_times_out():
    with socket.socket() as silent:  # accepts connections (backlog), never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"mailto://127.0.0.1:{silent.getsockname()[1]}?from=alerts@example.org&to=ops@example.com"

        with pytest.raises(DeliveryError) as failed:
            AppriseChannel(EMAIL, timeout=0.5).send(url, email_message())

    assert not failed.value.permanent
    assert "timed out" in failed.value.reason


def test_email_url_apprise_cannot_load_is_permanent_and_secret():
    # no from=: apprise makes the sender chargewatch@127.0.0.1, which is not an address
    url = f"mailto://chargewatch:{PASSWORD}@127.0.0.1:2525?to=ops@example.com"

    with pytest.raises(DeliveryError) as failed:
        AppriseChannel(EMAIL).send(url, email_message())

    assert failed.value.permanent
    assert "From" in failed.value.reason
    assert PASSWORD not in failed.value.reason


# --- push ---------------------------------------------------------------------------------


def test_json_webhook_gets_title_text_and_type(http_receiver):
    url = f"json://127.0.0.1:{http_receiver.port}/hooks/chargewatch"

    receipt = AppriseChannel(PUSH, timeout=5).send(url, push_message(notify_type="failure"))

    assert receipt == ""
    [request] = http_receiver.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/hooks/chargewatch"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["title"] == TITLE
    assert body["message"] == TEXT
    assert body["type"] == "failure"


@pytest.mark.parametrize(
    ("priority", "header"),
    [("low", "low"), ("normal", None), ("high", "high"), ("emergency", "max")],
)
def test_ntfy_gets_title_text_and_priority(http_receiver, priority, header):
    # the URL's own priority is replaced by the message's
    url = f"ntfy://127.0.0.1:{http_receiver.port}/cw-alerts?priority=min"

    AppriseChannel(PUSH, timeout=5).send(url, push_message(priority=priority))

    [request] = http_receiver.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/"  # ntfy's publish-as-JSON: the topic is in the body
    assert request.headers.get("x-priority") == header
    assert request.json() == {"topic": "cw-alerts", "title": TITLE, "message": TEXT}


async def test_push_from_a_worker_thread_in_an_async_test(http_receiver):
    channel = AppriseChannel(PUSH, timeout=5)
    url = f"ntfy://127.0.0.1:{http_receiver.port}/cw-alerts"

    await asyncio.to_thread(channel.send, url, push_message(priority="high"))
    await asyncio.to_thread(channel.send, url, push_message(title="second"))

    first, second = await http_receiver.wait_for_async(2)
    assert (first.json()["title"], first.headers.get("x-priority")) == (TITLE, "high")
    assert (second.json()["title"], second.headers.get("x-priority")) == ("second", None)


def test_http_500_is_a_temporary_failure_without_secrets(http_receiver):
    http_receiver.status = 500
    url = f"json://hook:{PASSWORD}@127.0.0.1:{http_receiver.port}/hooks/{TOKEN}"

    with pytest.raises(DeliveryError) as failed:
        AppriseChannel(PUSH, timeout=5).send(url, push_message())

    assert not failed.value.permanent
    assert "500" in failed.value.reason
    assert len(http_receiver.requests) == 1  # one attempt: the outbox retries, not apprise
    for secret in (PASSWORD, TOKEN):
        assert secret not in failed.value.reason


def test_ntfy_500_reason_does_not_name_the_topic(http_receiver):
    http_receiver.status = 500
    url = f"ntfy://127.0.0.1:{http_receiver.port}/{TOKEN}"

    with pytest.raises(DeliveryError) as failed:
        AppriseChannel(PUSH, timeout=5).send(url, push_message())

    assert not failed.value.permanent
    assert "500" in failed.value.reason
    assert TOKEN not in failed.value.reason  # on ntfy.sh the topic is the password


def test_http_4xx_is_permanent_but_429_is_not(http_receiver):
    url = f"json://127.0.0.1:{http_receiver.port}/hooks/{TOKEN}"
    channel = AppriseChannel(PUSH, timeout=5)

    http_receiver.status = 404
    with pytest.raises(DeliveryError) as not_found:
        channel.send(url, push_message())
    http_receiver.status = 429
    with pytest.raises(DeliveryError) as too_many:
        channel.send(url, push_message())

    assert not_found.value.permanent and "404" in not_found.value.reason
    assert not too_many.value.permanent and "429" in too_many.value.reason


def test_connection_refused_is_temporary_without_secrets(http_receiver):
    http_receiver.stop()  # nothing listens on its port now
    url = f"json://hook:{PASSWORD}@127.0.0.1:{http_receiver.port}/hooks/{TOKEN}"

    with pytest.raises(DeliveryError) as failed:
        AppriseChannel(PUSH, timeout=5).send(url, push_message())

    assert not failed.value.permanent
    assert "Connection refused" in failed.value.reason
    for secret in (PASSWORD, TOKEN):
        assert secret not in failed.value.reason


def test_stalled_receiver_times_out_after_the_channel_timeout(http_receiver):
    http_receiver.stall()
    url = f"json://127.0.0.1:{http_receiver.port}/hooks/{TOKEN}"

    with pytest.raises(DeliveryError) as failed:
        AppriseChannel(PUSH, timeout=0.5).send(url, push_message())

    assert not failed.value.permanent
    assert "timed out (read timeout=0.5)" in failed.value.reason


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def root_log() -> Iterator[_Keep]:
    """What reaches the root logger's handlers at DEBUG, as with `logging.basicConfig`.
    (caplog would not do: pytest also attaches it to non-propagating loggers.)"""
    root, handler = logging.getLogger(), _Keep()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def test_apprise_debug_output_stays_out_of_the_log(http_receiver, root_log):
    url = f"json://hook:{PASSWORD}@127.0.0.1:{http_receiver.port}/hooks/{TOKEN}"
    channel = AppriseChannel(PUSH, timeout=5)

    channel.send(url, push_message())
    http_receiver.status = 500
    with pytest.raises(DeliveryError):
        channel.send(url, push_message())

    assert len(http_receiver.wait_for(2)) == 2
    logged = "\n".join(
        r.getMessage() for r in root_log.records if r.name.startswith(("apprise", "chargewatch"))
    )
    assert TOKEN not in logged  # apprise's debug lines name the URL
    assert "CP-0001" not in logged  # ... and the payload


def test_url_for_adds_timeouts_and_priority_keeping_the_rest():
    email = AppriseChannel(EMAIL, timeout=7.5)
    push = AppriseChannel(PUSH, timeout=3)

    assert (
        email.url_for(
            "mailto://127.0.0.1:25?from=a+cw@example.org&to=o@example.com",
            Message(EMAIL, "t", "x", priority="high"),
        )
        == "mailto://127.0.0.1:25?from=a+cw@example.org&to=o@example.com&cto=7.5&rto=7.5"
    )
    assert (
        push.url_for("gotify://gotify.example.com/TOKEN?CTO=20", push_message(priority="emergency"))
        == "gotify://gotify.example.com/TOKEN?CTO=20&rto=3&priority=emergency"
    )
    assert (
        push.url_for("pover://user@token?priority=-2&rto=9", push_message(priority="high"))
        == "pover://user@token?rto=9&cto=3&priority=high"
    )
    assert (
        push.url_for("json://127.0.0.1/hook", push_message(priority="emergency"))
        == "json://127.0.0.1/hook?cto=3&rto=3"
    )


def test_channel_kind_is_email_or_push():
    assert AppriseChannel(EMAIL).kind == EMAIL
    assert AppriseChannel(PUSH).kind == PUSH
    with pytest.raises(ValueError):
        AppriseChannel(FILE)


# --- local --------------------------------------------------------------------------------


def test_file_channel_appends_json_lines_relative_to_base_dir(tmp_path: Path):
    channel = FileChannel(tmp_path / "data", clock=lambda: 1795341600.25)
    target = "file:notify/out/alerts.jsonl"

    assert channel.send(target, push_message(priority="high", notify_type="failure")) == ""
    channel.send(target, Message(EMAIL, "second", "line 1\nline 2", html="<p>x</p>"))

    lines = (tmp_path / "data/notify/out/alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "at": "2026-11-22T10:00:00.250Z",
            "kind": PUSH,
            "title": TITLE,
            "text": TEXT,
            "priority": "high",
            "notify_type": "failure",
        },
        {
            "at": "2026-11-22T10:00:00.250Z",
            "kind": EMAIL,
            "title": "second",
            "text": "line 1\nline 2",
            "priority": "normal",
            "notify_type": "info",
        },
    ]


def test_file_channel_absolute_path(tmp_path: Path):
    path = tmp_path / "abs" / "n.jsonl"

    FileChannel(tmp_path / "elsewhere").send(f"file:{path}", push_message())

    assert json.loads(path.read_text(encoding="utf-8"))["title"] == TITLE
    assert not (tmp_path / "elsewhere").exists()


def test_file_channel_oserror_is_a_delivery_error(tmp_path: Path):
    (tmp_path / "a-file").write_text("not a directory")

    with pytest.raises(DeliveryError) as failed:
        FileChannel(tmp_path).send("file:a-file/n.jsonl", push_message())

    assert not failed.value.permanent
    assert "a-file" in failed.value.reason


def test_console_channel_logs_title_and_first_line(caplog):
    caplog.set_level(logging.WARNING, logger="chargewatch.notifications")
    channel = ConsoleChannel()

    assert channel.kind == CONSOLE
    assert channel.send("console:", push_message()) == ""
    channel.send("console:", Message(CONSOLE, "only a title", ""))

    records = [r for r in caplog.records if r.name == "chargewatch.notifications"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.WARNING, f"{TITLE}: ConnectorFaulted on CP-0001 connector 2"),
        (logging.WARNING, "only a title"),
    ]


def test_email_plugin_shares_one_tls_context_per_policy_while_we_send() -> None:
    from apprise.plugins.email import base

    from notifier.channels import smtp_tls

    AppriseChannel(EMAIL)  # installs the stand-in
    assert base.ssl.create_default_context() is not base.ssl.create_default_context()
    with smtp_tls.shared_contexts(True):
        verifying = base.ssl.create_default_context()
        assert base.ssl.create_default_context() is verifying
        assert verifying.verify_mode == ssl.CERT_REQUIRED
    with smtp_tls.shared_contexts(False):
        lax = base.ssl.create_default_context()
        lax.check_hostname, lax.verify_mode = False, ssl.CERT_NONE  # as the plugin does
    assert lax is not verifying and verifying.verify_mode == ssl.CERT_REQUIRED
    assert base.ssl.SSLContext is ssl.SSLContext  # the rest of the module is the real one
