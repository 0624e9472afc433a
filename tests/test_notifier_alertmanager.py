"""Alertmanager webhooks into ChargeWatch: the payload model, its conversion to
`AlertChanged` events, and the real Alertmanager sending them."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from chargewatch import alerts
from chargewatch.events import AlertChanged, event_from_dict
from notifier.alertmanager import WebhookPayload, to_events

STARTS = "2024-05-01T12:00:00Z"
STARTS_TS = datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp()
ENDS_TS = STARTS_TS + 300
RECEIVED = STARTS_TS + 3600
LABELS = {"alertname": "ChargerOffline", "severity": "critical", "charger": "CP-1"}


def payload(*alerts_: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A webhook body as Alertmanager 0.25 writes it (all keys present)."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="ChargerOffline"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "chargewatch",
        "groupLabels": {"alertname": "ChargerOffline"},
        "commonLabels": {"alertname": "ChargerOffline"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": list(alerts_),
        **top,
    }


def alert(status: str = "firing", **fields: Any) -> dict[str, Any]:
    return {
        "status": status,
        "labels": dict(LABELS),
        "annotations": {"summary": "CP-1 is offline", "runbook_url": "https://rb.example/off"},
        "startsAt": STARTS,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph?g0.expr=up",
        "fingerprint": "60889f3bab059c70",
        **fields,
    }


def errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The validation errors of a body sent as JSON (what the HTTP endpoint will see)."""
    with pytest.raises(ValidationError) as info:
        WebhookPayload.model_validate_json(json.dumps(body))
    return info.value.errors()


# --- the payload and its conversion ------------------------------------------------------


def test_firing_and_resolved_alerts_become_alert_changed_events() -> None:
    body = payload(alert(), alert("resolved", endsAt="2024-05-01T12:05:00Z"))
    firing, resolved = to_events(WebhookPayload.model_validate_json(json.dumps(body)), RECEIVED)

    labels = {**LABELS, "source": "alertmanager"}
    assert firing == AlertChanged(
        charger_id="",
        ts=RECEIVED,
        fingerprint=alerts.fingerprint(labels),
        rule="ChargerOffline",
        severity="critical",
        state="firing",
        previous=None,
        labels=labels,
        annotations={
            "summary": "CP-1 is offline",
            "runbook_url": "https://rb.example/off",
            "generator_url": "http://prometheus.example/graph?g0.expr=up",
        },
        active_since=STARTS_TS,
        fired_at=STARTS_TS,
        runbook_url="https://rb.example/off",
    )
    assert resolved.state == alerts.RESOLVED
    assert resolved.ts == ENDS_TS  # when it ended, not when we heard of it
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.fired_at == STARTS_TS
    # an event the journal can store and read back unchanged
    assert event_from_dict(firing.kind, json.loads(json.dumps(firing.to_dict()))) == firing


def test_zero_ends_at_means_no_end() -> None:
    parsed = WebhookPayload.model_validate(payload(alert(), alert("resolved")))
    assert [a.ends_at for a in parsed.alerts] == [None, None]
    # a resolved alert without a real end ends when ChargeWatch heard of it
    assert [e.ts for e in to_events(parsed, RECEIVED)] == [RECEIVED, RECEIVED]


def test_resolved_alert_ending_in_the_future_ends_when_received() -> None:
    later = datetime.fromtimestamp(RECEIVED + 60, UTC).isoformat()
    parsed = WebhookPayload.model_validate(payload(alert("resolved", endsAt=later)))
    assert parsed.alerts[0].ends_at == RECEIVED + 60
    assert to_events(parsed, RECEIVED)[0].ts == RECEIVED


def test_source_label_keeps_external_alerts_apart() -> None:
    own = {**LABELS, "source": "grafana"}
    parsed = WebhookPayload.model_validate(payload(alert(labels=own)))
    (event,) = to_events(parsed, RECEIVED)
    assert event.labels == {**LABELS, "source": "alertmanager", "exported_source": "grafana"}
    # the same labels from a ChargeWatch rule are a different alert
    assert event.fingerprint != alerts.fingerprint(own)
    assert event.fingerprint != alerts.fingerprint(LABELS)


