"""Every OCPP 2.0.1 charging-station-initiated message, sent by the `ocpp` library's v201 client
over a real WebSocket, is answered per the spec (the client checks our answers against the
response schemas) and lands in state, journal and store as the same version-free events a
1.6J charger produces: EVSEs are ports, Occupied becomes the operative 1.6 status, NotifyEvent
faults become Faulted with their ChargeX category."""

from __future__ import annotations

import logging

import httpx
import pytest
from helpers import db_rows, eventually, journal_kinds, raw_charger
from helpers_v201 import (
    STATION,
    T0,
    at,
    energy,
    journal,
    lib_station,
    status,
    status_rows,
    tx_event,
)
from ocpp.v201 import call as c201

from chargewatch.app import App


async def metric(app: App, name: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{app.http_port}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (("ocpp1.6", "ocpp2.0.1"), "ocpp2.0.1"),  # the server's preference wins
        (("ocpp2.0.1", "ocpp1.6"), "ocpp2.0.1"),
        (("ocpp1.6",), "ocpp1.6"),
        (("ocpp2.0.1",), "ocpp2.0.1"),
    ],
)
async def test_a_charger_offering_both_subprotocols_gets_2_0_1(app: App, offered, chosen) -> None:
    async with raw_charger(app.ocpp_port, "CP-PROTO", offered) as ws:
        assert ws.subprotocol == chosen
        await eventually(lambda: "CP-PROTO" in app.state.chargers)
    assert app.state.chargers["CP-PROTO"].protocol == chosen


async def test_boot_notification_and_heartbeat(start_app) -> None:
    app: App = await start_app("ocpp:\n  heartbeat_interval: 90\n")
    async with lib_station(app.ocpp_port, "ST-BOOT") as cp:
        station = {
            **STATION,
            "serialNumber": "KP-123",
            "firmwareVersion": "2.4.1",
            "modem": {"iccid": "8931440", "imsi": "2040412"},
        }
        res = await cp.send(c201.BootNotification(charging_station=station, reason="Watchdog"))
        assert (res.status, res.interval) == ("Accepted", 90)
        assert res.current_time.endswith("Z")
        assert (await cp.send(c201.Heartbeat())).current_time.endswith("Z")
    charger = app.state.chargers["ST-BOOT"]
    assert (charger.vendor, charger.model, charger.serial_number, charger.firmware_version) == (
        "Kempower",
        "S-Series",
        "KP-123",
        "2.4.1",
    )
    assert (charger.iccid, charger.imsi, charger.heartbeat_interval) == ("8931440", "2040412", 90)
    assert charger.protocol == "ocpp2.0.1" and charger.boot_count == 1
    # the live state drops the connection when the disconnect is staged; the journal has it
    # once committed, a moment later
    kinds = lambda: journal_kinds(app.config.data_dir, "ST-BOOT")  # noqa: E731
    await eventually(lambda: kinds()[-1:] == ["disconnected"])
    assert journal_kinds(app.config.data_dir, "ST-BOOT") == [
        "connected",
        "booted",
        "heartbeat",
        "disconnected",
    ]
    assert journal(app, "ST-BOOT", "booted")[0]["reason"] == "Watchdog"


