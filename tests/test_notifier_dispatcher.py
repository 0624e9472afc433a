"""Timelines through the dispatcher: grouping, repeat, resolved, silences, inhibition, mute
windows across a daylight-saving change, acknowledgement, escalation and rate limits."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from chargewatch.alerts import fingerprint
from notifier.config import NotificationsConfig
from notifier.dispatcher import Dispatcher, dispatcher_for
from notifier.model import ESCALATION, NEW, REPEAT, SUMMARY, UPDATE, AlertInfo, Notification
from notifier.silences import Silence

T0 = 1_790_000_000.0  # a Unix time; the tests count seconds from here

BASE = """
receivers:
  - {name: noc, targets: ["console:"]}
  - {name: oncall, targets: ["console:"]}
  - {name: lead, targets: ["console:"]}
  - {name: manager, targets: ["console:"]}
  - {name: tech-north, targets: ["console:"]}
route:
  receiver: noc
  group_by: [alertname, site]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
"""


def dispatcher(extra: str = "", base: str = BASE) -> Dispatcher:
    data = yaml.safe_load(base)
    for key, value in (yaml.safe_load(extra) or {}).items():
        if key == "route":
            data["route"].update(value)
        else:
            data[key] = value
    return dispatcher_for(NotificationsConfig.model_validate(data))


def alert(
    name: str = "ConnectorFaulted",
    state: str = "firing",
    starts_at: float = T0,
    ends_at: float | None = None,
    severity: str = "critical",
    **labels: str,
) -> AlertInfo:
    labels = {"alertname": name, "severity": severity, "site": "north", **labels}
    return AlertInfo(
        fingerprint(labels), name, severity, state, labels, starts_at=starts_at, ends_at=ends_at
    )


def resolved(a: AlertInfo, at: float) -> AlertInfo:
    return AlertInfo(**{**a.to_dict(), "state": "resolved", "ends_at": at})


def brief(ns: list[Notification]) -> list[tuple]:
    """What a receiver would notice: when, who, why, which chargers firing / resolved."""
    return [
        (
            n.at - T0,
            n.receiver,
            n.reason,
            tuple(a.labels.get("charger", "") for a in n.firing),
            tuple(a.labels.get("charger", "") for a in n.resolved),
        )
        for n in ns
    ]


def test_group_wait_gathers_alerts_then_group_interval_paces_updates() -> None:
    d = dispatcher()
    a, b, c = (alert(charger=f"CP-{i}") for i in (1, 2, 3))
    out = d.alert(a, T0) + d.alert(b, T0 + 10)
    assert out == []  # both wait for group_wait
    out = d.advance(T0 + 29)
    assert out == []
    out = d.advance(T0 + 30)
    assert brief(out) == [(30, "noc", NEW, ("CP-1", "CP-2"), ())]
    out = d.alert(c, T0 + 40) + d.advance(T0 + 329)
    assert out == []  # joins the group, but waits for the next group_interval tick
    assert brief(d.advance(T0 + 330)) == [(330, "noc", UPDATE, ("CP-1", "CP-2", "CP-3"), ())]
    assert d.advance(T0 + 2000) == []  # nothing changed, repeat_interval not reached


def test_groups_are_per_group_by_labels() -> None:
    d = dispatcher()
    d.alert(alert(charger="CP-1"), T0)
    d.alert(alert(charger="CP-9", site="south"), T0)
    d.alert(alert("ChargerOffline", charger="CP-1"), T0)
    out = d.advance(T0 + 30)
    keys = sorted(n.group_key for n in out)
    assert keys == [
        'route{alertname="ChargerOffline",site="north"}',
        'route{alertname="ConnectorFaulted",site="north"}',
        'route{alertname="ConnectorFaulted",site="south"}',
    ]


def test_repeat_interval_and_acknowledgement_stops_repeats() -> None:
    d = dispatcher()
    a = alert(charger="CP-1")
    d.alert(a, T0)
    assert [n.reason for n in d.advance(T0 + 30)] == [NEW]
    # ticks every 5 min after the first notification; the repeat is due at 30 s + 1 h
    assert d.advance(T0 + 30 + 3599) == []
    out = d.advance(T0 + 30 + 3600)
    assert brief(out) == [(3630, "noc", REPEAT, ("CP-1",), ())]
    d.acknowledge(a.fingerprint, "alice", T0 + 3700)
    assert d.advance(T0 + 30 + 3 * 3600) == []  # acknowledged: no more repeats
    d.acknowledge(a.fingerprint, None, T0 + 3 * 3600 + 60)  # given back
    out = d.advance(T0 + 4 * 3600)
    assert [n.reason for n in out] == [REPEAT]


def test_resolved_is_announced_with_the_rest_and_only_if_firing_was() -> None:
    d = dispatcher()
    a, b = alert(charger="CP-1"), alert(charger="CP-2")
    d.alert(a, T0)
    d.advance(T0 + 30)
    d.alert(b, T0 + 40)
    d.alert(resolved(b, T0 + 50), T0 + 50)  # fired and resolved between two ticks
    d.alert(resolved(a, T0 + 100), T0 + 100)
    out = d.advance(T0 + 330)
    assert brief(out) == [(330, "noc", UPDATE, (), ("CP-1",))]  # CP-2 was never announced
    assert d.groups == {} and d.alerts == {}  # nothing left to remember
    assert d.advance(T0 + 10_000) == []


def test_send_resolved_false() -> None:
    d = dispatcher(
        base=BASE.replace(
            '{name: noc, targets: ["console:"]}',
            '{name: noc, targets: ["console:"], send_resolved: false}',
        )
    )
    a = alert(charger="CP-1")
    d.alert(a, T0)
    d.advance(T0 + 30)
    d.alert(resolved(a, T0 + 60), T0 + 60)
    assert d.advance(T0 + 1000) == []
    assert d.groups == {}


def test_silence_mutes_until_it_expires() -> None:
    d = dispatcher()
    s = Silence("s1", ('site="north"', 'alertname=~"Connector.*"'), T0, T0 + 600, "bob", "repair")
    d.silence(s, T0)
    d.alert(alert(charger="CP-1"), T0 + 1)
    d.alert(alert("ChargerOffline", charger="CP-2"), T0 + 1)
    out = d.advance(T0 + 31)
    assert [n.firing[0].alertname for n in out] == ["ChargerOffline"]
    # the silence ends at 600: the next tick of the group (31 + 600 > 631) tells
    assert d.advance(T0 + 630) == []
    out = d.advance(T0 + 631)
    assert brief(out) == [(631, "noc", NEW, ("CP-1",), ())]


def test_expiring_a_silence_early() -> None:
    d = dispatcher()
    s = Silence("s1", ('charger="CP-1"',), T0, T0 + 86400, "bob")
    d.silence(s, T0)
    d.alert(alert(charger="CP-1"), T0)
    assert d.advance(T0 + 30) == []
    d.silence(Silence("s1", s.matchers, T0, T0 + 100, "bob"), T0 + 100)  # expired now
    assert brief(d.advance(T0 + 330)) == [(330, "noc", NEW, ("CP-1",), ())]


def test_inhibition_site_outage_mutes_its_chargers() -> None:
    d = dispatcher("""