def test_defaults_without_alertname_severity_generator_or_runbook() -> None:
    minimal = {"status": "firing", "labels": {"charger": "CP-1"}, "startsAt": STARTS}
    body = {"version": "4", "groupKey": "{}", "status": "firing", "receiver": "r"}
    parsed = WebhookPayload.model_validate({**body, "alerts": [minimal]})
    (event,) = to_events(parsed, RECEIVED)
    assert (event.rule, event.severity) == ("AlertmanagerAlert", "warning")
    assert event.annotations == {}
    assert event.runbook_url is None
    assert parsed.truncatedAlerts == 0 and parsed.commonLabels == {}


def test_times_with_offsets_and_nanoseconds() -> None:
    body = payload(alert(startsAt="2024-05-01T14:00:00.123456789+02:00"))
    (event,) = to_events(WebhookPayload.model_validate(body), RECEIVED)
    assert event.fired_at == pytest.approx(STARTS_TS + 0.123456)


@pytest.mark.parametrize("value", [1714564800, "2024-05-01T12:00:00", "yesterday", None])
def test_a_time_must_be_rfc3339(value: Any) -> None:
    (error,) = errors(payload(alert(startsAt=value)))
    assert error["loc"] == ("alerts", 0, "startsAt")
    assert "RFC 3339" in error["msg"]


@pytest.mark.parametrize("version", ["3", "1", "", "4.0"])
def test_another_version_is_rejected(version: str) -> None:
    (error,) = errors(payload(alert(), version=version))
    assert error["loc"] == ("version",)
    assert error["msg"] == (
        f"Value error, unsupported webhook payload version {version!r}: only '4' is accepted"
    )


def test_version_must_be_a_string() -> None:
    (error,) = errors(payload(alert(), version=4))
    assert (error["loc"], error["type"]) == (("version",), "string_type")


@pytest.mark.parametrize("value", [1, 1.5, True, None, ["a"], {"a": "b"}])
def test_a_label_value_must_be_a_string(value: Any) -> None:
    (error,) = errors(payload(alert(labels={**LABELS, "connector": value})))
    assert error["loc"] == ("alerts", 0, "labels", "connector")
    assert error["type"] == "string_type"


def test_an_annotation_value_must_be_a_string() -> None:
    (error,) = errors(payload(alert(annotations={"value": 42.0})))
    assert (error["loc"], error["type"]) == (("alerts", 0, "annotations", "value"), "string_type")


@pytest.mark.parametrize("name", ["0abc", "a-b", "a.b", "", "a\n", "é", "a b"])
def test_a_label_name_must_be_a_prometheus_name(name: str) -> None:
    (error,) = errors(payload(alert(labels={**LABELS, name: "x"})))
    assert error["loc"] == ("alerts", 0, "labels", name, "[key]")
    assert error["msg"] == (
        f"Value error, label name {name!r} does not match [a-zA-Z_][a-zA-Z0-9_]*"
    )


def test_label_values_are_at_most_1024_characters() -> None:
    ok = WebhookPayload.model_validate(payload(alert(labels={**LABELS, "info": "x" * 1024})))
    assert len(ok.alerts[0].labels["info"]) == 1024
    (error,) = errors(payload(alert(labels={**LABELS, "info": "x" * 1025})))
    assert error["loc"] == ("alerts", 0, "labels", "info")
    assert error["msg"] == "String should have at most 1024 characters"


def test_at_most_1000_alerts() -> None:
    assert len(WebhookPayload.model_validate(payload(*[alert()] * 1000)).alerts) == 1000
    (error,) = errors(payload(*[alert()] * 1001))
    assert (error["loc"], error["type"]) == (("alerts",), "too_long")
    assert "at most 1000 items" in error["msg"]


@pytest.mark.parametrize("key", ["version", "groupKey", "status", "receiver", "alerts"])
def test_required_keys(key: str) -> None:
    body = payload(alert())
    del body[key]
    (error,) = errors(body)
    assert (error["loc"], error["type"]) == ((key,), "missing")


