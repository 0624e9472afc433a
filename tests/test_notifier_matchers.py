"""Alertmanager-style label matchers."""

from __future__ import annotations

import pytest

from notifier.matchers import Matcher, matches_all, parse

LABELS = {"alertname": "ConnectorFaulted", "severity": "critical", "site": "north-1"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity="critical"', True),
        ("severity=critical", True),
        ('severity!="critical"', False),
        ('site=~"north-.*"', True),
        ('site=~"north"', False),  # anchored at both ends
        ('site!~"south-.*"', True),
        ('team=""', True),  # an absent label is ""
        ('team=~".+"', False),
        ('alertname=~"Connector.*|ChargerOffline"', True),
    ],
)
def test_matching(text: str, expected: bool) -> None:
    assert parse(text).matches(LABELS) is expected


def test_quoted_values_and_round_trip() -> None:
    m = parse(r'summary="say \"hi\", then \\ go"')
    assert m == Matcher("summary", "=", 'say "hi", then \\ go')
    assert parse(str(m)) == m


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("severity", "is not a matcher"),
        ('1abc="x"', "is not a matcher"),
        ('site=~"("', "invalid regular expression"),
        ('site=="x"', "is not a matcher"),
    ],
)
def test_bad_matchers_say_why(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse(text)


def test_every_matcher_of_a_list_must_match() -> None:
    assert matches_all([parse('severity="critical"'), parse('site=~"north.*"')], LABELS)
    assert not matches_all([parse('severity="critical"'), parse('site="south"')], LABELS)
    assert matches_all([], LABELS)
