"""Every OCPP 1.6J charge-point-initiated action, sent by the `ocpp` library's client over a
real WebSocket, is answered per the spec and lands normalised in state and journal."""

from __future__ import annotations

import json

import pytest
from helpers import NOW, call, db_rows, eventually, journal_kinds, lib_charger, raw_charger
from ocpp.v16 import call as c16
from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus

from chargewatch.app import App


async def test_boot_notification_accepted_with_configured_interval(start_app) -> None:
    app: App = await start_app("ocpp:\n  heartbeat_interval: 120\n")
    async with lib_charger(app.ocpp_port, "CP-BOOT") as cp:
        res = await cp.call(
            c16.BootNotification(
                charge_point_vendor="Alfen",
                charge_point_model="Eve Double",
                charge_point_serial_number="SN-1",
                charge_box_serial_number="BOX-1",
                firmware_version="6.4.0",
                iccid="8931",
                imsi="2040",
                meter_type="ABB",
                meter_serial_number="M-9",
            )
        )
        assert res.status == "Accepted" and res.interval == 120
        assert res.current_time.endswith("Z")
        hb = await cp.call(c16.Heartbeat())
        assert hb.current_time.endswith("Z")
    charger = app.state.chargers["CP-BOOT"]
    assert (charger.vendor, charger.model, charger.serial_number, charger.firmware_version) == (
        "Alfen",
        "Eve Double",
        "SN-1",
        "6.4.0",
    )
    assert (charger.charge_box_serial_number, charger.iccid, charger.imsi) == (
        "BOX-1",
        "8931",
        "2040",
    )
    assert (charger.meter_type, charger.meter_serial_number) == ("ABB", "M-9")
    assert charger.boot_count == 1 and charger.heartbeat_interval == 120
    # the live state drops the connection when the disconnect is staged; the journal has it
    # once committed, a moment later
    kinds = lambda: journal_kinds(app.config.data_dir, "CP-BOOT")  # noqa: E731
    await eventually(lambda: kinds()[-1:] == ["disconnected"])
    assert journal_kinds(app.config.data_dir, "CP-BOOT") == [
        "connected",
        "booted",
        "heartbeat",
        "disconnected",
    ]


@pytest.mark.parametrize("status", [s.value for s in ChargePointStatus])
async def test_every_status_is_stored(app: App, status: str) -> None:
    async with lib_charger(app.ocpp_port, "CP-ST") as cp:
        await cp.call(
            c16.StatusNotification(
                connector_id=1, error_code="NoError", status=status, timestamp=NOW
            )
        )
    conn = app.state.chargers["CP-ST"].connectors[1]
    assert conn.status == status
    assert conn.charger_ts is not None and conn.since is not None


@pytest.mark.parametrize("code", [c.value for c in ChargePointErrorCode])
async def test_every_error_code_is_stored_with_vendor_fields(app: App, code: str) -> None:
    async with lib_charger(app.ocpp_port, "CP-ERR") as cp:
        await cp.call(
            c16.StatusNotification(
                connector_id=2,
                error_code=code,
                status="Faulted",
                info="contactor welded",
                vendor_id="com.vendor",
                vendor_error_code="E42",
                timestamp=NOW,
            )
        )
    conn = app.state.chargers["CP-ERR"].connectors[2]
    assert (conn.error_code, conn.info, conn.vendor_id, conn.vendor_error_code) == (
        code,
        "contactor welded",
        "com.vendor",
        "E42",
    )
    assert conn.fault_category is not None
    row = db_rows(
        app.config.data_dir,
        "SELECT status, error_code, vendor_error_code, charger_ts, ts "
        "FROM status_history WHERE charger_id='CP-ERR'",
    )
    assert row[-1][:3] == ("Faulted", code, "E42")
    assert row[-1][3] == pytest.approx(1795341600.0)  # the charger's timestamp, 2026-11-22T10:00Z
    assert row[-1][4] > 1.7e9  # the receive time, kept beside it


async def test_chargex_code_gets_its_category(app: App, http) -> None:
    async with lib_charger(app.ocpp_port, "CP-CX") as cp:
        await cp.call(
            c16.StatusNotification(
                connector_id=1,
                error_code="OtherError",
                status="Faulted",
                vendor_id="https://chargex.inl.gov",
                vendor_error_code="CX008",
            )
        )
        await cp.call(
            c16.StatusNotification(
                connector_id=2,
                error_code="OtherError",
                status="Faulted",
                vendor_id="com.other",
                vendor_error_code="CX013",
            )
        )
    body = (await http.get("/api/v1/chargers/CP-CX")).json()
    one, two = body["connectors"]
    assert (one["chargex_code"], one["fault_category"]) == ("CX008", "safety")
    # a CX code under another vendor id is not ChargeX's: the generic code decides
    assert (two["chargex_code"], two["fault_category"]) == (None, "maintenance")


