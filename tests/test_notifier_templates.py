"""Notification templates: what technicians, NOC staff and drivers read, per channel kind."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from notifier.model import (
    CHANNEL_KINDS,
    CONSOLE,
    DRIVER,
    EMAIL,
    ESCALATION,
    FILE,
    NEW,
    PUSH,
    REPEAT,
    SMS,
    SUMMARY,
    TEST,
    UPDATE,
    AlertInfo,
    Notification,
)
from notifier.templates import dashboard_link, render, sms_segments
from notifier.templates_sms import GSM_BASIC, GSM_EXTENSION, truncate

BERLIN = "Europe/Berlin"
DASHBOARD = "https://grafana.example/d/cw/charger"


def utc(text: str) -> float:
    """A Unix time from `2024-03-31 12:05:00` read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def fault(
    charger: str = "CP-0042",
    connector: str = "2",
    *,
    severity: str = "critical",
    starts: str = "2024-06-03 12:05:00",  # 14:05 in Berlin (CEST)
    ends: str | None = None,
    summary: str | None = None,
    **extra: object,
) -> AlertInfo:
    """A ConnectorFaulted alert as the default rule pack makes it."""
    labels = {
        "alertname": "ConnectorFaulted",
        "severity": severity,
        "charger": charger,
        "connector": connector,
        "site": "north",
        "team": "field-service",
    }
    return AlertInfo(
        fingerprint=f"fp-{charger}-{connector}",
        alertname="ConnectorFaulted",
        severity=severity,
        state="resolved" if ends else "firing",
        labels=labels,
        annotations={
            "summary": summary or f"Connector {connector} of {charger} is faulted: GroundFailure",
            "description": "Faulted for 312 s (safety).",
        },
        starts_at=utc(starts),
        ends_at=utc(ends) if ends else None,
        value=312.0,
        **{"runbook_url": "https://chargewatch.example/runbooks/connector-faulted", **extra},  # type: ignore[arg-type]
    )


def note(
    *alerts: AlertInfo, reason: str = NEW, at: str = "2024-06-03 12:20:00", **extra: object
) -> Notification:
    """A notification for the group {alertname=ConnectorFaulted, site=north}."""
    return Notification(
        receiver="noc",
        group_key='{}:{alertname="ConnectorFaulted",site="north"}',
        group_labels={"alertname": "ConnectorFaulted", "site": "north"},
        reason=reason,
        at=utc(at),
        firing=tuple(a for a in alerts if a.state == "firing"),
        resolved=tuple(a for a in alerts if a.state == "resolved"),
        **extra,  # type: ignore[arg-type]
    )


