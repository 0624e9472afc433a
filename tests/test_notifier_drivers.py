"""Drivers hear about their own sessions — started, finished, interrupted by a fault, idle
after charging — only what they opted in to, and never anyone else's."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from helpers import NOW, call, eventually, raw_charger
from notify_servers import HttpReceiver

from chargewatch import events as ev
from chargewatch.app import App
from notifier.drivers import Driver, DriverNotifier

T0 = 1_790_000_000.0
ALL = frozenset({"started", "finished", "interrupted", "idle"})


def notifier(**notify: frozenset[str]) -> DriverNotifier:
    drivers = {
        tag: Driver(tag, tag.title(), (f"file:/tmp/{tag}",), notify.get(tag, ALL))
        for tag in ("ann", "bob")
    }
    return DriverNotifier(drivers, 600.0, {"CP-1": "north"}, {"north": "Europe/Berlin"})


def started(tag: str, connector: int, at: float, sid: str) -> ev.SessionStarted:
    return ev.SessionStarted(
        "CP-1", at, session_id=sid, transaction_id=sid, connector_id=connector, id_tag=tag,
        meter_start_wh=0.0, started_at=at,
    )  # fmt: skip


def status(connector: int, state: str, at: float, code: str = "NoError") -> ev.StatusReported:
    return ev.StatusReported("CP-1", at, connector_id=connector, status=state, error_code=code)


def stopped(connector: int, at: float, sid: str, wh: float) -> ev.SessionStopped:
    return ev.SessionStopped(
        "CP-1", at, session_id=sid, stopped_at=at, energy_wh=wh, connector_id=connector
    )


def feed(d: DriverNotifier, *events: ev.Event) -> list[tuple[str, str, str]]:
    out = [n for e in events for n in d.event(e)]
    return [(n.receiver, n.group_labels["notice"], n.text) for n in out]


def test_a_whole_visit() -> None:
    d = notifier()
    got = feed(
        d,
        started("ann", 1, T0, "7"),
        status(1, "Charging", T0 + 5),
        status(1, "SuspendedEV", T0 + 3600),  # the battery is full; the car stays
        stopped(1, T0 + 3700, "7", 23_456.0),
    )
    assert [(r, n) for r, n, _ in got] == [("driver:ann", "started"), ("driver:ann", "finished")]
    assert "CP-1 connector 1 at 16:13 CEST" in got[0][2]  # in the site's time zone
    assert "23.46 kWh in 1h2m" in got[1][2]
    idle = d.advance(T0 + 3600 + 599)
    assert idle == []
    [warning] = d.advance(T0 + 3600 + 600)
    assert warning.receiver == "driver:ann" and warning.group_labels["notice"] == "idle"
    assert "finished charging 10m ago" in warning.text
    assert d.advance(T0 + 86400) == []  # warned once
    feed(d, status(1, "Available", T0 + 5000))
    assert d.visits == {}  # the car left


def test_leaving_in_time_means_no_idle_warning() -> None:
    d = notifier()
    feed(d, started("ann", 1, T0, "7"), status(1, "Charging", T0 + 1))
    feed(d, stopped(1, T0 + 100, "7", 500.0), status(1, "Finishing", T0 + 100))
    feed(d, status(1, "Available", T0 + 400))
    assert d.advance(T0 + 10_000) == []


def test_a_fault_tells_only_the_driver_of_that_connector() -> None:
    d = notifier()
    feed(d, started("ann", 1, T0, "1"), started("bob", 2, T0, "2"))
    got = feed(d, status(2, "Faulted", T0 + 60, "GroundFailure"))
    assert [(r, n) for r, n, _ in got] == [("driver:bob", "interrupted")]
    assert "GroundFailure" in got[0][2] and "ann" not in got[0][2].lower()
    assert feed(d, status(2, "Faulted", T0 + 70, "GroundFailure")) == []  # told once


def test_a_charger_fault_tells_each_driver_of_their_own_session_only() -> None:
    d = notifier()
    feed(d, started("ann", 1, T0, "1"), started("bob", 2, T0, "2"))
    got = feed(d, status(0, "Faulted", T0 + 60, "PowerMeterFailure"))
    assert sorted((r, n) for r, n, _ in got) == [
        ("driver:ann", "interrupted"),
        ("driver:bob", "interrupted"),
    ]
    for receiver, _, text in got:
        mine = "connector 1" if receiver == "driver:ann" else "connector 2"
        other = "connector 2" if receiver == "driver:ann" else "connector 1"
        assert mine in text and other not in text


def test_a_fault_is_told_only_when_it_outlasts_the_grace() -> None:
    d = DriverNotifier({"ANN": Driver("ANN", "Ann", ("console:",), ALL)}, 600.0, fault_grace=30.0)
    feed(d, started("ann", 1, T0, "1"))  # the charger sent the tag in lower case
    assert feed(d, status(1, "Faulted", T0 + 10, "GroundFailure")) == []
    assert feed(d, status(1, "Charging", T0 + 20)) == []  # a blip: cleared within 30 s
    assert d.advance(T0 + 100) == []
    feed(d, status(0, "Faulted", T0 + 200, "PowerMeterFailure"))
    [told] = d.advance(T0 + 230)
    assert told.group_labels["notice"] == "interrupted" and "PowerMeterFailure" in told.text
    assert d.advance(T0 + 10_000) == []


def test_opt_ins_and_unknown_tags() -> None:
    d = notifier(ann=frozenset({"finished"}), bob=frozenset())
    got = feed(
        d,
        started("ann", 1, T0, "1"),
        started("bob", 2, T0, "2"),
        started("stranger", 3, T0, "3"),
        stopped(1, T0 + 60, "1", 100.0),
        stopped(2, T0 + 60, "2", 100.0),
        stopped(3, T0 + 60, "3", 100.0),
    )
    assert [(r, n) for r, n, _ in got] == [("driver:ann", "finished")]
    assert 3 not in {k[1] for k in d.visits}  # nobody's session is not even followed


def test_snapshot_continues() -> None:
    d = notifier()
    feed(d, started("ann", 1, T0, "7"), status(1, "Charging", T0 + 5))
    feed(d, status(1, "SuspendedEV", T0 + 100))
    again = notifier()
    again.restore(json.loads(json.dumps(d.snapshot())))
    [warning] = again.advance(T0 + 700)
    assert warning.group_labels["notice"] == "idle"


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


async def test_drivers_end_to_end_with_a_real_charger(
    start_app, tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    ann = tmp_path / "ann.jsonl"
    app: App = await start_app(f"""
