"""The journal is lossless: every event kind reads back equal to what was written, in order,
from any cursor — what consumers (InfluxDB shipper, rules) will rely on."""

from __future__ import annotations

from pathlib import Path

from chargewatch import events as ev
from chargewatch import store
from chargewatch.state import LiveState

EVENTS: list[ev.Event] = [
    ev.Connected("CP", 1.0, remote="10.0.0.1:5000", protocol="ocpp1.6"),
    ev.Booted(
        "CP",
        2.0,
        vendor="V",
        model="M",
        serial_number="S",
        firmware_version="1.0",
        heartbeat_interval=300,
    ),
    ev.HeartbeatReceived("CP", 3.0),
    ev.StatusReported(
        "CP",
        4.0,
        connector_id=1,
        status="Faulted",
        error_code="GroundFailure",
        info="RCD",
        vendor_id="https://chargex.inl.gov",
        vendor_error_code="CX002",
        fault_category="safety",
        charger_ts=3.5,
    ),
    ev.Authorized("CP", 5.0, id_tag="TAG", status="Accepted"),
    ev.SessionStarted(
        "CP",
        6.0,
        session_id="7",
        transaction_id="7",
        connector_id=1,
        id_tag="TAG",
        meter_start_wh=100.0,
        started_at=5.9,
        auth_status="Accepted",
    ),
    ev.MeterValuesReported(
        "CP",
        7.0,
        connector_id=1,
        session_id="7",
        samples=(
            ev.Sample(
                6.9,
                "Energy.Active.Import.Register",
                1500.0,
                "Wh",
                None,
                "Sample.Periodic",
                "Outlet",
                None,
            ),
            ev.Sample(6.9, "Voltage", 230.5, "V", "L1-N", "Sample.Periodic", "Outlet", None),
            ev.Sample(
                6.9,
                "Energy.Active.Import.Register",
                None,
                "",
                None,
                "Transaction.End",
                "Outlet",
                "AB12",
            ),
        ),
    ),
    ev.SessionStopped(
        "CP",
        8.0,
        session_id="7",
        meter_stop_wh=2000.0,
        stopped_at=7.9,
        reason="EVDisconnected",
        id_tag="TAG",
        energy_wh=1900.0,
        connector_id=1,
        started_at=5.9,
        meter_start_wh=100.0,
    ),
    ev.DataTransferred("CP", 9.0, vendor_id="com.acme", message_id="m", data="{}"),
    ev.DiagnosticsStatusReported("CP", 10.0, status="Uploaded"),
    ev.FirmwareStatusReported("CP", 11.0, status="Installed", request_id=None),
    ev.LogStatusReported("CP", 12.0, status="Uploaded", request_id=4),
    ev.Connected("CP", 3.0, remote="10.0.0.9:5000", protocol="ocpp2.0.1", commissioning=True),
    ev.CommissioningRequested(
        "CP", 3.5, vendor="V", model="M", serial_number="S1", remote="10.0.0.9:5000"
    ),
    ev.Disconnected("CP", 4.0, code=1000, reason="commissioned", commissioning=True),
    ev.AuthLockedOut(
        "CP-X", 5.0, address="10.0.0.7", locked="address", failures=5, reason="unauthorized"
    ),
    ev.SecurityEventReported(
        "CP", 13.0, type="TamperDetectionActivated", charger_ts=12.5, tech_info="lid"
    ),
    ev.DeviceEventReported(
        "CP",
        13.2,
        connector_id=1,
        component="ConnectorPlugRetentionLock",
        variable="Problem",
        trigger="Alerting",
        actual_value="true",
        tech_code="CX001",
        tech_info="lock motor stalled",
        event_id=17,
        notification_type="HardWiredNotification",
        charger_ts=13.1,
    ),
    ev.TransactionGapDetected(
        "CP",
        13.4,
        session_id="CP:tx-9",
        connector_id=1,
        expected_seq_no=2,
        received_seq_no=5,
        missing=3,
    ),
    ev.AlertChanged(
        "",
        14.5,
        fingerprint="0123456789abcdef",
        rule="ConnectorFaulted",
        severity="major",
        state="firing",
        previous="pending",
        labels={
            "alertname": "ConnectorFaulted",
            "charger": "CP",
            "connector": "1",
            "site": "north",
        },
        annotations={"summary": "Connector 1 of CP is faulted"},
        value=120.0,
        active_since=4.5,
        fired_at=14.5,
    ),
    ev.AlertAcknowledged("", 14.7, fingerprint="0123456789abcdef", by="alice", comment="on it"),
    ev.AlertUnacknowledged("", 14.8, fingerprint="0123456789abcdef", by="alice"),
    ev.SilenceSet(
        "",
        14.9,
        id="s1",
        matchers=['site="north"', 'alertname=~"Charger.*"'],
        starts_at=14.9,
        ends_at=7214.9,
        created_by="bob",
        comment="maintenance",
    ),
    ev.DriverSet(
        "",
        14.95,
        id_tag="04A2B3C4",
        name="Ann",
        targets=["sms:+4917612345678"],
        notify=["finished"],
    ),
    ev.OutageExcluded(
        "CP",
        14.97,
        id="x1",
        connector_id=2,
        starts_at=3600.0,
        ends_at=7200.0,
        category="utility_outage",
        note="grid down",
        created_by="carol",
    ),
    ev.ReportPublished(
        "",
        14.98,
        month="2026-11",
        site="north",
        files=["/var/reports/2026-11/report.html", "/var/reports/2026-11/sessions.csv"],
        summary="Uptime 99.1 %",
        receivers=["noc"],
    ),
    ev.CommandSent(
        "CP",
        14.99,
        command="reset",
        action="Reset",
        message_id="0f8c6c1e-5b55-4c4f-9d43-6b1c2f1f0a11",
        request={"type": "Soft"},
        outcome="answered",
        status="Accepted",
        result={"status": "Accepted"},
        elapsed_ms=12.5,
        by="alice",
    ),
    ev.UploadReceived(
        "CP",
        14.995,
        command="get-diagnostics",
        filename="diag.tar.gz",
        stored="20261202T135630Z-diag.tar.gz",
        bytes=1024,
        sha256="0" * 64,
        content_type="application/octet-stream",
        request_id=None,
        remote="127.0.0.1",
        by="alice",
    ),
    ev.RemediationTried(
        "CP",
        14.996,
        connector_id=1,
        rule="ConnectorFaulted",
        fingerprint="ab12",
        alert_state="firing",
        action="soft-reset",
        command="reset",
        outcome="accepted",
        status="Accepted",
        reason=None,
        spent=True,
        summary="soft reset — Accepted",
        by="self-heal:ConnectorFaulted",
    ),
    ev.Disconnected("CP", 14.0, code=1006, reason=""),
]