inhibit_rules:
  - source_matchers: ['alertname="SiteOutage"']
    target_matchers: ['alertname="ChargerOffline"']
    equal: [site]
""")
    d.alert(alert("SiteOutage", severity="critical"), T0)
    d.alert(alert("ChargerOffline", charger="CP-1"), T0)
    d.alert(alert("ChargerOffline", charger="CP-9", site="south"), T0)
    out = d.advance(T0 + 30)
    assert sorted((n.firing[0].alertname, n.group_labels["site"]) for n in out) == [
        ("ChargerOffline", "south"),
        ("SiteOutage", "north"),
    ]


BERLIN = ZoneInfo("Europe/Berlin")


def berlin(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


@pytest.mark.parametrize(
    ("fires", "told"),
    [
        # the night before the spring change (CET, UTC+1) and the night after (CEST, UTC+2)
        ("2026-03-27T22:30:00", "2026-03-28T06:00:00"),
        ("2026-03-29T22:30:00", "2026-03-30T06:00:00"),
    ],
)
def test_quiet_hours_in_local_time_across_dst(fires: str, told: str) -> None:
    d = dispatcher("""
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "06:00"}]
        location: Europe/Berlin
route:
  group_interval: 1m
  mute_time_intervals: [night]
""")
    start = berlin(fires)
    d.alert(alert(charger="CP-1", starts_at=start), start)
    out = d.advance(berlin(told) + 600)
    assert len(out) == 1
    assert out[0].at == pytest.approx(berlin(told) + 30, abs=60)  # the first tick after 06:00
    assert out[0].at >= berlin(told)


def test_active_time_intervals_business_hours() -> None:
    d = dispatcher("""