notifications:
  driver_idle_warning_after: 1s
  drivers:
    - {{id_tag: ANN-TAG, name: Ann, targets: ["file:{ann}"],
       notify: [started, finished, interrupted, idle]}}
""")
    async with raw_charger(app.ocpp_port, "CP-1") as ws:
        await call(ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        start = await call(
            ws,
            "StartTransaction",
            {"connectorId": 1, "idTag": "ANN-TAG", "meterStart": 1000, "timestamp": NOW},
        )
        txid = start[2]["transactionId"]
        await eventually(lambda: len(lines(ann)) >= 1)
        assert lines(ann)[0]["title"] == "Your charging session at CP-1"
        assert "Charging started at CP-1 connector 1" in lines(ann)[0]["text"]
        for state in ("Charging", "SuspendedEV"):
            await call(
                ws,
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": state, "timestamp": NOW},
            )
        await eventually(lambda: len(lines(ann)) >= 2)
        assert "still occupies the charger" in lines(ann)[1]["text"]
        await call(
            ws,
            "StopTransaction",
            {"transactionId": txid, "meterStop": 13_500, "timestamp": NOW, "idTag": "ANN-TAG"},
        )
        await eventually(lambda: len(lines(ann)) >= 3)
        assert "12.50 kWh" in lines(ann)[2]["text"]
    # a driver registered through the API hears about the next session
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        local = await http.put("/api/v1/drivers/BOB-TAG", json={"targets": [f"file:{ann}"]})
        assert local.status_code == 422  # the API cannot make the server write files
        put = await http.put(
            "/api/v1/drivers/BOB-TAG",
            json={"name": "Bob", "targets": [f"json://127.0.0.1:{http_receiver.port}/bob"],
                  "notify": ["started"]},
        )  # fmt: skip
        assert put.status_code == 200, put.text
        listed = (await http.get("/api/v1/drivers")).json()
        assert {d["id_tag"] for d in listed} == {"ANN-TAG", "BOB-TAG"}
        config_change = await http.put(
            "/api/v1/drivers/ANN-TAG", json={"targets": ["console:"], "notify": []}
        )
        assert config_change.status_code == 409
        bad = await http.put("/api/v1/drivers/X", json={"targets": ["sms:+4917612345678"]})
        assert bad.status_code == 422 and "twilio" in bad.text
    async with raw_charger(app.ocpp_port, "CP-1") as ws:
        await call(
            ws,
            "StartTransaction",
            {"connectorId": 2, "idTag": "bob-tag", "meterStart": 0, "timestamp": NOW},
        )  # idTags compare case-insensitively
        [told] = await http_receiver.wait_for_async(1)
        assert "connector 2" in told.json()["message"]
    assert len(lines(ann)) == 3  # Ann heard nothing of Bob's session
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        assert (await http.delete("/api/v1/drivers/BOB-TAG")).status_code == 204
        assert {d["id_tag"] for d in (await http.get("/api/v1/drivers")).json()} == {"ANN-TAG"}
