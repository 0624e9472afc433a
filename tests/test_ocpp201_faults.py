"""OCPP 2.0.1 faults arrive as NotifyEvent: a problem variable or a techCode makes the EVSE
(or the station, EVSE 0) Faulted with ChargeX's vendor id and category for CX codes, and its
clearing returns the port to what it was doing; temperatures become meter samples."""

from __future__ import annotations

from helpers import db_rows, eventually
from helpers_v201 import STATION, T0, at, journal, lib_station, status, status_rows, tx_event
from ocpp.v201 import call as c201

from chargewatch.app import App


def problem(evse: int | None, tech_code: str | None, cleared: bool = False, **kw) -> dict:
    component: dict = {"name": kw.pop("component", "ConnectorPlugRetentionLock")}
    if evse is not None:
        component["evse"] = {"id": evse}
    item = {
        "eventId": kw.pop("event_id", 1),
        "timestamp": kw.pop("ts", T0),
        "trigger": "Alerting",
        "actualValue": kw.pop("value", "false" if cleared else "true"),
        "eventNotificationType": "HardWiredNotification",
        "component": component,
        "variable": {"name": kw.pop("variable", "Problem")},
        **kw,
    }
    if tech_code is not None:
        item["techCode"] = tech_code
    if cleared:
        item["cleared"] = True
    return item


def notify(*items: dict) -> c201.NotifyEvent:
    return c201.NotifyEvent(generated_at=T0, seq_no=0, event_data=list(items))


async def test_a_chargex_fault_via_notify_event_and_its_clearing(app: App, http) -> None:
    async with lib_station(app.ocpp_port, "ST-CX") as cp:
        await cp.send(status(1, "Occupied"))
        await cp.send(
            tx_event("Started", 0, "cx-1", at(1), "Authorized", "Charging", evse={"id": 1})
        )
        await cp.send(notify(problem(1, "CX001", ts=at(2), techInfo="lock motor stalled")))
        body = (await http.get("/api/v1/chargers/ST-CX")).json()
        [port] = body["connectors"]
        assert (port["status"], port["chargex_code"], port["fault_category"]) == (
            "Faulted",
            "CX001",
            "maintenance",
        )
        await eventually(
            lambda: any(
                a.rule == "ConnectorFaulted" and a.labels.get("charger") == "ST-CX"
                for a in app.rules.active()
            )
        )
        # a second fault on the station itself (no EVSE): connector 0, safety
        await cp.send(notify(problem(None, "CX008", ts=at(3), component="EmergencyStopSensor")))
        await cp.send(notify(problem(1, "CX001", cleared=True, ts=at(4))))  # back to charging
        await cp.send(
            notify(problem(None, None, ts=at(5), component="EmergencyStopSensor", value="false"))
        )
    rows = status_rows(app, "ST-CX")
    cx = "https://chargex.inl.gov"
    assert rows == [
        (1, "Preparing", "NoError", None, None, None),
        (1, "Charging", "NoError", None, None, None),
        (1, "Faulted", "ConnectorLockFailure", cx, "CX001", "maintenance"),
        (0, "Faulted", "OtherError", cx, "CX008", "safety"),  # EmergencyStop: no 1.6 code
        (1, "Charging", "NoError", None, None, None),
        (0, "Available", "NoError", None, None, None),
    ]
    info = db_rows(
        app.config.data_dir,
        "SELECT info FROM status_history WHERE charger_id='ST-CX' AND vendor_error_code='CX001'",
    )
    assert info == [("ConnectorPlugRetentionLock.Problem=true: lock motor stalled",)]
    raw = journal(app, "ST-CX", "device_event")
    assert [(d["connector_id"], d["tech_code"], d["cleared"]) for d in raw] == [
        (1, "CX001", False),
        (0, "CX008", False),
        (1, "CX001", True),
        (0, None, False),
    ]
    assert raw[0]["component"] == "ConnectorPlugRetentionLock" and raw[0]["variable"] == "Problem"
    assert raw[0]["tech_info"] == "lock motor stalled" and raw[0]["trigger"] == "Alerting"


async def test_a_vendor_tech_code_and_a_tripped_rcd_are_faults(app: App) -> None:
    async with lib_station(app.ocpp_port, "ST-VND") as cp:
        await cp.send(c201.BootNotification(charging_station=STATION, reason="PowerUp"))
        await cp.send(status(1, "Available"))
        await cp.send(notify(problem(1, "E-4711", component="ChargingStation", variable="Fault")))
        await cp.send(notify(problem(2, None, component="RCD", variable="Tripped")))
        await cp.send(notify(problem(2, None, component="RCD", variable="Tripped", cleared=True)))
    assert status_rows(app, "ST-VND") == [
        (1, "Available", "NoError", None, None, None),
        # a vendor's own code is identified by (vendor, code), as 1.6 vendorId does
        (1, "Faulted", "OtherError", "Kempower", "E-4711", "maintenance"),
        (2, "Faulted", "GroundFailure", None, None, "safety"),
        (2, "Available", "NoError", None, None, None),
    ]


async def test_temperature_monitor_becomes_a_meter_sample(app: App) -> None:
    item = problem(1, None, component="ChargingStation", variable="Temperature", value="81.5")
    item["trigger"] = "Delta"
    async with lib_station(app.ocpp_port, "ST-HOT") as cp:
        await cp.send(notify(item))
    [m] = journal(app, "ST-HOT", "meter")
    assert m["connector_id"] == 1
    assert m["samples"][0][1:7] == ["Temperature", 81.5, "degC", None, "Trigger", "Body"]
    assert status_rows(app, "ST-HOT") == []  # a reading, not a fault
    await eventually(
        lambda: any(
            a.rule == "Overheating" and a.labels.get("charger") == "ST-HOT"
            for a in app.rules.active()
        )
    )


async def test_tech_codes_naming_a_16_error_and_an_operated_breaker(app: App) -> None:
    """A techCode that is a 1.6 error code's name is that fault (safety for HighTemperature);
    OverCurrentProtection reports "Operated" in the device model."""
    async with lib_station(app.ocpp_port, "ST-NAMED") as cp:
        await cp.send(c201.BootNotification(charging_station=STATION, reason="PowerUp"))
        await cp.send(notify(problem(1, "HighTemperature", component="EVSE")))
        await cp.send(
            notify(problem(2, None, component="OverCurrentProtection", variable="Operated"))
        )
    assert status_rows(app, "ST-NAMED") == [
        (1, "Faulted", "HighTemperature", "Kempower", "HighTemperature", "safety"),
        (2, "Faulted", "OverCurrentFailure", None, None, "safety"),
    ]


async def test_a_fault_cleared_before_the_status_adds_no_row_of_its_own(app: App) -> None:
    """Stations may send the clearing NotifyEvent before StatusNotification Available: the
    port stays Faulted with the same fault until the status says otherwise."""
    async with lib_station(app.ocpp_port, "ST-ORDER") as cp:
        await cp.send(status(1, "Available"))
        await cp.send(notify(problem(1, "CX002", component="Connector")))
        await cp.send(status(1, "Faulted"))
        await cp.send(notify(problem(1, "CX002", component="Connector", cleared=True)))
        await cp.send(status(1, "Available"))
    cx = "https://chargex.inl.gov"
    assert status_rows(app, "ST-ORDER") == [
        (1, "Available", "NoError", None, None, None),
        (1, "Faulted", "GroundFailure", cx, "CX002", "safety"),
        (1, "Faulted", "GroundFailure", cx, "CX002", "safety"),  # the StatusNotification
        (1, "Available", "NoError", None, None, None),
    ]