async def test_a_session_through_occupied_and_charging_states(app: App, http) -> None:
    """Occupied is Preparing before charging, then chargingState decides, Finishing after the
    transaction; the session gets its energy (kWh → Wh) and peak power (multiplier applied)."""
    power = {"measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W", "multiplier": 3}}
    async with lib_station(app.ocpp_port, "ST-TX") as cp:
        await cp.send(status(1, "Available"))
        await cp.send(status(1, "Occupied", at(1)))  # plugged in
        started = await cp.send(
            tx_event(
                "Started",
                0,
                "f3b1-tx",
                at(1, 5),
                "CablePluggedIn",
                "EVConnected",
                [energy(at(1, 5), 2000, "Transaction.Begin")],
                evse={"id": 1, "connectorId": 1},
            )
        )
        assert started.id_token_info is None  # no idToken, so no idTokenInfo
        auth = await cp.send(
            tx_event(
                "Updated",
                1,
                "f3b1-tx",
                at(1, 30),
                "Authorized",
                id_token={"idToken": "04A2B3", "type": "ISO14443"},
            )
        )
        assert auth.id_token_info == {"status": "Accepted"}
        await cp.send(tx_event("Updated", 2, "f3b1-tx", at(2), "ChargingStateChanged", "Charging"))
        sample = {"timestamp": at(10), "sampledValue": [{"value": 7.2, **power}]}
        sample["sampledValue"].append({"value": 3.5, "unitOfMeasure": {"unit": "kWh"}})
        await cp.send(tx_event("Updated", 3, "f3b1-tx", at(10), meter=[sample]))
        body = (await http.get("/api/v1/chargers/ST-TX")).json()
        [port] = body["connectors"]
        assert (port["connector_id"], port["status"]) == (1, "Charging")
        assert port["open_session"]["session_id"] == "ST-TX:f3b1-tx"
        assert port["open_session"]["energy_wh"] == 1500.0
        await cp.send(
            tx_event("Updated", 4, "f3b1-tx", at(40), "ChargingStateChanged", "SuspendedEV")
        )
        await cp.send(
            tx_event(
                "Ended",
                5,
                "f3b1-tx",
                at(45),
                "StopAuthorized",
                "SuspendedEV",
                [energy(at(45), 14.25, "Transaction.End", unit="kWh")],
                stopped_reason="Local",
            )
        )
        await cp.send(status(1, "Available", at(50)))  # unplugged
    assert [r[:3] for r in status_rows(app, "ST-TX")] == [
        (1, "Available", "NoError"),
        (1, "Preparing", "NoError"),  # Occupied, no transaction yet
        (1, "Charging", "NoError"),  # chargingState, no StatusNotification needed
        (1, "SuspendedEV", "NoError"),
        (1, "Finishing", "NoError"),  # transaction ended, still occupied
        (1, "Available", "NoError"),
    ]
    row = db_rows(
        app.config.data_dir,
        "SELECT session_id, transaction_id, connector_id, id_tag, meter_start_wh, "
        "meter_stop_wh, energy_wh, peak_power_w, stop_reason, stopped_at - started_at "
        "FROM sessions WHERE charger_id='ST-TX'",
    )
    assert row == [
        # authorised after the start: the session has the idTag once its end says it
        ("ST-TX:f3b1-tx", "f3b1-tx", 1, "04A2B3", 2000.0, 14250.0, 12250.0, 7200.0, "Local", 2635.0)
    ]
    [stopped] = journal(app, "ST-TX", "session_stopped")
    assert stopped["id_tag"] == "04A2B3"  # authorised after the start: known at the end
    assert app.state.chargers["ST-TX"].connectors[1].session_id is None


async def test_seq_no_gaps_are_reported_and_repeats_ignored(app: App, caplog) -> None:
    caplog.set_level(logging.INFO, logger="collector.v201.transactions")
    async with lib_station(app.ocpp_port, "ST-SEQ") as cp:
        await cp.send(status(2, "Occupied"))
        await cp.send(
            tx_event("Started", 0, "4242", at(1), "Authorized", "Charging", evse={"id": 2})
        )
        for _ in range(2):  # the same seqNo twice (new message ids): once
            await cp.send(tx_event("Updated", 1, "4242", at(2), meter=[energy(at(2), 100)]))
        await cp.send(tx_event("Updated", 4, "4242", at(5), meter=[energy(at(5), 400)]))
        await cp.send(tx_event("Ended", 5, "4242", at(6), "EVDeparted", "Idle"))
        await cp.send(tx_event("Ended", 5, "4242", at(6), "EVDeparted", "Idle"))  # repeated
    [gap] = journal(app, "ST-SEQ", "transaction_gap")
    assert (gap["session_id"], gap["connector_id"]) == ("ST-SEQ:4242", 2)
    assert (gap["expected_seq_no"], gap["received_seq_no"], gap["missing"]) == (2, 4, 2)
    assert len(journal(app, "ST-SEQ", "meter")) == 2  # the repeat added nothing
    assert len(journal(app, "ST-SEQ", "session_stopped")) == 1
    assert await metric(app, "chargewatch_ocpp_transaction_seq_gaps_total") == 2
    assert await metric(app, "chargewatch_ocpp_transaction_duplicates_total") == 2
    assert "2 message(s) missing" in caplog.text
    row = db_rows(app.config.data_dir, "SELECT energy_wh FROM sessions WHERE charger_id='ST-SEQ'")
    assert row == [(300.0,)]  # no Begin value: from its first reading (100 Wh) to 400 Wh
    assert app.state.next_transaction_id == 1  # a station's own ids leave our 1.6 ids alone


