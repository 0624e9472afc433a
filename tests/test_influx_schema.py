"""Line protocol and the event → point schema, checked against influxdb-client's own
serializer and against the schema's promises (tags low-cardinality, stable field types)."""

from __future__ import annotations

import json
import random
import re

from influxdb_client import Point, WritePrecision
from test_journal import EVENTS

from chargewatch import store
from collector.sinks.influx_schema import ENCODERS, points
from collector.sinks.line_protocol import line

NASTY = ' ,="\\\n\ttagé=x'


def test_escaping_matches_influxdb_client() -> None:
    rng = random.Random(7)
    for _ in range(500):

        def word() -> str:
            return "".join(rng.choice(NASTY + "abc") for _ in range(rng.randint(1, 8)))

        name, tags = word(), {word(): word() for _ in range(3)}
        fields = dict(
            sorted(
                {
                    word(): word(),
                    word(): rng.uniform(-1e6, 1e6) + 0.25,
                    word(): rng.randint(-9, 9),
                }.items()
            )
        )  # the client sorts fields
        ts = rng.randint(0, 2**52)
        point = Point(name)
        for key, value in sorted(tags.items()):
            point.tag(key, value)
        for key, value in fields.items():
            point.field(key, value)
        point.time(ts, WritePrecision.US)
        ours = line(name, tags, fields, ts)
        theirs = point.to_line_protocol()
        # the client writes 5.0 as "5"; both are floats to InfluxDB
        assert ours == re.sub(r"=(-?\d+)(?=[, ]|$)", r"=\1.0", theirs) or ours.replace(
            ".0,", ","
        ).replace(".0 ", " ") == theirs.replace(".0,", ",").replace(".0 ", " ")


def test_every_event_kind_has_points_with_stable_types() -> None:
    # an acknowledgement has no point of its own: the alert transition it causes has;
    # silences, exclusions and published reports live in the store, not the history
    pointless = {"alert_ack", "alert_unack", "silence", "driver", "exclusion", "report"}
    pointless |= {"command", "upload"}  # operator history, not a time series
    pointless |= {"remediation"}  # self-healing attempts: the alert's record, not a series
    pointless |= {"commissioning", "auth_lockout"}  # security history: alerts, not series
    assert set(ENCODERS) == {type(e).kind for e in EVENTS} - pointless
    field_types: dict[tuple[str, str], str] = {}
    for event in EVENTS:
        _, _, kind, data = store.encode_event(event)
        out = points(kind, json.loads(data), {"CP": "north"})
        if kind in pointless:
            assert out == []
            continue
        assert out, kind
        for p in out:
            measurement_tags, fields, ts = p.rsplit(" ", 2) if p.count(" ") >= 2 else (p, "", "")
            assert ",site=north" in measurement_tags and ",charger=CP" in measurement_tags
            assert int(ts) == round(int(ts))
            for item in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,]+)', fields):
                key, value = item
                kind_of = (
                    "str" if value.startswith('"') else "int" if value.endswith("i") else ("float")
                )
                measurement = measurement_tags.split(",")[0]
                assert field_types.setdefault((measurement, key), kind_of) == kind_of, (p, key)
    # ids that grow without bound are fields, never tags
    for (measurement, key), kind_of in field_types.items():
        if key in ("session_id", "id_tag", "vendor_error_code", "message_id"):
            assert kind_of == "str", (measurement, key)


def test_no_site_tag_for_chargers_outside_any_site() -> None:
    _, _, kind, data = store.encode_event(EVENTS[2])  # a heartbeat
    assert points(kind, json.loads(data), {}) == ["heartbeat,charger=CP count=1i 3000000"]


def test_alert_value_is_always_a_float() -> None:
    """Count rules give an int, others a float: the field must not change type."""
    for value in (3, 2.5):
        data = {"charger_id": "", "ts": 1.0, "rule": "R", "state": "firing", "value": value}
        [point] = points("alert", data, {})
        assert f"value={float(value)}" in point


def test_alert_points_carry_response_times() -> None:
    base = {
        "ts": 1000.0,
        "charger_id": "",
        "fingerprint": "f",
        "rule": "ConnectorFaulted",
        "severity": "major",
        "labels": {"charger": "CP"},
        "fired_at": 400.0,
    }
    [acked] = points("alert", {**base, "state": "firing", "acknowledged_at": 700.0}, {})
    assert "fired_at=400.0" in acked and "time_to_ack_s=300.0" in acked
    assert "duration_s" not in acked
    [done] = points("alert", {**base, "state": "resolved", "acknowledged_at": 700.0}, {})
    assert "duration_s=600.0" in done and "time_to_ack_s=300.0" in done
    [pending] = points("alert", {**base, "state": "pending", "fired_at": None}, {})
    assert "fired_at" not in pending and "duration_s" not in pending
