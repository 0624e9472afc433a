"""Journal events as InfluxDB points, shaped for InfluxQL queries by Grafana.

docs/influxdb-schema.md describes every measurement. Tags are low-cardinality identities
(site, charger, connector, measurand, phase, location, context, status class); anything
that grows without bound — session ids, idTags, vendor codes, free text — is a field.
Works on the journal's JSON dicts directly: no event objects are built on this path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chargewatch.faults import chargex_code
from collector.sinks.line_protocol import Field, line, micros

# connector statuses in which the connector cannot deliver energy
NOT_OPERATIVE = frozenset({"Faulted", "Unavailable"})
DATA_TRANSFER_LIMIT = 4096  # characters of DataTransfer data kept in InfluxDB

Encoder = Callable[[dict[str, Any], str | None], list[str]]


def _one(
    measurement: str, tags: Mapping[str, str | None], fields: Mapping[str, Field], ts: float
) -> list[str]:
    point = line(measurement, tags, fields, micros(ts))
    return [point] if point is not None else []


def _charger(d: dict[str, Any], site: str | None) -> dict[str, str | None]:
    return {"site": site, "charger": d["charger_id"]}


def _connector(d: dict[str, Any], site: str | None, connector: Any) -> dict[str, str | None]:
    return {"site": site, "charger": d["charger_id"], "connector": str(connector)}


def meter(d: dict[str, Any], site: str | None) -> list[str]:
    """One point per sampled value, at the charger's sample time."""
    out = []
    session = d.get("session_id")
    base = _connector(d, site, d.get("connector_id", 0))
    for ts, measurand, value, unit, phase, context, location, raw in d["samples"]:
        point = line(
            "meter_value",
            {
                **base,
                "measurand": measurand,
                "phase": phase,
                "location": location,
                "context": context,
            },
            {"value": value, "unit": unit or None, "session_id": session, "raw": raw},
            micros(ts),
        )
        if point is not None:
            out.append(point)
    return out


def status(d: dict[str, Any], site: str | None) -> list[str]:
    error = d.get("error_code")
    return _one(
        "connector_status",
        {
            **_connector(d, site, d["connector_id"]),
            "error_code": error if error and error != "NoError" else None,
            "fault_category": d.get("fault_category"),
        },
        {
            "status": d["status"],
            "operative": int(d["status"] not in NOT_OPERATIVE),
            "info": d.get("info"),
            "vendor_id": d.get("vendor_id"),
            "vendor_error_code": d.get("vendor_error_code"),
            "chargex_code": chargex_code(d.get("vendor_id"), d.get("vendor_error_code")),
            "charger_time": d.get("charger_ts"),
        },
        d["ts"],
    )


def connected(d: dict[str, Any], site: str | None) -> list[str]:
    return _one(
        "connection",
        _charger(d, site),
        {"connected": 1, "remote": d.get("remote") or None, "protocol": d.get("protocol") or None},
        d["ts"],
    )


def disconnected(d: dict[str, Any], site: str | None) -> list[str]:
    return _one(
        "connection",
        _charger(d, site),
        {"connected": 0, "code": d.get("code"), "reason": d.get("reason") or None},
        d["ts"],
    )


def booted(d: dict[str, Any], site: str | None) -> list[str]:
    return _one(
        "boot",
        _charger(d, site),
        {
            "count": 1,
            "vendor": d.get("vendor"),
            "model": d.get("model"),
            "firmware_version": d.get("firmware_version"),
            "serial_number": d.get("serial_number"),
            "reason": d.get("reason"),
            "heartbeat_interval": d.get("heartbeat_interval"),
        },
        d["ts"],
    )


def heartbeat(d: dict[str, Any], site: str | None) -> list[str]:
    return _one("heartbeat", _charger(d, site), {"count": 1}, d["ts"])


def authorized(d: dict[str, Any], site: str | None) -> list[str]:
    return _one(
        "authorization",
        {**_charger(d, site), "status": d.get("status")},
        {"count": 1, "id_tag": d.get("id_tag")},
        d["ts"],
    )


def session_started(d: dict[str, Any], site: str | None) -> list[str]:
    return _one(
        "session",
        {**_connector(d, site, d["connector_id"]), "event": "start"},
        {
            "session_id": d["session_id"],
            "id_tag": d.get("id_tag"),
            "meter_start_wh": d.get("meter_start_wh"),
            "auth_status": d.get("auth_status"),
            "count": 1,
        },
        d.get("started_at") or d["ts"],
    )


def session_stopped(d: dict[str, Any], site: str | None) -> list[str]:
    started, stopped = d.get("started_at"), d.get("stopped_at") or d["ts"]
    return _one(
        "session",
        {**_connector(d, site, d.get("connector_id", 0)), "event": "stop"},
        {
            "session_id": d["session_id"],
            "id_tag": d.get("id_tag"),
            "meter_start_wh": d.get("meter_start_wh"),
            "meter_stop_wh": d.get("meter_stop_wh"),
            "energy_wh": d.get("energy_wh"),
            "duration_s": stopped - started if started is not None else None,
            "stop_reason": d.get("reason"),
            "count": 1,
        },
        stopped,
    )