time_intervals:
  - name: office
    time_intervals:
      - {weekdays: ["monday:friday"], times: [{start_time: "08:00", end_time: "18:00"}],
         location: Europe/Berlin}
route:
  active_time_intervals: [office]
""")
    saturday = berlin("2026-05-09T10:00:00")
    d.alert(alert(charger="CP-1", starts_at=saturday), saturday)
    out = d.advance(berlin("2026-05-11T07:59:00"))
    assert out == []
    out = d.advance(berlin("2026-05-11T08:05:00"))
    assert len(out) == 1 and out[0].at >= berlin("2026-05-11T08:00:00")


def test_escalation_until_acknowledged() -> None:
    d = dispatcher("""
route:
  escalate:
    - {after: 15m, receiver: lead}
    - {after: 45m, receiver: manager}
""")
    a, b = alert(charger="CP-1"), alert(charger="CP-2", starts_at=T0 + 60)
    d.alert(a, T0)
    d.alert(b, T0 + 60)
    d.advance(T0 + 30)  # CP-1 is told at 30 s: the escalation clock starts then
    out = d.advance(T0 + 30 + 15 * 60)
    assert brief(out) == [
        (330, "noc", UPDATE, ("CP-1", "CP-2"), ()),
        (930, "lead", ESCALATION, ("CP-1",), ()),
    ]
    assert out[1].escalation_level == 1
    d.acknowledge(b.fingerprint, "carol", T0 + 330 + 15 * 60 - 1)  # CP-2 is taken on in time
    out = d.advance(T0 + 30 + 45 * 60)
    assert brief(out) == [(2730, "manager", ESCALATION, ("CP-1",), ())]
    assert out[0].escalation_level == 2
    assert [n for n in d.advance(T0 + 3 * 3600) if n.reason == ESCALATION] == []
    # resolving tells everyone who was told it was firing
    d.alert(resolved(a, T0 + 4 * 3600), T0 + 4 * 3600)
    out = d.advance(T0 + 5 * 3600)
    assert sorted((n.receiver, n.resolved[0].labels["charger"]) for n in out) == [
        ("lead", "CP-1"),
        ("manager", "CP-1"),
        ("noc", "CP-1"),
    ]


def test_escalation_counts_from_the_first_notification_not_from_a_muted_fire() -> None:
    d = dispatcher("""
time_intervals:
  - name: night
    time_intervals: [{times: [{start_time: "00:00", end_time: "06:00"}]}]
route:
  group_interval: 1m
  mute_time_intervals: [night]
  escalate: [{after: 15m, receiver: lead}]
