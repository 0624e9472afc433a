"""Mistakes in the `notifications:` section stop the start with the file, line and key."""

from __future__ import annotations

import pytest

from chargewatch.config import ConfigError, parse_config

RECEIVERS = 'notifications:\n  receivers: [{name: noc, targets: ["console:"]}]\n'

CASES = [
    (
        RECEIVERS + "  route:\n    receiver: noc\n    routes:\n"
        "      - {matchers: ['severity=\"critical\"'], receiver: pager}\n",
        6,
        "notifications.route.routes[0].receiver",
        "receiver 'pager' is not defined (noc)",
    ),
    (
        RECEIVERS + "  route:\n    receiver: noc\n    routes:\n"
        "      - {matchers: ['severity==\"critical\"'], receiver: noc}\n",
        6,
        "notifications.route.routes[0].matchers",
        "is not a matcher",
    ),
    (
        'notifications:\n  receivers:\n    - name: noc\n      targets: ["console:", "sms:12345"]\n'
        "  route: {receiver: noc}\n",
        4,
        "notifications.receivers[0].targets",
        "target 2: an sms: target is an E.164 number",
    ),
    (
        'notifications:\n  receivers: [{name: noc, targets: ["sms:+4917612345678"]}]\n'
        "  route: {receiver: noc}\n",
        1,
        "notifications.twilio",
        "the twilio section is needed",
    ),
    (
        RECEIVERS + "  route: {receiver: noc, mute_time_intervals: [night]}\n",
        3,
        "notifications.route.mute_time_intervals",
        "time interval 'night' is not defined",
    ),
    (
        RECEIVERS
        + '  route:\n    receiver: noc\n    routes:\n      - {receiver: "tech-{{ site }}"}\n',
        6,
        "notifications.route.routes[0].receiver",
        "uses label 'site', which is not in group_by",
    ),
    (
        RECEIVERS + '  route: {receiver: "tech-{{ alertname }}"}\n',
        3,
        "notifications.route.receiver",
        "the root route's receiver is the fallback",
    ),
    (
        RECEIVERS + "  route: {receiver: noc, group_wait: soon}\n",
        3,
        "notifications.route.group_wait",
        "'soon' is not a duration",
    ),
    (
        "notifications:\n  receivers:\n"
        '    - {name: noc, targets: ["console:"], sendresolved: true}\n'
        "  route: {receiver: noc}\n",
        3,
        "notifications.receivers[0].sendresolved",
        "unknown key",
    ),
    (
        RECEIVERS + "  route:\n    receiver: noc\n    escalate:\n"
        "      - {after: 30m, receiver: noc}\n      - {after: 10m, receiver: noc}\n",
        5,
        "notifications.route.escalate",
        "increasing order of `after`",
    ),
    (
        'notifications:\n  receivers: [{name: noc, targets: ["console:"]}]\n',
        1,
        "notifications.route",
        "no route says who gets what",
    ),
    (
        'notifications:\n  receivers:\n    - {name: noc, targets: ["ntfy://"]}\n'
        "  route: {receiver: noc}\n",
        3,
        "notifications.receivers[0].targets",
        "target 1",
    ),
    ("http: {api_tokens: [short]}\n", 1, "http.api_tokens", "shorter than 16 characters"),
    (
        RECEIVERS + "  route: {receiver: noc, matchers: ['site=\"x\"']}\n",
        3,
        "notifications.route.matchers",
        "the root route takes every alert",
    ),
    (
        "notifications:\n  time_intervals:\n    - name: night\n      time_intervals:\n"
        '        - times: [{start_time: "22:00", end_time: "06:00"}]\n',
        5,
        "notifications.time_intervals[0].time_intervals[0].times[0]",
        "a range across midnight is two ranges",
    ),
    (
        "notifications:\n  time_intervals:\n    - name: weekend\n      time_intervals:\n"
        "        - weekdays: [sunday:saturday]\n",
        5,
        "notifications.time_intervals[0].time_intervals[0].weekdays",
        "a weekday range runs forward",
    ),
    (
        'notifications:\n  twilio: {account_sid: AC1, auth_token: t, from_number: "+1555",'
        " timeout: soon}\n",
        2,
        "notifications.twilio.timeout",
        "'soon' is not a duration",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "reason"), CASES)
def test_error_names_file_line_and_key(text: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "cw.yaml")
    err = caught.value
    assert (err.file, err.line, err.key) == ("cw.yaml", line, key), str(err)
    assert reason in err.reason


def test_secrets_in_targets_do_not_appear_in_errors() -> None:
    text = (
        "notifications:\n  receivers:\n"
        '    - {name: noc, targets: ["mailto://user:Sup3rSecret@smtp.example.com?to=x"]}\n'
        "  route: {receiver: noc}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "cw.yaml")
    assert "Sup3rSecret" not in str(caught.value)


def test_a_valid_section_parses() -> None:
    config = parse_config(
        RECEIVERS
        + "  route:\n    receiver: noc\n    group_by: [site]\n    routes:\n"
        + '      - {receiver: "noc-{{ site }}", matchers: [\'site=~"n.*"\']}\n'
    )
    assert config.notifications.route is not None


def test_a_child_route_can_clear_inherited_mute_intervals() -> None:
    from notifier.routes import build

    config = parse_config(
        RECEIVERS
        + "  time_intervals:\n    - {name: night, time_intervals: [{weekdays: [monday]}]}\n"
        + "  route:\n    receiver: noc\n    mute_time_intervals: [night]\n    routes:\n"
        + "      - {matchers: ['severity=\"critical\"'], mute_time_intervals: []}\n"
        + "      - {matchers: ['severity=\"info\"']}\n"
    )
    assert config.notifications.route is not None
    root = build(config.notifications.route)
    assert root.mute_time_intervals == ("night",)
    assert root.routes[0].mute_time_intervals == ()
    assert root.routes[1].mute_time_intervals == ("night",)
