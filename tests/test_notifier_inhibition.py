"""Inhibition: a wider firing alert mutes the narrower ones it explains."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notifier.inhibition import InhibitRule, InhibitSpec, muted_by

RULES = [
    InhibitRule.of(
        InhibitSpec(
            source_matchers=['alertname="SiteOutage"'],
            target_matchers=['alertname="ChargerOffline"'],
            equal=["site"],
        )
    ),
    InhibitRule.of(
        InhibitSpec(
            source_matchers=['alertname="ChargerOffline"'],
            target_matchers=['alertname=~"ConnectorFaulted|StuckPreparing"'],
            equal=["charger"],
        )
    ),
]
OUTAGE = ("f-site", {"alertname": "SiteOutage", "site": "north"})
CP1_OFFLINE = ("f-cp1", {"alertname": "ChargerOffline", "site": "north", "charger": "CP1"})


def test_a_site_outage_mutes_its_chargers_only() -> None:
    cp1 = CP1_OFFLINE[1]
    south = {"alertname": "ChargerOffline", "site": "south", "charger": "CP9"}
    assert muted_by(RULES, cp1, [OUTAGE], "f-cp1") == "f-site"
    assert muted_by(RULES, south, [OUTAGE], "f-cp9") is None


def test_a_charger_offline_mutes_its_connectors() -> None:
    faulted = {"alertname": "ConnectorFaulted", "charger": "CP1", "connector": "2"}
    other = {"alertname": "ConnectorFaulted", "charger": "CP2", "connector": "1"}
    assert muted_by(RULES, faulted, [CP1_OFFLINE], "f-c") == "f-cp1"
    assert muted_by(RULES, other, [CP1_OFFLINE], "f-d") is None
    assert muted_by(RULES, faulted, [], "f-c") is None


def test_an_alert_never_mutes_itself() -> None:
    both = [InhibitRule.of(InhibitSpec(source_matchers=['a="1"'], target_matchers=['a="1"']))]
    assert muted_by(both, {"a": "1"}, [("self", {"a": "1"})], "self") is None
    assert muted_by(both, {"a": "1"}, [("other", {"a": "1"})], "self") == "other"


def test_bad_inhibit_rules_say_why() -> None:
    with pytest.raises(ValidationError, match="is not a matcher"):
        InhibitSpec(source_matchers=["site"], target_matchers=['a="b"'])
    with pytest.raises(ValidationError, match="at least 1 item"):
        InhibitSpec(source_matchers=[], target_matchers=['a="b"'])