def test_every_event_kind_is_covered() -> None:
    assert {type(e) for e in EVENTS} == set(ev.EVENT_TYPES.values())


def test_events_read_back_equal_in_order_from_any_cursor(tmp_path: Path) -> None:
    db = store.open_db(tmp_path / "cw.db")
    state, upserts, inserts = LiveState(), {}, []
    for event in EVENTS:
        state.apply(event, upserts, inserts)
    store.write(db, [store.encode_event(e) for e in EVENTS], upserts.values(), inserts, [])
    read = store.read_journal(db)
    assert [e for _, e in read] == EVENTS
    seqs = [seq for seq, _ in read]
    assert seqs == sorted(seqs)
    later = store.read_journal(db, after=seqs[4], limit=3)
    assert [e for _, e in later] == EVENTS[5:8]
    # the projections written in the same transaction reload to the same state
    again = store.load_state(db)
    assert again.chargers["CP"].connectors[1].status == "Faulted"
    assert again.chargers["CP"].boot_count == 1 and not again.chargers["CP"].connected
    assert again.sessions == {}  # the session was stopped
    assert db.execute("SELECT energy_wh FROM sessions").fetchall() == [(1900.0,)]
    # alert transitions are projected into the alert tables, not into any charger
    assert db.execute("SELECT fingerprint, state, fired_at FROM alerts").fetchall() == [
        ("0123456789abcdef", "firing", 14.5)
    ]
    assert db.execute("SELECT state, previous, at FROM alert_history").fetchall() == [
        ("firing", "pending", 14.5)
    ]
    assert set(again.chargers) == {"CP"}
