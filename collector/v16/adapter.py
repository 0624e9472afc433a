"""OCPP 1.6J: answer every charge-point-initiated action and turn it into version-free events.

Core actions (OCPP 1.6 edition 2) and the charger-to-central-system messages of the
"Improved security for OCPP 1.6-J" whitepaper are handled; other actions the 1.6 schemas
know are answered NotSupported, unknown ones NotImplemented.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chargewatch import events as ev
from chargewatch.faults import fault_category
from collector import validation as v
from collector.adapter import AdapterContext, HandlerError, iso, parse_decimal, parse_time
from collector.framing import BAD_STRUCTURE, INVALID_JSON, NOT_ARRAY, UNKNOWN_MESSAGE_TYPE
from collector.units import normalise
from collector.v16.commands import TRANSLATOR

SUBPROTOCOL = "ocpp1.6"

# OCPP-J 1.6 section 4.2.3 error codes for each problem kind.
ERROR_CODES = {
    INVALID_JSON: "FormationViolation",
    NOT_ARRAY: "FormationViolation",
    BAD_STRUCTURE: "FormationViolation",
    UNKNOWN_MESSAGE_TYPE: "FormationViolation",
    v.TYPE: "TypeConstraintViolation",
    v.LENGTH: "TypeConstraintViolation",  # CiStringNType is a type
    v.MISSING: "ProtocolError",  # "Payload for Action is incomplete"
    v.UNKNOWN_FIELD: "FormationViolation",  # "not conform the PDU structure"
    v.VALUE: "PropertyConstraintViolation",
    v.OCCURRENCE: "OccurenceConstraintViolation",  # sic, the 1.6 spelling
}

CHARGER_LEVEL_STATUSES = frozenset({"Available", "Unavailable", "Faulted"})
DEFAULT_MEASURAND = "Energy.Active.Import.Register"
DEFAULT_CONTEXT = "Sample.Periodic"
DEFAULT_LOCATION = "Outlet"


def _samples(meter_values: list[dict[str, Any]], field: str) -> tuple[ev.Sample, ...]:
    """Normalise MeterValue[] (schema-checked) into canonical samples."""
    out: list[ev.Sample] = []
    for i, mv in enumerate(meter_values):
        ts = parse_time(mv["timestamp"], f"{field}[{i}].timestamp")
        for j, sv in enumerate(mv["sampledValue"]):
            measurand = sv.get("measurand", DEFAULT_MEASURAND)
            raw = sv["value"]
            if sv.get("format") == "SignedData":
                value, unit, kept = None, sv.get("unit") or "", raw
            else:
                number = parse_decimal(raw, f"{field}[{i}].sampledValue[{j}].value")
                value, unit = normalise(number, sv.get("unit"), measurand)
                kept = None
            out.append(
                ev.Sample(
                    ts,
                    measurand,
                    value,
                    unit,
                    sv.get("phase"),
                    sv.get("context", DEFAULT_CONTEXT),
                    sv.get("location", DEFAULT_LOCATION),
                    kept,
                )
            )
    return tuple(out)


class V16Adapter:
    subprotocol = SUBPROTOCOL
    commands = TRANSLATOR  # remote commands in this version's terms

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx
        self.schemas = v.SchemaSet("ocpp.v16")
        self._handlers: dict[str, Callable[[str, dict[str, Any], float], Any]] = {
            "BootNotification": self._boot,
            "Heartbeat": self._heartbeat,
            "StatusNotification": self._status,
            "MeterValues": self._meter_values,
            "Authorize": self._authorize,
            "StartTransaction": self._start,
            "StopTransaction": self._stop,
            "DataTransfer": self._data_transfer,
            "DiagnosticsStatusNotification": self._diagnostics,
            "FirmwareStatusNotification": self._firmware,
            "SecurityEventNotification": self._security_event,
            "SignedFirmwareStatusNotification": self._firmware,
            "LogStatusNotification": self._log_status,
        }
        self.handled = frozenset(self._handlers)

    def error_code(self, kind: str) -> str:
        return ERROR_CODES.get(kind, "GenericError")

    def handle(
        self, charger_id: str, action: str, payload: dict[str, Any], now: float
    ) -> tuple[dict[str, Any], list[ev.Event]]:
        handler = self._handlers.get(action)
        if handler is None:
            if action in self.schemas.actions:
                raise HandlerError(
                    "NotSupported", f"{action} is not accepted from a charge point here"
                )
            raise HandlerError("NotImplemented", f"unknown action {action!r}")
        self.schemas.validate(action, payload)
        return handler(charger_id, payload, now)

    # ---- handlers: (charger_id, payload, now) -> (response, events) ---------------------
    def _boot(self, cid: str, p: dict[str, Any], now: float):
        interval = self.ctx.heartbeat_interval
        event = ev.Booted(
            cid,
            now,
            vendor=p["chargePointVendor"],
            model=p["chargePointModel"],
            serial_number=p.get("chargePointSerialNumber"),
            charge_box_serial_number=p.get("chargeBoxSerialNumber"),
            firmware_version=p.get("firmwareVersion"),
            iccid=p.get("iccid"),
            imsi=p.get("imsi"),
            meter_type=p.get("meterType"),
            meter_serial_number=p.get("meterSerialNumber"),
            heartbeat_interval=interval,
        )
        return {"status": "Accepted", "currentTime": iso(now), "interval": interval}, [event]

    def _heartbeat(self, cid: str, p: dict[str, Any], now: float):
        return {"currentTime": iso(now)}, [ev.HeartbeatReceived(cid, now)]

    def _status(self, cid: str, p: dict[str, Any], now: float):
        connector, status, code = p["connectorId"], p["status"], p["errorCode"]
        if connector < 0:
            raise v.PayloadError(v.VALUE, f"connectorId {connector} must be >= 0", "connectorId")
        if connector == 0 and status not in CHARGER_LEVEL_STATUSES:
            raise v.PayloadError(
                v.VALUE,
                f"connectorId 0 (the charge point itself) cannot be {status}; "
                "only Available, Unavailable or Faulted",
                "status",
            )
        charger_ts = parse_time(p["timestamp"], "timestamp") if "timestamp" in p else None
        vendor_id, vendor_code = p.get("vendorId"), p.get("vendorErrorCode")
        event = ev.StatusReported(
            cid,
            now,
            connector_id=connector,
            status=status,
            error_code=code,
            info=p.get("info"),
            vendor_id=vendor_id,
            vendor_error_code=vendor_code,
            fault_category=fault_category(status, code, vendor_id, vendor_code),
            charger_ts=charger_ts,
        )
        return {}, [event]

    def _meter_values(self, cid: str, p: dict[str, Any], now: float):
        connector = p["connectorId"]
        if connector < 0:
            raise v.PayloadError(v.VALUE, f"connectorId {connector} must be >= 0", "connectorId")
        txid = p.get("transactionId")
        samples = _samples(p["meterValue"], "meterValue")
        event = ev.MeterValuesReported(
            cid,
            now,
            connector_id=connector,
            session_id=None if txid is None else str(txid),
            samples=samples,
        )
        return {}, [event]

    def _authorize(self, cid: str, p: dict[str, Any], now: float):
        answer = self.ctx.authorizer.answer(p["idTag"], now)
        return (
            {"idTagInfo": answer.id_tag_info()},
            [ev.Authorized(cid, now, id_tag=p["idTag"], status=answer.status_16)],
        )

    def _start(self, cid: str, p: dict[str, Any], now: float):
        connector, id_tag = p["connectorId"], p["idTag"]
        if connector < 1:
            raise v.PayloadError(v.VALUE, f"connectorId {connector} must be >= 1", "connectorId")
        started_at = parse_time(p["timestamp"], "timestamp")
        meter_start = float(p["meterStart"])
        answer = self.ctx.authorizer.answer(id_tag, now)
        status, info = answer.status_16, answer.id_tag_info()
        state = self.ctx.state
        existing = state.find_session_start(cid, (connector, id_tag, started_at, meter_start))
        if existing is not None:  # the same start sent again: same transaction, no new session
            return {"transactionId": int(existing), "idTagInfo": info}, []
        events: list[ev.Event] = []
        charger = state.chargers.get(cid)
        previous = charger.connectors.get(connector) if charger else None
        if previous is not None and previous.session_id is not None:
            # The charger began a new transaction on a connector whose previous one never
            # stopped (its StopTransaction was lost): close the old one so it cannot dangle.
            old = state.sessions.get(previous.session_id)
            events.append(
                ev.SessionStopped(
                    cid,
                    now,
                    session_id=previous.session_id,
                    stopped_at=started_at,
                    reason="Superseded",
                    connector_id=connector,
                    started_at=old.started_at if old else None,
                    meter_start_wh=old.meter_start_wh if old else None,
                )
            )
        txid = state.allocate_transaction_id()
        events.append(
            ev.SessionStarted(
                cid,
                now,
                session_id=str(txid),
                transaction_id=str(txid),
                connector_id=connector,
                id_tag=id_tag,
                meter_start_wh=meter_start,
                started_at=started_at,
                reservation_id=p.get("reservationId"),
                auth_status=status,
            )
        )
        return {"transactionId": txid, "idTagInfo": info}, events

    def _stop(self, cid: str, p: dict[str, Any], now: float):
        session_id = str(p["transactionId"])
        id_tag = p.get("idTag")
        stopped_at = parse_time(p["timestamp"], "timestamp")
        meter_stop = float(p["meterStop"])
        response: dict[str, Any] = {}
        if id_tag is not None:
            response["idTagInfo"] = self.ctx.authorizer.answer(id_tag, now).id_tag_info()
        state = self.ctx.state
        session = state.sessions.get(session_id)
        if session is None and state.recently_closed(session_id):
            return response, []  # a repeated stop of a session already closed
        connector = session.connector_id if session else 0
        events: list[ev.Event] = []
        if p.get("transactionData"):
            samples = _samples(p["transactionData"], "transactionData")
            events.append(
                ev.MeterValuesReported(
                    cid, now, connector_id=connector, session_id=session_id, samples=samples
                )
            )
        energy = None
        if session is not None and session.meter_start_wh is not None:
            energy = meter_stop - session.meter_start_wh
        events.append(
            ev.SessionStopped(
                cid,
                now,
                session_id=session_id,
                meter_stop_wh=meter_stop,
                stopped_at=stopped_at,
                reason=p.get("reason", "Local"),
                id_tag=id_tag,
                energy_wh=energy,
                connector_id=connector,
                started_at=session.started_at if session else None,
                meter_start_wh=session.meter_start_wh if session else None,
            )
        )
        return response, events

    def _data_transfer(self, cid: str, p: dict[str, Any], now: float):
        event = ev.DataTransferred(
            cid, now, vendor_id=p["vendorId"], message_id=p.get("messageId"), data=p.get("data")
        )
        # Recorded for operators to inspect; no vendor extension changes our behaviour.
        return {"status": "Accepted"}, [event]

    def _diagnostics(self, cid: str, p: dict[str, Any], now: float):
        return {}, [ev.DiagnosticsStatusReported(cid, now, status=p["status"])]

    def _firmware(self, cid: str, p: dict[str, Any], now: float):
        return {}, [
            ev.FirmwareStatusReported(cid, now, status=p["status"], request_id=p.get("requestId"))
        ]

    def _security_event(self, cid: str, p: dict[str, Any], now: float):
        event = ev.SecurityEventReported(
            cid,
            now,
            type=p["type"],
            charger_ts=parse_time(p["timestamp"], "timestamp"),
            tech_info=p.get("techInfo"),
        )
        return {}, [event]

    def _log_status(self, cid: str, p: dict[str, Any], now: float):
        return {}, [
            ev.LogStatusReported(cid, now, status=p["status"], request_id=p.get("requestId"))
        ]


__all__ = ["SUBPROTOCOL", "V16Adapter"]