def data_transfer(d: dict[str, Any], site: str | None) -> list[str]:
    data = d.get("data")
    return _one(
        "data_transfer",
        {**_charger(d, site), "vendor_id": d.get("vendor_id")},
        {
            "count": 1,
            "message_id": d.get("message_id"),
            "data": data[:DATA_TRANSFER_LIMIT] if data else None,
        },
        d["ts"],
    )


def _status_report(measurement: str) -> Encoder:
    def encode(d: dict[str, Any], site: str | None) -> list[str]:
        return _one(
            measurement,
            _charger(d, site),
            {"status": d.get("status"), "request_id": d.get("request_id")},
            d["ts"],
        )

    return encode


def security_event(d: dict[str, Any], site: str | None) -> list[str]:
    return _one(
        "security_event",
        {**_charger(d, site), "type": d.get("type")},
        {"count": 1, "tech_info": d.get("tech_info"), "charger_time": d.get("charger_ts")},
        d["ts"],
    )


def device_event(d: dict[str, Any], site: str | None) -> list[str]:
    """A 2.0.1 NotifyEvent item: component and variable names come from the (bounded) device
    model, so they are tags; instances, values and codes are fields."""
    return _one(
        "device_event",
        {
            **_connector(d, site, d.get("connector_id", 0)),
            "component": d.get("component") or None,
            "variable": d.get("variable") or None,
            "trigger": d.get("trigger") or None,
        },
        {
            "count": 1,
            "actual_value": d.get("actual_value"),
            "cleared": int(bool(d.get("cleared"))),
            "tech_code": d.get("tech_code"),
            "tech_info": d.get("tech_info"),
            "component_instance": d.get("component_instance"),
            "variable_instance": d.get("variable_instance"),
            "event_id": d.get("event_id"),
            "transaction_id": d.get("transaction_id"),
            "charger_time": _float(d.get("charger_ts")),
        },
        d["ts"],
    )


def transaction_gap(d: dict[str, Any], site: str | None) -> list[str]:
    return _one(
        "transaction_gap",
        _connector(d, site, d.get("connector_id", 0)),
        {
            "count": 1,
            "session_id": d.get("session_id"),
            "expected_seq_no": d.get("expected_seq_no"),
            "received_seq_no": d.get("received_seq_no"),
            "missing": d.get("missing"),
        },
        d["ts"],
    )


def alert(d: dict[str, Any], site: str | None) -> list[str]:
    """An alert transition: Grafana annotations query `state = 'firing'` and 'resolved'."""
    labels = d.get("labels") or {}
    annotations = d.get("annotations") or {}
    return _one(
        "alert",
        {
            "site": labels.get("site"),
            "charger": labels.get("charger"),
            "connector": labels.get("connector"),
            "alertname": d.get("rule"),
            "severity": d.get("severity"),
            "state": d.get("state"),
        },
        {
            "fingerprint": d.get("fingerprint"),
            "previous": d.get("previous"),
            # always a float: counts come as int, and InfluxDB fixes a field's type forever
            "value": None if d.get("value") is None else float(d["value"]),
            "summary": annotations.get("summary"),
            "description": annotations.get("description"),
            "explained_by": d.get("explained_by"),
            "acknowledged_by": d.get("acknowledged_by"),
            "count": 1,
            # response times as fields, so SLA panels are plain selects (InfluxQL cannot join)
            "fired_at": _float(d.get("fired_at")),
            "acknowledged_at": _float(d.get("acknowledged_at")),
            "time_to_ack_s": _since(d.get("acknowledged_at"), d.get("fired_at")),
            "duration_s": _since(d["ts"], d.get("fired_at"))
            if d.get("state") == "resolved"
            else None,
        },
        d["ts"],
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _since(later: Any, earlier: Any) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, float(later) - float(earlier))


ENCODERS: dict[str, Encoder] = {
    "meter": meter,
    "status": status,
    "connected": connected,
    "disconnected": disconnected,
    "booted": booted,
    "heartbeat": heartbeat,
    "authorized": authorized,
    "session_started": session_started,
    "session_stopped": session_stopped,
    "data_transfer": data_transfer,
    "diagnostics_status": _status_report("diagnostics_status"),
    "firmware_status": _status_report("firmware_status"),
    "log_status": _status_report("log_status"),
    "security_event": security_event,
    "device_event": device_event,
    "transaction_gap": transaction_gap,
    "alert": alert,
}


def points(kind: str, data: dict[str, Any], site_of: Mapping[str, str]) -> list[str]:
    """The line-protocol points of one journal event (none for kinds without a measurement)."""
    encoder = ENCODERS.get(kind)
    return encoder(data, site_of.get(data["charger_id"])) if encoder else []