def is_gsm(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


# --- sms_segments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension table: escape + character, two septets each
        ("€" * 81, 2),
        ("[" * 152, 2),  # 304 septets: 76 a segment, as an escape pair is never split
        ("[" * 153, 3),
        # 306 septets, but the € at septet 153 may not be split: it opens segment 2
        ("a" * 152 + "€" * 77, 3),
        ("ł" * 70, 1),  # not GSM-7: UCS-2, 70 / 67
        ("ł" * 71, 2),
        ("a" * 100 + "ł", 2),  # one character outside GSM-7 makes the whole text UCS-2
        ("ł" * 134, 2),
        ("ł" * 135, 3),
        ("😀" * 35, 1),  # a surrogate pair: two UTF-16 units
        ("😀" * 34 + "a" * 32, 2),  # 100 units: 33 pairs (66), then the 34th moves on
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


def test_truncate_keeps_within_segments_with_plain_dots() -> None:
    text = " ".join(["word"] * 100)
    cut = truncate(text, 2)
    assert sms_segments(cut) == 2 and cut.endswith("word...") and "…" not in cut
    assert truncate("short", 1) == "short"


# --- SMS ----------------------------------------------------------------------------------


def test_sms_of_a_typical_fault_is_one_gsm_segment() -> None:
    alert = fault(acknowledged_by="alice")
    text = render(note(alert), SMS, tz=BERLIN).text
    assert text == "FIRING crit ConnectorFaulted CP-0042/2 GroundFailure since 14:05, ack by alice"
    assert len(text) <= 160 and sms_segments(text) == 1 and is_gsm(text)


def test_sms_since_is_local_time_of_the_zone() -> None:
    n = note(fault())
    assert "since 12:05" in render(n, SMS).text  # UTC by default
    assert "since 08:05" in render(n, SMS, tz="America/New_York").text


def test_sms_names_the_day_when_the_alert_started_on_another_day() -> None:
    n = note(fault(starts="2024-06-02 21:50:00"), at="2024-06-03 06:00:00")
    assert "since 2 Jun 23:50" in render(n, SMS, tz=BERLIN).text


def test_sms_of_a_resolved_fault_says_how_long_it_lasted() -> None:
    alert = fault(starts="2024-06-03 12:05:00", ends="2024-06-03 13:17:10")
    text = render(note(alert, at="2024-06-03 13:18:00"), SMS, tz=BERLIN).text
    assert text == "RESOLVED ConnectorFaulted CP-0042/2 after 1h12m"


def test_sms_of_a_big_group_names_a_few_and_counts_the_rest() -> None:
    alerts = [fault(f"CP-{i:04d}", "1", starts=f"2024-06-03 12:{i:02d}:00") for i in range(30)]
    text = render(note(*alerts), SMS, tz=BERLIN).text
    assert sms_segments(text) == 1
    assert text.startswith("FIRING crit ConnectorFaulted CP-0000/1 GroundFailure since 14:00")
    named = text.split(", also ")[1].split(" (")[0].split(", ")
    assert named[0] == "CP-0001/1" and len(named) >= 2
    assert text.endswith(f"(+{29 - len(named)} more)")


def test_sms_names_the_most_severe_alert_first_and_counts_the_resolved() -> None:
    warning = fault("CP-0001", severity="warning", starts="2024-06-03 11:00:00")
    critical = fault("CP-0002", starts="2024-06-03 12:00:00")
    gone = fault("CP-0003", ends="2024-06-03 12:10:00")
    text = render(note(warning, critical, gone, reason=UPDATE), SMS).text
    assert text.startswith("FIRING crit ConnectorFaulted CP-0002/2")
    assert text.endswith(", also CP-0001/2 (1 resolved)")


def test_sms_cuts_a_long_fault_to_stay_in_one_segment() -> None:
    long = "OtherError vendor 0x8F21 insulation monitor tripped during precharge " * 3
    text = render(note(fault(summary=f"Connector 2 of CP-0042 is faulted: {long}")), SMS).text
    assert sms_segments(text) == 1
    assert "OtherError vendor 0x8F21" in text and "... since 12:05" in text


def test_sms_takes_a_second_segment_only_when_one_cannot_hold_it() -> None:
    charger = "Parkhaus-Einfahrt-" * 12  # an id of 216 characters: nothing left to drop
    text = render(note(fault(charger)), SMS).text
    assert sms_segments(text) == 2 and text.endswith(f"{charger}/2 GroundFailure since 12:05")


def test_sms_never_takes_more_than_two_segments() -> None:
    text = render(note(fault("Parkhaus-Einfahrt-" * 30)), SMS).text
    assert sms_segments(text) == 2 and text.endswith("...")


def test_sms_uses_gsm_characters_when_the_input_allows() -> None:
    summary = "Connector 2 of CP-0042 is faulted: “GroundFailure” – see … log"
    text = render(note(fault(summary=summary)), SMS).text
    assert is_gsm(text) and '"GroundFailure" - see ... log' in text


def test_sms_with_a_non_gsm_charger_id_fits_ucs2() -> None:
    text = render(note(fault("CP-Łódź-7")), SMS).text
    assert "CP-Łódź-7/2" in text and not is_gsm(text)
    assert sms_segments(text) == 1 and len(text) <= 70


# --- e-mail -------------------------------------------------------------------------------


def test_email_subject_follows_alertmanager() -> None:
    firing = note(fault("CP-0001"), fault("CP-0002", severity="warning"))
    assert render(firing, EMAIL).title == "[FIRING:2] ConnectorFaulted site=north (critical)"
    resolved = note(fault(ends="2024-06-03 12:10:00"))
    assert render(resolved, EMAIL).title == "[RESOLVED] ConnectorFaulted site=north (critical)"


def test_email_subject_stays_one_line() -> None:
    n = replace(note(fault()), group_labels={"alertname": "X", "site": "north\r\nBcc: x@y"})
    assert "\n" not in render(n, EMAIL).title and "\r" not in render(n, EMAIL).title


def test_email_lists_what_is_needed_to_act() -> None:
    alert = fault(acknowledged_by="alice", acknowledged_at=utc("2024-06-03 12:10:00"))
    message = render(note(alert), EMAIL, dashboard_url=DASHBOARD, tz=BERLIN)
    for part in (
        "Connector 2 of CP-0042 is faulted: GroundFailure",
        "Faulted for 312 s (safety).",
        "Since:     2024-06-03 14:05:00 CEST (15m ago)",
        "Value:     312",
        "Ack by:    alice at 2024-06-03 14:10:00 CEST",
        "charger=CP-0042, connector=2, site=north, team=field-service",
        "https://chargewatch.example/runbooks/connector-faulted",
        f"{DASHBOARD}?var-charger=CP-0042",
    ):
        assert part in message.text
        assert part.split(":  ")[-1].strip() in message.html


def test_email_of_a_resolved_alert_says_how_long_it_lasted() -> None:
    alert = fault(starts="2024-06-03 12:05:00", ends="2024-06-03 13:17:25")
    message = render(note(alert, at="2024-06-03 13:18:00"), EMAIL, tz=BERLIN)
    assert "Resolved:  2024-06-03 15:17:25 CEST (lasted 1h12m)" in message.text
    assert "lasted 1h12m" in message.html


def test_email_html_escapes_what_chargers_send() -> None:
    alert = fault(
        "<script>alert(1)</script>",
        summary='Connector 2 is faulted: <img src=x onerror="alert(2)">',
        runbook_url="javascript:alert(3)",
    )
    html = render(note(alert), EMAIL, dashboard_url=DASHBOARD).html
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html
    assert 'href="javascript:' not in html and "javascript:alert(3)" in html  # text, no link


def test_email_html_is_self_contained_with_inline_styles() -> None:
    html = render(note(fault()), EMAIL, dashboard_url=DASHBOARD).html
    assert html.startswith("<!DOCTYPE html>") and html.endswith("</html>")
    assert "<style" not in html and "<link" not in html and "<script" not in html
    assert 'style="' in html


def test_dashboard_link_is_url_quoted() -> None:
    charger = "CP 42/Süd&x=1"
    assert (
        dashboard_link(DASHBOARD, charger) == f"{DASHBOARD}?var-charger=CP%2042%2FS%C3%BCd%26x%3D1"
    )
    assert dashboard_link(f"{DASHBOARD}?orgId=1", "CP-1") == f"{DASHBOARD}?orgId=1&var-charger=CP-1"
    message = render(note(fault(charger)), EMAIL, dashboard_url=DASHBOARD)
    assert "var-charger=CP%2042%2FS%C3%BCd%26x%3D1" in message.text
    assert 'href="https://grafana.example/d/cw/charger?var-charger=CP%2042%2FS%C3%BCd%26x%3D1"' in (
        message.html
    )


def test_no_dashboard_link_without_dashboard_url() -> None:
    for kind in (EMAIL, PUSH):
        message = render(note(fault()), kind)
        assert "var-charger" not in message.text + message.html


def test_times_across_the_dst_change_show_each_zone() -> None:
    # Berlin, 31 March 2024: 02:00 CET became 03:00 CEST. 00:30-01:30 UTC is one hour.
    alert = fault(starts="2024-03-31 00:30:00", ends="2024-03-31 01:30:00")
    message = render(note(alert, at="2024-03-31 01:31:00"), EMAIL, tz=BERLIN)
    assert "Started:   2024-03-31 01:30:00 CET" in message.text
    assert "Resolved:  2024-03-31 03:30:00 CEST (lasted 1h)" in message.text
    firing = note(fault(starts="2024-03-31 00:30:00"), at="2024-03-31 01:31:00")
    assert "since 01:30" in render(firing, SMS, tz=BERLIN).text
    assert "since 01:30 CET" in render(firing, PUSH, tz=BERLIN).text
    assert "at 2024-03-31 03:31:00 CEST." in render(firing, EMAIL, tz=BERLIN).text


# --- push, file, console ------------------------------------------------------------------


def test_push_has_a_short_title_and_a_few_lines() -> None:
    message = render(note(fault()), PUSH, dashboard_url=DASHBOARD, tz=BERLIN)
    assert message.title == "FIRING ConnectorFaulted CP-0042/2"
    assert message.text.splitlines() == [
        "Connector 2 of CP-0042 is faulted: GroundFailure",
        "Faulted for 312 s (safety).",
        "critical, since 14:05 CEST",
        "Runbook: https://chargewatch.example/runbooks/connector-faulted",
        f"Dashboard: {DASHBOARD}?var-charger=CP-0042",
    ]


def test_push_of_a_group_lists_a_few_and_counts_the_rest() -> None:
    alerts = [fault(f"CP-{i:04d}", starts=f"2024-06-03 12:{i:02d}:00") for i in range(8)]
    alerts[3] = replace(alerts[3], acknowledged_by="bob")
    message = render(note(*alerts), PUSH, tz=BERLIN)
    assert message.title == "FIRING ConnectorFaulted CP-0000/2 (+7 more)"
    lines = message.text.splitlines()
    assert len(lines) == 6 and lines[-1] == "+3 more"
    assert (
        lines[0]
        == "- Connector 2 of CP-0000 is faulted: GroundFailure (critical, since 14:00 CEST)"
    )
    assert "ack by bob" not in message.text  # acknowledged: listed after the unhandled ones


def test_push_of_a_resolved_alert() -> None:
    alert = fault(ends="2024-06-03 13:17:00")
    message = render(note(alert, at="2024-06-03 13:18:00"), PUSH)
    assert message.title == "RESOLVED ConnectorFaulted CP-0042/2"
    assert message.text.splitlines()[:2] == [
        "Resolved after 1h12m.",
        "Was: Connector 2 of CP-0042 is faulted: GroundFailure",
    ]


def test_file_and_console_are_the_push_text_plain() -> None:
    n = note(fault(), fault("CP-0043"))
    push = render(n, PUSH)
    for kind in (FILE, CONSOLE):
        message = render(n, kind)
        assert (message.kind, message.title, message.text) == (kind, push.title, push.text)
        assert message.html == ""


@pytest.mark.parametrize(
    ("severity", "reason", "resolved", "priority", "notify_type"),
    [
        ("critical", NEW, False, "high", "failure"),
        ("critical", ESCALATION, False, "emergency", "failure"),
        ("major", NEW, False, "high", "failure"),
        ("major", ESCALATION, False, "high", "failure"),
        ("warning", NEW, False, "normal", "warning"),
        ("info", NEW, False, "low", "info"),
        ("critical", UPDATE, True, "low", "success"),
        ("warning", UPDATE, True, "low", "success"),
    ],
)
def test_priority_and_notify_type(
    severity: str, reason: str, resolved: bool, priority: str, notify_type: str
) -> None:
    alert = fault(severity=severity, ends="2024-06-03 12:15:00" if resolved else None)
    for kind in CHANNEL_KINDS:
        message = render(note(alert, reason=reason, escalation_level=1), kind)
        assert (message.priority, message.notify_type) == (priority, notify_type)


def test_escalation_of_an_acknowledged_critical_alert_is_no_emergency() -> None:
    acked = fault("CP-1", acknowledged_by="alice")
    waiting = fault("CP-2", severity="warning")
    assert render(note(acked, waiting, reason=ESCALATION), PUSH).priority == "high"


def test_the_most_severe_firing_alert_decides() -> None:
    n = note(fault("CP-1", severity="info"), fault("CP-2", severity="warning"))
    assert (render(n, PUSH).priority, render(n, PUSH).notify_type) == ("normal", "warning")


# --- reasons ------------------------------------------------------------------------------


def test_repeat_says_still_firing() -> None:
    n = note(fault(), reason=REPEAT)
    assert render(n, SMS).text.endswith("since 12:05 (repeat)")
    assert render(n, EMAIL).title.endswith("(critical) — still firing")
    assert render(n, PUSH).title.startswith("STILL FIRING ")
    assert "Still firing" in render(n, EMAIL).text


def test_escalation_says_how_long_nobody_acknowledged() -> None:
    alerts = (fault("CP-1", acknowledged_by="alice"), fault("CP-2", starts="2024-06-03 12:02:30"))
    n = note(*alerts, reason=ESCALATION, escalation_level=1, at="2024-06-03 12:17:30")
    line = "Not acknowledged after 15m — escalated (level 1)."
    assert line in render(n, EMAIL).text and line in render(n, EMAIL).html
    assert render(n, PUSH).text.splitlines()[0] == line
    assert render(n, PUSH).title == "ESCALATED ConnectorFaulted CP-2/2 (+1 more)"
    sms = render(n, SMS).text
    assert sms.startswith("FIRING crit ConnectorFaulted CP-2/2")  # the unacknowledged one
    assert "no ack after 15m - escalated (level 1)" in sms and is_gsm(sms)
    assert render(n, EMAIL).title.endswith("— escalated (level 1)")


def test_acknowledged_alerts_show_who() -> None:
    n = note(fault(acknowledged_by="alice"), fault("CP-0043", severity="warning"))
    assert "ack by alice" in render(n, SMS).text
    assert "ack by alice" in render(n, PUSH).text
    assert "Ack by:    alice" in render(n, EMAIL).text


@pytest.mark.parametrize(
    ("reason", "extra", "title"),
    [
        (SUMMARY, {"held_back": 7}, "[SUMMARY] 7 notifications held back by the rate limit"),
        (SUMMARY, {"held_back": 1}, "[SUMMARY] 1 notification held back by the rate limit"),
        (TEST, {}, "ChargeWatch test notification"),
    ],
)
def test_news_that_is_not_about_alerts(reason: str, extra: dict[str, int], title: str) -> None:
    body = "5x ConnectorFaulted, 2x ChargerOffline <b>north</b>"
    n = Notification("noc", "k", {}, reason, utc("2024-06-03 12:00:00"), text=body, **extra)
    for kind in (EMAIL, PUSH, FILE, CONSOLE):
        message = render(n, kind)
        assert message.title == title and message.text.startswith(body)
    assert "&lt;b&gt;north&lt;/b&gt;" in render(n, EMAIL).html
    assert render(n, SMS).text == f"{title}\n{body}"
    assert (render(n, PUSH).priority, render(n, PUSH).notify_type) == ("normal", "info")


def test_driver_messages_are_the_text_itself() -> None:
    text = "Your session on CP-0042 was interrupted by a fault after 12.3 kWh."
    n = Notification(
        "drivers", "k", {"charger": "CP-0042"}, DRIVER, utc("2024-06-03 12:00"), text=text
    )
    assert render(n, SMS).text == text
    assert render(n, PUSH).title == "Your charging session at CP-0042"
    assert "receiver" not in render(n, EMAIL).text  # the internal name is not for drivers


# --- contract -----------------------------------------------------------------------------


def test_rendering_is_deterministic_and_round_trips() -> None:
    n = note(fault(acknowledged_by="alice"), fault("CP-0043", ends="2024-06-03 12:15:00"))
    for kind in CHANNEL_KINDS:
        first = render(n, kind, dashboard_url=DASHBOARD, tz=BERLIN)
        again = render(
            Notification.from_dict(n.to_dict()), kind, dashboard_url=DASHBOARD, tz=BERLIN
        )
        assert first == again and first.kind == kind


def test_elapsed_times_count_from_the_notification_not_the_clock() -> None:
    later = render(note(fault(), at="2024-06-03 14:05:00"), EMAIL).text
    assert "(2h ago)" in later
    assert "(15m ago)" in render(note(fault()), EMAIL).text


def test_bad_zone_and_kind_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        render(note(fault()), SMS, tz="Mars/Olympus")
    with pytest.raises(ValueError, match="channel kind"):
        render(note(fault()), "pigeon")