async def test_meter_values_every_measurand_unit_phase_context_location(app: App) -> None:
    sampled = [
        {"value": "12.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW", "phase": "L1"},
        {"value": "16.1", "measurand": "Current.Import", "unit": "A", "phase": "L2"},
        {"value": "231", "measurand": "Voltage", "unit": "V", "phase": "L3-N"},
        {"value": "212", "measurand": "Temperature", "unit": "Fahrenheit", "location": "Body"},
        {"value": "300.15", "measurand": "Temperature", "unit": "K", "location": "Cable"},
        {"value": "41", "measurand": "SoC", "unit": "Percent", "location": "EV"},
        {"value": "1.2", "measurand": "Energy.Reactive.Import.Register", "unit": "kvarh"},
        {"value": "0.5", "measurand": "Power.Reactive.Import", "unit": "kvar"},
        {"value": "11", "measurand": "Power.Offered", "unit": "kVA"},
        {"value": "50.0", "measurand": "Frequency"},
        {"value": "0.98", "measurand": "Power.Factor"},
        {"value": "4500", "measurand": "Power.Active.Import"},  # no unit: W, not Wh
        {"value": "99", "context": "Sample.Clock"},  # no measurand: the energy register, Wh
        {"value": "1", "measurand": "RPM", "context": "Trigger", "location": "Inlet"},
        {"value": "AB12FF", "format": "SignedData", "context": "Transaction.End"},
    ]
    async with lib_charger(app.ocpp_port, "CP-MV") as cp:
        await cp.call(
            c16.MeterValues(
                connector_id=1, meter_value=[{"timestamp": NOW, "sampledValue": sampled}]
            )
        )
    rows = db_rows(
        app.config.data_dir, "SELECT data FROM journal WHERE charger_id='CP-MV' AND kind='meter'"
    )
    samples = json.loads(rows[0][0])["samples"]
    got = [(s[1], s[2], s[3], s[4], s[5], s[6]) for s in samples]
    assert got == [
        ("Energy.Active.Import.Register", 12500.0, "Wh", None, "Sample.Periodic", "Outlet"),
        ("Power.Active.Import", 7200.0, "W", "L1", "Sample.Periodic", "Outlet"),
        ("Current.Import", 16.1, "A", "L2", "Sample.Periodic", "Outlet"),
        ("Voltage", 231.0, "V", "L3-N", "Sample.Periodic", "Outlet"),
        ("Temperature", pytest.approx(100.0), "degC", None, "Sample.Periodic", "Body"),
        ("Temperature", pytest.approx(27.0), "degC", None, "Sample.Periodic", "Cable"),
        ("SoC", 41.0, "%", None, "Sample.Periodic", "EV"),
        ("Energy.Reactive.Import.Register", 1200.0, "varh", None, "Sample.Periodic", "Outlet"),
        ("Power.Reactive.Import", 500.0, "var", None, "Sample.Periodic", "Outlet"),
        ("Power.Offered", 11000.0, "VA", None, "Sample.Periodic", "Outlet"),
        ("Frequency", 50.0, "Hz", None, "Sample.Periodic", "Outlet"),
        ("Power.Factor", 0.98, "", None, "Sample.Periodic", "Outlet"),
        ("Power.Active.Import", 4500.0, "W", None, "Sample.Periodic", "Outlet"),
        ("Energy.Active.Import.Register", 99.0, "Wh", None, "Sample.Clock", "Outlet"),
        ("RPM", 1.0, "rpm", None, "Trigger", "Inlet"),
        ("Energy.Active.Import.Register", None, "", None, "Transaction.End", "Outlet"),
    ]
    assert samples[-1][7] == "AB12FF"  # signed data is kept verbatim
    assert samples[0][0] == pytest.approx(1795341600.0)