""")
    midnight = 1_790_035_200.0  # 2026-09-22T00:00:00Z
    d.alert(alert(charger="CP-1", starts_at=midnight + 3600), midnight + 3600)
    out = d.advance(midnight + 6 * 3600 + 60)
    assert [(n.receiver, n.reason) for n in out] == [("noc", NEW)]  # no escalation yet
    told = out[0].at
    out = d.advance(told + 15 * 60)
    assert [(n.receiver, n.reason, n.at - told) for n in out] == [("lead", ESCALATION, 900)]


def test_an_alert_explained_by_a_firing_site_alert_is_held_back() -> None:
    d = dispatcher()
    site = alert("SiteOutage")
    d.alert(site, T0)
    charger = AlertInfo(
        **{**alert("ChargerOffline", charger="CP-1").to_dict(), "explained_by": site.fingerprint}
    )
    d.alert(charger, T0)
    assert [n.firing[0].alertname for n in d.advance(T0 + 30)] == ["SiteOutage"]
    d.alert(resolved(site, T0 + 100), T0 + 100)  # the site is back; this charger is not
    out = d.advance(T0 + 330)
    assert sorted((n.reason, n.firing[0].alertname if n.firing else "") for n in out) == [
        (NEW, "ChargerOffline"),
        (UPDATE, ""),
    ]


def test_a_route_removed_by_a_config_change_reroutes_its_alerts_after_restart() -> None:
    before = dispatcher("route: {routes: [{matchers: ['site=\"north\"'], receiver: oncall}]}")
    before.alert(alert(charger="CP-1"), T0)
    assert [n.receiver for n in before.advance(T0 + 30)] == ["oncall"]
    after = dispatcher()  # the child route is gone
    after.restore(json.loads(json.dumps(before.snapshot())))
    assert [(n.receiver, n.reason) for n in after.advance(T0 + 60)] == [("noc", NEW)]


def test_acknowledged_before_escalation_never_escalates() -> None:
    d = dispatcher("route: {escalate: [{after: 10m, receiver: lead}]}")
    a = alert(charger="CP-1")
    d.alert(a, T0)
    d.advance(T0 + 30)
    d.acknowledge(a.fingerprint, "dave", T0 + 300)
    assert [n.reason for n in d.advance(T0 + 7200)] == []


def test_receiver_chosen_by_label_falls_back_to_the_root() -> None:
    d = dispatcher("""
route:
  routes:
    - matchers: ['alertname="ConnectorFaulted"']
      receiver: "tech-{{ site }}"
""")
    d.alert(alert(charger="CP-1"), T0)
    d.alert(alert(charger="CP-9", site="west"), T0)  # no tech-west receiver
    out = d.advance(T0 + 30)
    assert sorted((n.receiver, n.group_labels["site"]) for n in out) == [
        ("noc", "west"),
        ("tech-north", "north"),
    ]


def test_critical_route_with_group_wait_zero_is_immediate_and_continue_reaches_both() -> None:
    d = dispatcher("""
route:
  routes:
    - {matchers: ['severity="critical"'], receiver: oncall, group_wait: 0s, continue: true}
    - {receiver: noc}
""")
    out = d.alert(alert(charger="CP-1"), T0 + 5)
    assert brief(out) == [(5, "oncall", NEW, ("CP-1",), ())]
    assert brief(d.advance(T0 + 35)) == [(35, "noc", NEW, ("CP-1",), ())]


def test_rate_limit_summarises_a_storm() -> None:
    d = dispatcher(
        base=BASE.replace(
            '{name: noc, targets: ["console:"]}',
            '{name: noc, targets: ["console:"], rate_limit: {count: 3, per: 1h}}',
        )
        .replace("group_by: [alertname, site]", "group_by: [charger]")
        .replace("group_wait: 30s", "group_wait: 0s")
    )
    out: list[Notification] = []
    for i in range(20):
        out += d.alert(alert(charger=f"CP-{i}"), T0 + i)
    assert [n.reason for n in out] == [NEW] * 3
    out = d.advance(T0 + 3599)
    assert out == []
    out = d.advance(T0 + 3600)
    assert [(n.reason, n.held_back) for n in out] == [(SUMMARY, 17)]
    assert "17 notifications" in out[0].text and "ConnectorFaulted x17" in out[0].text


TIMELINE_EXTRA = """
inhibit_rules:
  - {source_matchers: ['alertname="SiteOutage"'], target_matchers: ['alertname="ChargerOffline"'],
     equal: [site]}