@pytest.mark.parametrize(("key", "value"), [("status", "pending"), ("labels", None)])
def test_an_alert_is_validated(key: str, value: Any) -> None:
    (error,) = errors(payload(alert(**{key: value})))
    assert error["loc"] == ("alerts", 0, key)


def test_grafana_style_extra_fields_are_accepted() -> None:
    grafana_alert = alert(
        silenceURL="https://grafana.example/alerting/silence/new",
        dashboardURL="",
        panelURL="",
        values={"B": 44.2, "C": 1},
        valueString="[ var='B' value=44.2 ]",
    )
    extras = {"orgId": 1, "title": "[FIRING:1] ChargerOffline", "state": "alerting"}
    body = payload(grafana_alert, message="**Firing**\n\nCP-1", **extras)
    parsed = WebhookPayload.model_validate_json(json.dumps(body))
    assert parsed.model_extra == {**extras, "message": "**Firing**\n\nCP-1"}
    (event,) = to_events(parsed, RECEIVED)
    assert event.labels == {**LABELS, "source": "alertmanager"}
    assert "values" not in event.annotations


def test_the_model_does_not_change_the_input() -> None:
    body = payload(alert(labels={**LABELS, "source": "x"}))
    before = copy.deepcopy(body)
    to_events(WebhookPayload.model_validate(body), RECEIVED)
    assert body == before


# --- the real Alertmanager ---------------------------------------------------------------


def rfc3339(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def test_real_alertmanager_webhook_fires_and_resolves(http_receiver, start_alertmanager) -> None:
    manager = start_alertmanager(f"{http_receiver.url}/alertmanager")
    now = datetime.now(UTC).replace(microsecond=0)
    starts_at = now - timedelta(minutes=5)
    labels = {"alertname": "ChargerOffline", "severity": "critical", "charger": "CP-7"}
    sent = {
        "labels": labels,
        "annotations": {"summary": "CP-7 is offline", "runbook_url": "https://rb.example/off"},
        "startsAt": rfc3339(starts_at),
        "generatorURL": "http://prometheus.example/graph?g0.expr=up",
    }
    fingerprint = alerts.fingerprint({**labels, "source": "alertmanager"})

    manager.post_alerts([sent])
    (request,) = http_receiver.wait_for(1, timeout=5)
    received_at = time.time()
    assert (request.method, request.path) == ("POST", "/alertmanager")
    assert request.headers["content-type"] == "application/json"
    firing_payload = WebhookPayload.model_validate_json(request.body)
    assert firing_payload.version == "4"
    assert (firing_payload.status, firing_payload.receiver) == ("firing", "chargewatch")
    assert firing_payload.externalURL == manager.url
    assert firing_payload.alerts[0].ends_at is None  # Alertmanager's zero time
    (firing,) = to_events(firing_payload, received_at)
    assert firing.labels == {**labels, "source": "alertmanager"}
    assert (firing.state, firing.rule, firing.severity) == ("firing", "ChargerOffline", "critical")
    assert firing.fired_at == firing.active_since == starts_at.timestamp()
    assert firing.ts == received_at
    assert firing.fingerprint == fingerprint
    assert firing.annotations == {**sent["annotations"], "generator_url": sent["generatorURL"]}
    assert firing.runbook_url == "https://rb.example/off"

    ends_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    manager.post_alerts([{**sent, "endsAt": rfc3339(ends_at)}])
    requests = http_receiver.wait_for(2, timeout=5)  # after group_interval (1 s)
    received_at = time.time()
    assert len(requests) == 2, [r.json() for r in requests]
    resolved_payload = WebhookPayload.model_validate_json(requests[1].body)
    assert resolved_payload.status == "resolved"
    assert resolved_payload.alerts[0].fingerprint == firing_payload.alerts[0].fingerprint
    (resolved,) = to_events(resolved_payload, received_at)
    assert resolved.state == alerts.RESOLVED
    assert resolved.ts == ends_at.timestamp()
    assert resolved.fingerprint == fingerprint
    assert resolved.fired_at == starts_at.timestamp()
    assert resolved.labels == firing.labels