async def test_transaction_lifecycle_links_meter_values_and_stop_data(app: App, http) -> None:
    async with lib_charger(app.ocpp_port, "CP-TX") as cp:
        auth = await cp.call(c16.Authorize(id_tag="RFID-1"))
        assert auth.id_tag_info["status"] == "Accepted"
        start = await cp.call(
            c16.StartTransaction(
                connector_id=1, id_tag="RFID-1", meter_start=5000, timestamp=NOW, reservation_id=7
            )
        )
        txid = start.transaction_id
        assert start.id_tag_info["status"] == "Accepted"
        await cp.call(
            c16.MeterValues(
                connector_id=1,
                transaction_id=txid,
                meter_value=[
                    {
                        "timestamp": "2026-11-22T10:05:00Z",
                        "sampledValue": [{"value": "6.5", "unit": "kWh"}],
                    }
                ],
            )
        )
        body = (await http.get("/api/v1/chargers/CP-TX")).json()
        session = body["connectors"][0]["open_session"]
        assert session["session_id"] == str(txid) and session["id_tag"] == "RFID-1"
        assert session["energy_wh"] == 1500.0
        stop = await cp.call(
            c16.StopTransaction(
                meter_stop=9000,
                timestamp="2026-11-22T10:30:00Z",
                transaction_id=txid,
                reason="EVDisconnected",
                id_tag="RFID-1",
                transaction_data=[
                    {
                        "timestamp": "2026-11-22T10:30:00Z",
                        "sampledValue": [{"value": "9000", "context": "Transaction.End"}],
                    }
                ],
            )
        )
        assert stop.id_tag_info["status"] == "Accepted"
    row = db_rows(
        app.config.data_dir,
        "SELECT connector_id, id_tag, meter_start_wh, meter_stop_wh, energy_wh, "
        "stop_reason, reservation_id, stopped_at - started_at FROM sessions "
        "WHERE session_id=?",
        (str(txid),),
    )
    assert row == [(1, "RFID-1", 5000.0, 9000.0, 4000.0, "EVDisconnected", 7, 1800.0)]
    meters = db_rows(
        app.config.data_dir,
        "SELECT json_extract(data, '$.session_id') FROM journal "
        "WHERE charger_id='CP-TX' AND kind='meter'",
    )
    assert meters == [(str(txid),), (str(txid),)]  # periodic sample + transactionData
    assert app.state.chargers["CP-TX"].connectors[1].session_id is None
    assert str(txid) not in app.state.sessions


async def test_allow_list_answers_invalid_for_unknown_tags(start_app) -> None:
    app: App = await start_app(
        "ocpp:\n  authorization:\n    mode: allow_list\n    allow_list: [GOOD-TAG]\n"
    )
    async with lib_charger(app.ocpp_port, "CP-AL") as cp:
        assert (await cp.call(c16.Authorize(id_tag="good-tag"))).id_tag_info["status"] == (
            "Accepted"
        )  # idTag is a CiString: case-insensitive
        assert (await cp.call(c16.Authorize(id_tag="EVIL"))).id_tag_info["status"] == "Invalid"
        start = await cp.call(
            c16.StartTransaction(connector_id=1, id_tag="EVIL", meter_start=0, timestamp=NOW)
        )
        assert start.id_tag_info["status"] == "Invalid"
        assert start.transaction_id > 0  # a transaction id is always returned (OCPP 1.6 6.46)
    rows = db_rows(
        app.config.data_dir,
        "SELECT json_extract(data,'$.status') FROM journal WHERE kind='authorized'",
    )
    assert rows == [("Accepted",), ("Invalid",)]


async def test_data_transfer_diagnostics_firmware_and_security_messages(app: App) -> None:
    async with lib_charger(app.ocpp_port, "CP-MISC") as cp:
        dt = await cp.call(c16.DataTransfer(vendor_id="com.acme", message_id="cfg", data="x=1"))
        assert dt.status == "Accepted"
        await cp.call(c16.DiagnosticsStatusNotification(status="Uploaded"))
        await cp.call(c16.FirmwareStatusNotification(status="Installed"))
        await cp.call(
            c16.SecurityEventNotification(
                type="TamperDetectionActivated", timestamp=NOW, tech_info="lid open"
            )
        )
        await cp.call(c16.LogStatusNotification(status="Uploaded", request_id=3))
        await cp.call(c16.SignedFirmwareStatusNotification(status="InvalidSignature", request_id=4))
    charger = app.state.chargers["CP-MISC"]
    assert charger.diagnostics_status == "Uploaded"
    assert charger.firmware_status == "InvalidSignature"
    rows = db_rows(
        app.config.data_dir,
        "SELECT kind, data FROM journal WHERE charger_id='CP-MISC' "
        "AND kind NOT IN ('connected', 'disconnected') ORDER BY seq",
    )
    kinds = [k for k, _ in rows]
    assert kinds == [
        "data_transfer",
        "diagnostics_status",
        "firmware_status",
        "security_event",
        "log_status",
        "firmware_status",
    ]
    data = [json.loads(d) for _, d in rows]
    assert (data[0]["vendor_id"], data[0]["message_id"], data[0]["data"]) == (
        "com.acme",
        "cfg",
        "x=1",
    )
    assert (data[3]["type"], data[3]["tech_info"]) == ("TamperDetectionActivated", "lid open")
    assert data[4]["request_id"] == 3


async def test_sign_certificate_is_not_supported_yet(app: App) -> None:
    async with raw_charger(app.ocpp_port, "CP-CSR") as ws:
        answer = await call(ws, "SignCertificate", {"csr": "-----BEGIN CSR-----"})
    assert answer[2] == "NotSupported"