route:
  escalate: [{after: 20m, receiver: lead}]
  routes:
    - {matchers: ['severity="critical"'], receiver: oncall, group_wait: 0s, continue: true}
"""


def _timeline() -> list[tuple[float, str, object]]:
    a, b, c = (alert(charger=f"CP-{i}", starts_at=T0 + 10 * i) for i in (1, 2, 3))
    o = alert("ChargerOffline", charger="CP-4", severity="warning", starts_at=T0 + 100)
    s = alert("SiteOutage", starts_at=T0 + 700)
    return [
        (T0 + 10, "alert", a),
        (T0 + 20, "alert", b),
        (T0 + 100, "alert", o),
        (T0 + 400, "silence", Silence("x", ('charger="CP-2"',), T0 + 400, T0 + 4000, "e")),
        (T0 + 700, "alert", s),
        (T0 + 800, "ack", a.fingerprint),
        (T0 + 900, "alert", c),
        (T0 + 3000, "alert", resolved(a, T0 + 3000)),
        (T0 + 5000, "alert", resolved(s, T0 + 5000)),
        (T0 + 9000, "end", None),
    ]


def _feed(d: Dispatcher, item: tuple[float, str, object]) -> list[Notification]:
    at, kind, what = item
    if kind == "alert":
        return d.alert(what, at)  # type: ignore[arg-type]
    if kind == "silence":
        return d.silence(what, at)  # type: ignore[arg-type]
    if kind == "ack":
        return d.acknowledge(what, "alice", at)  # type: ignore[arg-type]
    return d.advance(at)


def test_timeline_is_the_same_however_often_time_is_advanced() -> None:
    rare = dispatcher(TIMELINE_EXTRA)
    got_rare = [n for item in _timeline() for n in _feed(rare, item)]
    often = dispatcher(TIMELINE_EXTRA)
    got_often: list[Notification] = []
    tick = T0
    for item in _timeline():
        while tick < item[0]:
            got_often += often.advance(tick)
            tick += 1
        got_often += _feed(often, item)
    assert brief(got_often) == brief(got_rare)
    assert {n.reason for n in got_rare} >= {NEW, UPDATE, ESCALATION, REPEAT}


def test_snapshot_through_json_continues_exactly() -> None:
    whole = dispatcher(TIMELINE_EXTRA)
    expected = [n for item in _timeline() for n in _feed(whole, item)]
    for cut in range(1, len(_timeline())):
        first = dispatcher(TIMELINE_EXTRA)
        got = [n for item in _timeline()[:cut] for n in _feed(first, item)]
        second = dispatcher(TIMELINE_EXTRA)
        second.restore(json.loads(json.dumps(first.snapshot())))
        got += [n for item in _timeline()[cut:] for n in _feed(second, item)]
        assert got == expected, f"cut after event {cut}"


def test_escalation_receivers_hear_resolved_once_even_if_the_route_does_not_want_it() -> None:
    d = dispatcher(
        """
route:
  escalate:
    - {after: 10m, receiver: lead}
    - {after: 20m, receiver: noc}
    - {after: 30m, receiver: lead}
""",
        base=BASE.replace(
            '{name: noc, targets: ["console:"]}',
            '{name: noc, targets: ["console:"], send_resolved: false}',
        ),
    )
    a = alert(charger="CP-1")
    d.alert(a, T0)
    d.advance(T0 + 30)
    out = d.advance(T0 + 30 + 30 * 60)
    assert [(n.receiver, n.escalation_level) for n in out] == [
        ("lead", 1),
        ("noc", 2),
        ("lead", 3),
    ]
    d.alert(resolved(a, T0 + 7200), T0 + 7200)
    out = d.advance(T0 + 7200 + 300)
    assert [(n.receiver, len(n.resolved)) for n in out] == [("lead", 1)]  # not noc, once
    assert d.groups == {} and d.alerts == {}
