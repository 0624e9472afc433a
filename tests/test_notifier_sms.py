"""The SMS channel: the real Twilio SDK against a real HTTP server that answers like
Twilio's Messages API (tests/twilio_server.py)."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from twilio_server import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    INVALID_NUMBER,
    MESSAGING_SERVICE_SID,
    TwilioServer,
    num_segments,
    twilio_server_fixture,  # noqa: F401  (the `twilio_server` fixture)
)

from notifier.channels.sms import TwilioChannel
from notifier.config import TwilioConfig
from notifier.model import SMS, DeliveryError, Message

TO = "+4917612345678"


def channel(base_url: str, **overrides: Any) -> TwilioChannel:
    settings: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": FROM_NUMBER,
        "api_base_url": base_url,
        "timeout": 5.0,
    }
    settings.update(overrides)
    return TwilioChannel(TwilioConfig(**settings))


def sms(text: str) -> Message:
    return Message(kind=SMS, title="", text=text)


def refused(ch: TwilioChannel, text: str = "CRITICAL ChargerOffline north-07", to: str = TO):
    with pytest.raises(DeliveryError) as info:
        ch.send(f"sms:{to}", sms(text))
    return info.value


def test_delivered(twilio_server: TwilioServer) -> None:
    ch = channel(twilio_server.url)
    assert ch.kind == SMS

    receipt = ch.send(f"sms:{TO}", sms("CRITICAL ChargerOffline north-07 since 10:02"))

    [got] = twilio_server.wait_for(1)
    assert got.to == TO
    assert got.from_ == FROM_NUMBER
    assert got.messaging_service_sid is None
    assert got.body == "CRITICAL ChargerOffline north-07 since 10:02"
    assert got.account_sid == ACCOUNT_SID
    assert got.auth_user == ACCOUNT_SID
    assert receipt == got.sid
    assert receipt.startswith("SM") and len(receipt) == 34


def test_messaging_service(twilio_server: TwilioServer) -> None:
    ch = channel(twilio_server.url, from_number=None, messaging_service_sid=MESSAGING_SERVICE_SID)

    receipt = ch.send(f"sms:{TO}", sms("WARNING ConnectorFaulted south-02/1"))

    [got] = twilio_server.wait_for(1)
    assert got.messaging_service_sid == MESSAGING_SERVICE_SID
    assert got.from_ is None
    assert (got.to, got.body, receipt) == (TO, "WARNING ConnectorFaulted south-02/1", got.sid)


def test_one_client_keeps_delivering(twilio_server: TwilioServer) -> None:
    """Several messages through the same channel (one SDK client, kept-alive connections);
    text outside GSM-7 arrives unchanged."""
    ch = channel(twilio_server.url)
    texts = ["first", "Ladesäule Süd ⚡ offline", "x" * 161]

    receipts = [ch.send(f"sms:{TO}", sms(text)) for text in texts]

    got = twilio_server.wait_for(3)
    assert [m.body for m in got] == texts
    assert [m.sid for m in got] == receipts
    assert len(set(receipts)) == 3
    assert [m.num_segments for m in got] == [1, 1, 2]


def test_segments_of_the_test_server() -> None:
    assert num_segments("a" * 160) == 1
    assert num_segments("a" * 161) == 2
    assert num_segments("a" * 306) == 2
    assert num_segments("a" * 307) == 3
    assert num_segments("€" * 80) == 1  # extension characters count twice
    assert num_segments("€" * 81) == 2
    assert num_segments("ä" * 160) == 1  # in GSM-7's basic set
    assert num_segments("⚡" * 70) == 1  # UCS-2
    assert num_segments("⚡" * 71) == 2
    assert num_segments("⚡" * 134) == 2
    assert num_segments("⚡" * 135) == 3


def test_invalid_number_is_permanent(twilio_server: TwilioServer) -> None:
    error = refused(channel(twilio_server.url), to=INVALID_NUMBER)

    assert error.permanent
    assert "21211" in error.reason
    assert f"The 'To' number {INVALID_NUMBER} is not a valid phone number" in error.reason
    assert twilio_server.messages == []
    assert twilio_server.answers == [400]


def test_empty_body_is_permanent(twilio_server: TwilioServer) -> None:
    error = refused(channel(twilio_server.url), text="")

    assert error.permanent
    assert "21602" in error.reason and "body is required" in error.reason
    assert twilio_server.answers == [400]


def test_not_an_sms_target_is_refused_before_twilio(twilio_server: TwilioServer) -> None:
    ch = channel(twilio_server.url)
    for target in ("sms:12345", "sms:+0123456789", f"tel:{TO}"):
        with pytest.raises(DeliveryError) as info:
            ch.send(target, sms("hello"))
        assert info.value.permanent, target
    assert twilio_server.answers == []


def test_wrong_auth_token_is_retried_and_never_shown(
    twilio_server: TwilioServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "0badc0de" * 4
    caplog.set_level(logging.DEBUG)

    error = refused(channel(twilio_server.url, auth_token=wrong))

    assert not error.permanent  # deliveries resume once the config is fixed
    assert "20003" in error.reason and "Authenticate" in error.reason
    assert twilio_server.answers == [401]
    assert "Twilio API Request" in caplog.text  # the SDK did log the request ...
    for text in (error.reason, str(error), repr(error), caplog.text):
        assert wrong not in text and AUTH_TOKEN not in text  # ... but not the token

    # the fixed config delivers
    channel(twilio_server.url).send(f"sms:{TO}", sms("after the fix"))
    assert [m.body for m in twilio_server.wait_for(1)] == ["after the fix"]


@pytest.mark.parametrize(("status", "code"), [(429, "20429"), (500, "20500"), (503, "20503")])
def test_rate_limit_and_server_errors_are_retried(
    twilio_server: TwilioServer, status: int, code: str
) -> None:
    ch = channel(twilio_server.url)
    twilio_server.fail_next(1, status)

    error = refused(ch)

    assert not error.permanent
    assert code in error.reason
    assert twilio_server.messages == []

    receipt = ch.send(f"sms:{TO}", sms("second attempt"))
    [got] = twilio_server.wait_for(1)
    assert (got.body, got.sid) == ("second attempt", receipt)
    assert twilio_server.answers == [status, 201]


def test_server_down_is_retried_then_delivered(twilio_server: TwilioServer) -> None:
    ch = channel(twilio_server.url)
    ch.send(f"sms:{TO}", sms("before"))  # leaves a kept-alive connection behind
    twilio_server.stop()

    error = refused(ch, text="while down")

    assert not error.permanent
    assert "not reachable" in error.reason and str(twilio_server.port) in error.reason
    assert ACCOUNT_SID not in error.reason  # no URL in the text

    twilio_server.start()  # the same port
    receipt = ch.send(f"sms:{TO}", sms("after"))
    got = twilio_server.wait_for(2)
    assert [m.body for m in got] == ["before", "after"]
    assert got[1].sid == receipt


def test_no_answer_within_timeout_is_retried(twilio_server: TwilioServer) -> None:
    ch = channel(twilio_server.url, timeout=0.5)
    twilio_server.stall_next(1)

    error = refused(ch)

    assert not error.permanent
    assert "did not answer within 0.5 s" in error.reason
    assert twilio_server.stalled == 1  # the request did arrive
    assert twilio_server.messages == []

    receipt = ch.send(f"sms:{TO}", sms("next attempt"))
    [got] = twilio_server.wait_for(1)
    assert (got.body, got.sid) == ("next attempt", receipt)


def test_connection_refused_is_retried() -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        error = refused(channel(f"http://127.0.0.1:{port}"))
    assert not error.permanent
    assert "ConnectionRefusedError" in error.reason


def test_sdk_region_settings_do_not_move_the_base_url(
    twilio_server: TwilioServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")

    receipt = channel(twilio_server.url + "/").send(f"sms:{TO}", sms("via the config's URL"))

    [got] = twilio_server.wait_for(1)
    assert got.sid == receipt