async def test_an_offline_queued_batch_is_accepted_in_order(app: App) -> None:
    """Events the station queued while offline tell the past: they make the session whole
    but not the current status (the StatusNotification after reconnect says that)."""
    async with lib_station(app.ocpp_port, "ST-OFF") as cp:
        await cp.send(c201.BootNotification(charging_station=STATION, reason="PowerUp"))
        await cp.send(status(1, "Available", at(30)))
        queued = [
            tx_event(
                "Started",
                0,
                "off-1",
                at(1),
                "Authorized",
                "Charging",
                [energy(at(1), 0, "Transaction.Begin")],
                evse={"id": 1},
                id_token={"idToken": "TAG-OFF", "type": "ISO14443"},
                offline=True,
            ),
            tx_event("Updated", 1, "off-1", at(5), meter=[energy(at(5), 2500)], offline=True),
            tx_event(
                "Ended",
                2,
                "off-1",
                at(9),
                "EVDeparted",
                "Idle",
                [energy(at(9), 4100, "Transaction.End")],
                stopped_reason="EVDisconnected",
                offline=True,
            ),
        ]
        for event in queued:
            assert (await cp.send(event)) is not None
    assert [r[:2] for r in status_rows(app, "ST-OFF")] == [(1, "Available")]
    row = db_rows(
        app.config.data_dir,
        "SELECT id_tag, meter_start_wh, meter_stop_wh, energy_wh, stop_reason, "
        "stopped_at - started_at FROM sessions WHERE charger_id='ST-OFF'",
    )
    assert row == [("TAG-OFF", 0.0, 4100.0, 4100.0, "EVDisconnected", 480.0)]
    meters = journal(app, "ST-OFF", "meter")
    assert [m["samples"][0][2] for m in meters] == [0.0, 2500.0, 4100.0]  # in order
    assert journal(app, "ST-OFF", "transaction_gap") == []


async def test_an_ended_for_an_unknown_transaction_is_kept_like_1_6(app: App) -> None:
    async with lib_station(app.ocpp_port, "ST-UNK") as cp:
        for _ in range(2):
            await cp.send(
                tx_event(
                    "Ended",
                    3,
                    "lost-9",
                    at(20),
                    "EVDeparted",
                    meter=[energy(at(20), 900, "Transaction.End")],
                    stopped_reason="PowerLoss",
                    evse={"id": 1},
                )
            )
    row = db_rows(
        app.config.data_dir,
        "SELECT session_id, meter_stop_wh, energy_wh, stop_reason, started_at FROM sessions "
        "WHERE charger_id='ST-UNK'",
    )
    assert row == [("ST-UNK:lost-9", 900.0, None, "PowerLoss", None)]
    assert len(journal(app, "ST-UNK", "session_stopped")) == 1  # the repeat was ignored
    [gap] = journal(app, "ST-UNK", "transaction_gap")
    assert (gap["expected_seq_no"], gap["missing"]) == (0, 3)  # its Started never came


