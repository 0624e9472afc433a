"""OCPP 2.0.1: answer every charging-station-initiated message, emit the version-free events.

Ports are EVSEs: `connector_id` in our events is the evseId (0: the station itself). What a
2.0.1 station says in its own terms (Occupied, chargingState, NotifyEvent faults) is mapped
to what a 1.6 charger would have said (collector/v201/evse.py), so storage, rules,
notifications and reports need not know which version a charger speaks. Other actions the
2.0.1 schemas know are answered NotSupported, unknown ones NotImplemented.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from chargewatch import events as ev
from chargewatch.authorization import ACCEPTED_ANSWER as ACCEPTED
from collector import validation as v
from collector.adapter import AdapterContext, HandlerError, iso, parse_time
from collector.framing import BAD_STRUCTURE, INVALID_JSON, NOT_ARRAY, UNKNOWN_MESSAGE_TYPE
from collector.metrics import OcppMetrics
from collector.v201 import events_map, meter
from collector.v201.commands import TRANSLATOR
from collector.v201.evse import RESTORED, SEEDED, Station
from collector.v201.transactions import Transactions, id_tag_of

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp2.0.1"

# OCPP-J 2.0.1 section 4.3 (RPC framework error codes) for each problem kind. 2.0.1 splits
# 1.6's FormationViolation: FormatViolation is a syntax error, ProtocolError "not conform
# the PDU structure" (a field the schema does not define), and a missing required field
# breaks its cardinality (OccurrenceConstraintViolation).
ERROR_CODES = {
    INVALID_JSON: "RpcFrameworkError",  # not a valid RPC message, though its id was readable
    NOT_ARRAY: "RpcFrameworkError",
    BAD_STRUCTURE: "RpcFrameworkError",
    UNKNOWN_MESSAGE_TYPE: "MessageTypeNotSupported",
    v.TYPE: "TypeConstraintViolation",
    v.LENGTH: "TypeConstraintViolation",  # string[0..N] is the field's type
    v.MISSING: "OccurrenceConstraintViolation",
    v.UNKNOWN_FIELD: "ProtocolError",
    v.VALUE: "PropertyConstraintViolation",
    v.OCCURRENCE: "OccurrenceConstraintViolation",
}

STATION_LEVEL_STATUSES = frozenset({"Available", "Unavailable", "Faulted"})
DATA_LIMIT = 65536  # characters of a DataTransfer's data kept (the frame limit bounds it too)


class V201Adapter:
    subprotocol = SUBPROTOCOL
    commands = TRANSLATOR  # remote commands in this version's terms

    def __init__(self, ctx: AdapterContext, metrics: OcppMetrics | None = None) -> None:
        self.ctx = ctx
        self.schemas = v.SchemaSet("ocpp.v201", request_suffix="Request")
        self._metrics = metrics
        self._stations: dict[str, Station] = {}
        self._transactions = Transactions(ctx, self._gap, self._duplicate)
        self._handlers: dict[str, Callable[[str, dict[str, Any], float], Any]] = {
            "BootNotification": self._boot,
            "Heartbeat": self._heartbeat,
            "StatusNotification": self._status,
            "TransactionEvent": self._transaction,
            "MeterValues": self._meter_values,
            "Authorize": self._authorize,
            "NotifyEvent": self._notify_event,
            "SecurityEventNotification": self._security_event,
            "FirmwareStatusNotification": self._firmware,
            "LogStatusNotification": self._log_status,
            "NotifyReport": self._notify_report,
            "DataTransfer": self._data_transfer,
        }
        self.handled = frozenset(self._handlers)

    def error_code(self, kind: str) -> str:
        return ERROR_CODES.get(kind, "GenericError")

    def forget(self, chargers: set[str]) -> None:
        """The journal rolled these chargers' unstored changes back: drop what this adapter
        derived from them (EVSE models, seqNos), to be rebuilt from the reloaded state."""
        for cid in chargers:
            self._stations.pop(cid, None)
            self._transactions.forget(cid)

    def handle(
        self, charger_id: str, action: str, payload: dict[str, Any], now: float
    ) -> tuple[dict[str, Any], list[ev.Event]]:
        handler = self._handlers.get(action)
        if handler is None:
            if action in self.schemas.actions:
                raise HandlerError("NotSupported", f"{action} is not accepted from a station here")
            raise HandlerError("NotImplemented", f"unknown action {action!r}")
        self.schemas.validate(action, payload)
        return handler(charger_id, payload, now)

    def station(self, charger_id: str) -> Station:
        found = self._stations.get(charger_id)
        if found is None:
            found = self._stations[charger_id] = Station(charger_id, self.ctx.state)
        return found

    def _gap(self, missing: int) -> None:
        if self._metrics is not None:
            self._metrics.transaction_seq_gaps.inc(missing)

    def _duplicate(self) -> None:
        if self._metrics is not None:
            self._metrics.transaction_duplicates.inc()

    # ---- handlers: (charger_id, payload, now) -> (response, events) ---------------------
    def _boot(self, cid: str, p: dict[str, Any], now: float):
        station, modem = p["chargingStation"], p["chargingStation"].get("modem") or {}
        interval = self.ctx.heartbeat_interval
        event = ev.Booted(
            cid,
            now,
            vendor=station["vendorName"],
            model=station["model"],
            serial_number=station.get("serialNumber"),
            firmware_version=station.get("firmwareVersion"),
            iccid=modem.get("iccid"),
            imsi=modem.get("imsi"),
            reason=p["reason"],
            heartbeat_interval=interval,
        )
        return {"status": "Accepted", "currentTime": iso(now), "interval": interval}, [event]

    def _heartbeat(self, cid: str, p: dict[str, Any], now: float):
        return {"currentTime": iso(now)}, [ev.HeartbeatReceived(cid, now)]

    def _status(self, cid: str, p: dict[str, Any], now: float):
        evse_id, connector, status = p["evseId"], p["connectorId"], p["connectorStatus"]
        if evse_id < 0:
            raise v.PayloadError(v.VALUE, f"evseId {evse_id} must be >= 0", "evseId")
        if connector < 0:
            raise v.PayloadError(v.VALUE, f"connectorId {connector} must be >= 0", "connectorId")
        if evse_id == 0 and status not in STATION_LEVEL_STATUSES:
            raise v.PayloadError(
                v.VALUE,
                f"evseId 0 (the charging station itself) cannot be {status}; "
                "only Available, Unavailable or Faulted",
                "connectorStatus",
            )
        charger_ts = parse_time(p["timestamp"], "timestamp")
        evse = self.station(cid).evse(evse_id)
        evse.connectors.pop(SEEDED, None)
        evse.connectors[connector] = status
        if evse.raw() == "Available":
            evse.ended = False  # the car left: a later Occupied is a new visit
        if status != "Faulted":
            evse.faults.pop(RESTORED, None)
        event = evse.status_event(cid, now, charger_ts, force=True)
        return {}, [event]

    def _transaction(self, cid: str, p: dict[str, Any], now: float):
        return self._transactions.handle(cid, p, now, self.station(cid))

    def _meter_values(self, cid: str, p: dict[str, Any], now: float):
        evse_id = p["evseId"]
        if evse_id < 0:
            raise v.PayloadError(v.VALUE, f"evseId {evse_id} must be >= 0", "evseId")
        samples = meter.samples(p["meterValue"], "meterValue")
        # not a transaction's message, but readings of an EVSE in one still belong to it
        charger = self.ctx.state.chargers.get(cid)
        conn = charger.connectors.get(evse_id) if charger and evse_id else None
        session_id = conn.session_id if conn is not None else None
        event = ev.MeterValuesReported(
            cid, now, connector_id=evse_id, session_id=session_id, samples=samples
        )
        return {}, [event]

    def _authorize(self, cid: str, p: dict[str, Any], now: float):
        id_tag = id_tag_of(p["idToken"])
        answer = self.ctx.authorizer.answer(id_tag, now) if id_tag is not None else ACCEPTED
        event = ev.Authorized(cid, now, id_tag=id_tag or "", status=answer.status)
        return {"idTokenInfo": answer.id_token_info()}, [event]

    def _notify_event(self, cid: str, p: dict[str, Any], now: float):
        parse_time(p["generatedAt"], "generatedAt")
        items = [events_map.device_event(cid, now, d, i) for i, d in enumerate(p["eventData"])]
        for i, item in enumerate(items):
            if item.connector_id < 0:
                where = f"eventData[{i}].component.evse.id"
                raise v.PayloadError(v.VALUE, f"{where} {item.connector_id} must be >= 0", where)
        charger = self.ctx.state.chargers.get(cid)
        vendor = charger.vendor if charger else None
        station = self.station(cid)
        out: list[ev.Event] = []
        for item in items:
            out.append(item)
            sample = events_map.temperature(item)
            if sample is not None:
                conn = charger.connectors.get(item.connector_id) if charger else None
                out.append(
                    ev.MeterValuesReported(
                        cid,
                        now,
                        connector_id=item.connector_id,
                        session_id=conn.session_id if conn else None,
                        samples=(sample,),
                    )
                )
            change = events_map.fault_change(item, vendor)
            if change is None:
                continue
            evse = station.evse(change.evse_id)
            if change.fault is None:
                evse.faults.pop(change.key, None)
                evse.faults.pop(RESTORED, None)
            else:
                evse.faults.pop(change.key, None)  # re-inserted: the newest speaks
                evse.faults[change.key] = change.fault
            status = evse.status_event(cid, now, change.charger_ts)
            if status is not None:
                out.append(status)
        return {}, out

    def _security_event(self, cid: str, p: dict[str, Any], now: float):
        event = ev.SecurityEventReported(
            cid,
            now,
            type=p["type"],
            charger_ts=parse_time(p["timestamp"], "timestamp"),
            tech_info=p.get("techInfo"),
        )
        return {}, [event]

    def _firmware(self, cid: str, p: dict[str, Any], now: float):
        return {}, [
            ev.FirmwareStatusReported(cid, now, status=p["status"], request_id=p.get("requestId"))
        ]

    def _log_status(self, cid: str, p: dict[str, Any], now: float):
        return {}, [
            ev.LogStatusReported(cid, now, status=p["status"], request_id=p.get("requestId"))
        ]

    def _notify_report(self, cid: str, p: dict[str, Any], now: float):
        # An answer to a GetBaseReport/GetReport we have not sent (we send no calls yet):
        # accepted, kept in the raw message log, nothing journaled.
        parse_time(p["generatedAt"], "generatedAt")
        return {}, []

    def _data_transfer(self, cid: str, p: dict[str, Any], now: float):
        data = p.get("data")
        if data is not None and not isinstance(data, str):
            data = json.dumps(data, separators=(",", ":"))  # 2.0.1 data is any JSON
        event = ev.DataTransferred(
            cid,
            now,
            vendor_id=p["vendorId"],
            message_id=p.get("messageId"),
            data=data[:DATA_LIMIT] if data is not None else None,
        )
        # Recorded for operators to inspect; no vendor extension changes our behaviour.
        return {"status": "Accepted"}, [event]


__all__ = ["ERROR_CODES", "SUBPROTOCOL", "V201Adapter"]
