"""The v2 write path (influxdb-client, /api/v2/write with token, org and bucket) against a real
server implementing it — VictoriaMetrics — read back through that server's export API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers import call, eventually, raw_charger
from servers import VictoriaMetrics

from chargewatch.app import App


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_v2_write_path_reaches_the_server(start_app, victoria: VictoriaMetrics) -> None:
    app: App = await start_app(
        f"influxdb:\n  url: {victoria.url}\n  api: v2\n  bucket: cw\n  org: noc\n"
        "  token: ${CW_TEST_TOKEN:-secret-token}\n  flush_interval: 0.1\n"
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    async with raw_charger(app.ocpp_port, "CP-V2") as ws:
        await call(ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        tx = (
            await call(
                ws,
                "StartTransaction",
                {"connectorId": 2, "idTag": "T", "meterStart": 1000, "timestamp": iso(start)},
            )
        )[2]["transactionId"]
        for i in range(5):
            await call(
                ws,
                "MeterValues",
                {
                    "connectorId": 2,
                    "transactionId": tx,
                    "meterValue": [
                        {
                            "timestamp": iso(start + timedelta(seconds=10 * (i + 1))),
                            "sampledValue": [
                                {"value": str(1000 + 250 * (i + 1)), "unit": "Wh"},
                                {"value": "7.5", "measurand": "Power.Active.Import", "unit": "kW"},
                            ],
                        }
                    ],
                },
            )
        await call(
            ws,
            "StopTransaction",
            {
                "transactionId": tx,
                "meterStop": 2250,
                "timestamp": iso(start + timedelta(seconds=60)),
            },
        )
    await eventually(lambda: app.influx.backlog == 0, 20)

    def energy() -> list[float]:
        rows = victoria.export(
            'meter_value_value{charger="CP-V2",measurand="Energy.Active.Import.Register"}'
        )
        return rows[0]["values"] if rows else []

    await eventually(lambda: len(energy()) == 5, 20)
    assert energy() == [1250.0, 1500.0, 1750.0, 2000.0, 2250.0]
    power = victoria.export('meter_value_value{measurand="Power.Active.Import"}')
    assert power[0]["values"] == [7500.0] * 5
    assert power[0]["metric"]["connector"] == "2"
    stop = victoria.export('session_energy_wh{charger="CP-V2",event="stop"}')
    assert stop[0]["values"] == [1250.0]
    assert stop[0]["timestamps"] == [int((start + timedelta(seconds=60)).timestamp() * 1000)]