async def test_meter_values_units_and_multipliers(app: App) -> None:
    sampled = [
        {"value": 12.5, "unitOfMeasure": {"unit": "kWh"}},  # absent measurand: the register
        {"value": 125, "unitOfMeasure": {"unit": "Wh", "multiplier": 2}},
        {"value": 7.2, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}},
        {"value": 16, "measurand": "Current.Import", "phase": "L2"},  # absent unit: A
        {"value": 2301, "measurand": "Voltage", "unitOfMeasure": {"unit": "V", "multiplier": -1}},
        {"value": 41, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}, "location": "EV"},
        {
            "value": 1.2,
            "measurand": "Energy.Reactive.Import.Register",
            "unitOfMeasure": {"unit": "kvarh"},
        },
        {"value": 50, "measurand": "Frequency", "context": "Sample.Clock"},
    ]
    async with lib_station(app.ocpp_port, "ST-MV") as cp:
        await cp.send(
            c201.MeterValues(evse_id=0, meter_value=[{"timestamp": T0, "sampledValue": sampled}])
        )
    [m] = journal(app, "ST-MV", "meter")
    assert m["connector_id"] == 0 and m["session_id"] is None
    got = [tuple(s[1:7]) for s in m["samples"]]
    assert got == [
        ("Energy.Active.Import.Register", 12500.0, "Wh", None, "Sample.Periodic", "Outlet"),
        ("Energy.Active.Import.Register", 12500.0, "Wh", None, "Sample.Periodic", "Outlet"),
        ("Power.Active.Import", 7200.0, "W", None, "Sample.Periodic", "Outlet"),
        ("Current.Import", 16.0, "A", "L2", "Sample.Periodic", "Outlet"),
        ("Voltage", pytest.approx(230.1), "V", None, "Sample.Periodic", "Outlet"),
        ("SoC", 41.0, "%", None, "Sample.Periodic", "EV"),
        ("Energy.Reactive.Import.Register", 1200.0, "varh", None, "Sample.Periodic", "Outlet"),
        ("Frequency", 50.0, "Hz", None, "Sample.Clock", "Outlet"),
    ]
    assert m["samples"][0][0] == pytest.approx(1795341600.0)


async def test_authorize_and_transaction_id_token_use_the_policy(start_app) -> None:
    app: App = await start_app(
        "ocpp:\n  authorization:\n    mode: allow_list\n    allow_list: [GOOD-TAG]\n"
    )
    good = {"idToken": "good-tag", "type": "ISO14443"}  # a CiString: case-insensitive
    evil = {"idToken": "EVIL", "type": "ISO14443"}
    async with lib_station(app.ocpp_port, "ST-AUTH") as cp:
        assert (await cp.send(c201.Authorize(id_token=good))).id_token_info["status"] == "Accepted"
        assert (await cp.send(c201.Authorize(id_token=evil))).id_token_info["status"] == "Invalid"
        free = await cp.send(c201.Authorize(id_token={"idToken": "", "type": "NoAuthorization"}))
        assert free.id_token_info["status"] == "Accepted"  # names nobody: nothing to refuse
        started = await cp.send(
            tx_event("Started", 0, "a-1", T0, "Authorized", evse={"id": 1}, id_token=evil)
        )
        assert started.id_token_info["status"] == "Invalid"
    authorized = journal(app, "ST-AUTH", "authorized")
    assert [(a["id_tag"], a["status"]) for a in authorized] == [
        ("good-tag", "Accepted"),
        ("EVIL", "Invalid"),
        ("", "Accepted"),
    ]
    [start] = journal(app, "ST-AUTH", "session_started")
    assert (start["id_tag"], start["auth_status"]) == ("EVIL", "Invalid")


