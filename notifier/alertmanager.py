"""Alertmanager webhooks (payload version 4) as ChargeWatch alert events.

Prometheus (or anything else behind an Alertmanager) sends its alerts to ChargeWatch with a
`webhook_config`, so they reach the same routing, silences and acknowledgements as
ChargeWatch's own rules. The payload is validated strictly (it comes from the network) and
each alert becomes one `AlertChanged` event.

Every converted alert gets the label `source="alertmanager"`: routes and silences can match
external alerts, and their fingerprints never collide with those of ChargeWatch's rules. An
alert's own `source` label is kept as `exported_source` (Prometheus' rule for clashes).
Field names are the payload's own (camelCase), so the model reads like the documentation.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

from chargewatch import alerts
from chargewatch.events import AlertChanged

MAX_ALERTS = 1000
MAX_LABEL_VALUE = 1024
SOURCE_LABEL, SOURCE = "source", "alertmanager"
DEFAULT_RULE, DEFAULT_SEVERITY = "AlertmanagerAlert", "warning"
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)  # Go's zero time.Time: "no end" in endsAt

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def _rfc3339(value: Any) -> Any:
    """Only RFC 3339 text: pydantic alone would also take epoch numbers and naive times."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 time with a time zone, e.g. 2024-05-01T12:00:00Z")
    return value


def _label_name(name: str) -> str:
    """Prometheus' label name rule; a re.fullmatch so a trailing newline cannot slip by."""
    if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name):
        raise ValueError(f"label name {name!r} does not match [a-zA-Z_][a-zA-Z0-9_]*")
    return name


def _version(version: str) -> str:
    """Only version 4, the layout documented today: another must not be guessed at."""
    if version != "4":
        raise ValueError(f"unsupported webhook payload version {version!r}: only '4' is accepted")
    return version


Str = Annotated[str, Strict()]  # JSON strings only: no numbers or booleans
LabelName = Annotated[Str, AfterValidator(_label_name)]
LabelValue = Annotated[Str, StringConstraints(max_length=MAX_LABEL_VALUE)]
Labels = dict[LabelName, LabelValue]
Annotations = dict[Str, Str]
Time = Annotated[datetime, BeforeValidator(_rfc3339)]
Status = Literal["firing", "resolved"]


class WebhookAlert(BaseModel):
    """One alert of a notification; extra keys (Grafana's silenceURL, values...) ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Status
    labels: Labels
    annotations: Annotations = {}
    startsAt: Time
    endsAt: Time = ZERO_TIME
    generatorURL: Str = ""
    fingerprint: Str = ""  # Alertmanager's own hash of the labels (not ours)

    @property
    def ends_at(self) -> float | None:
        """endsAt in epoch seconds; None for Go's zero time, which means "no end"."""
        return None if self.endsAt == ZERO_TIME else self.endsAt.timestamp()


class WebhookPayload(BaseModel):
    """The body of an Alertmanager webhook notification: one group of alerts.

    Unknown top-level keys are kept in `model_extra` (Grafana adds title, state, message,
    orgId); the rest of the documented keys default when absent, as older senders omit some.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    version: Annotated[Str, AfterValidator(_version)]
    groupKey: Str
    truncatedAlerts: Annotated[int, Strict(), Field(ge=0)] = 0
    status: Status
    receiver: Str
    groupLabels: Labels = {}
    commonLabels: Labels = {}
    commonAnnotations: Annotations = {}
    externalURL: Str = ""
    alerts: Annotated[list[WebhookAlert], Field(max_length=MAX_ALERTS)]


def to_events(payload: WebhookPayload, received_at: float) -> list[AlertChanged]:
    """One `AlertChanged` per alert of the payload, in its order.

    `ts` is when ChargeWatch learned of it (`received_at`), except that a resolved alert
    ends at its own endsAt when that is a real time not after `received_at`.
    """
    events = []
    for alert in payload.alerts:
        labels = dict(alert.labels)
        if SOURCE_LABEL in labels:
            labels["exported_" + SOURCE_LABEL] = labels.pop(SOURCE_LABEL)
        labels[SOURCE_LABEL] = SOURCE
        annotations = dict(alert.annotations)
        if alert.generatorURL:
            annotations["generator_url"] = alert.generatorURL
        ts = received_at
        ends_at = alert.ends_at
        if alert.status == alerts.RESOLVED and ends_at is not None and ends_at <= received_at:
            ts = ends_at
        starts_at = alert.startsAt.timestamp()
        events.append(
            AlertChanged(
                charger_id="",  # not a charger's event; the labels say what it is about
                ts=ts,
                fingerprint=alerts.fingerprint(labels),
                rule=labels.get("alertname") or DEFAULT_RULE,  # "" is no label, as in Prometheus
                severity=labels.get("severity") or DEFAULT_SEVERITY,
                state=alert.status,
                previous=None,  # Alertmanager does not say what ChargeWatch last saw
                labels=labels,
                annotations=annotations,
                active_since=starts_at,
                fired_at=starts_at,
                runbook_url=alert.annotations.get("runbook_url"),
            )
        )
    return events