async def test_security_firmware_log_report_and_data_transfer(app: App) -> None:
    async with lib_station(app.ocpp_port, "ST-MISC") as cp:
        await cp.send(
            c201.SecurityEventNotification(
                type="TamperDetectionActivated", timestamp=T0, tech_info="door open"
            )
        )
        await cp.send(c201.FirmwareStatusNotification(status="Installed", request_id=4))
        await cp.send(c201.LogStatusNotification(status="Uploaded", request_id=5))
        report = {
            "component": {"name": "ChargingStation"},
            "variable": {"name": "Model"},
            "variableAttribute": [{"value": "S-Series"}],
        }
        await cp.send(
            c201.NotifyReport(request_id=1, generated_at=T0, seq_no=0, report_data=[report])
        )
        dt = await cp.send(
            c201.DataTransfer(vendor_id="com.kempower", message_id="cfg", data={"a": [1, 2]})
        )
        assert dt.status == "Accepted"
    charger = app.state.chargers["ST-MISC"]
    assert charger.firmware_status == "Installed"
    kinds = [
        k
        for k in journal_kinds(app.config.data_dir, "ST-MISC")
        if k not in ("connected", "disconnected")
    ]
    assert kinds == ["security_event", "firmware_status", "log_status", "data_transfer"]
    [sec] = journal(app, "ST-MISC", "security_event")
    assert (sec["type"], sec["tech_info"]) == ("TamperDetectionActivated", "door open")
    assert journal(app, "ST-MISC", "log_status")[0]["request_id"] == 5
    assert journal(app, "ST-MISC", "data_transfer")[0]["data"] == '{"a":[1,2]}'
    logged = db_rows(
        app.config.data_dir,
        "SELECT ok FROM messages WHERE charger_id='ST-MISC' AND action='NotifyReport'",
    )
    assert logged == [(1,)]  # answered and kept in the raw message log


async def test_an_open_session_survives_a_collector_restart(start_app, tmp_path) -> None:
    data = tmp_path / "restart"
    first: App = await start_app(data_dir=data)
    async with lib_station(first.ocpp_port, "ST-RS") as cp:
        await cp.send(status(1, "Occupied"))
        await cp.send(
            tx_event(
                "Started",
                0,
                "rs-1",
                at(1),
                "Authorized",
                "Charging",
                [energy(at(1), 500, "Transaction.Begin")],
                evse={"id": 1},
            )
        )
    await first.stop()
    second: App = await start_app(data_dir=data)
    async with lib_station(second.ocpp_port, "ST-RS") as cp:
        await cp.send(tx_event("Updated", 7, "rs-1", at(30), "ChargingStateChanged", "SuspendedEV"))
        await cp.send(
            tx_event("Ended", 8, "rs-1", at(31), meter=[energy(at(31), 9500, "Transaction.End")])
        )
    assert [r[1] for r in status_rows(second, "ST-RS")] == [
        "Preparing",
        "Charging",
        "SuspendedEV",  # the restored model knew the transaction was open
        "Finishing",
    ]
    assert journal(second, "ST-RS", "transaction_gap") == []  # numbering resumes unchecked
    row = db_rows(data, "SELECT energy_wh, stop_reason FROM sessions WHERE charger_id='ST-RS'")
    assert row == [(9000.0, "Local")]


async def test_a_unit_of_measure_without_unit_means_the_measurands_own(app: App) -> None:
    """The 2.0.1 schema's default unit is Wh; a power sample with only a multiplier is W."""
    sampled = [
        {"value": 11, "measurand": "Power.Active.Import", "unitOfMeasure": {"multiplier": 3}},
        {"value": 4, "unitOfMeasure": {"multiplier": 3}},  # the register: Wh
    ]
    async with lib_station(app.ocpp_port, "ST-UOM") as cp:
        await cp.send(
            c201.MeterValues(evse_id=1, meter_value=[{"timestamp": T0, "sampledValue": sampled}])
        )
    [m] = journal(app, "ST-UOM", "meter")
    assert [tuple(s[1:4]) for s in m["samples"]] == [
        ("Power.Active.Import", 11000.0, "W"),
        ("Energy.Active.Import.Register", 4000.0, "Wh"),
    ]
