"""Declared outage exclusions end to end: `chargewatch outage exclude|list|remove` against
a running App, the API's refusals, and the declared time excluded in the monthly report."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from chargewatch import events as ev
from chargewatch.cli import main
from reports.monthly import build_report


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


async def test_declare_list_withdraw_and_the_report_counts_it(
    start_app, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app = await start_app()
    url = f"--url=http://127.0.0.1:{app.http_port}"
    # CP is offline 10 Nov 10:00-12:00 (120 min on both of its ports)
    await app.journal.commit(
        [
            ev.Connected("CP", ts("2026-10-01T00:00")),
            ev.StatusReported("CP", ts("2026-10-01T00:00"), connector_id=1, status="Available"),
            ev.Disconnected("CP", ts("2026-11-10T10:00"), code=1006),
            ev.Connected("CP", ts("2026-11-10T12:00")),
        ]
    )
    code, out, err = await cli(
        capsys, "outage", "exclude", url, "--charger", "CP", "--from", "2026-11-10T09:00Z",
        "--to", "2026-11-10T11:30Z", "--category", "utility_outage", "--note", "grid", "--by", "op",
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    exclusion_id = out.split()[1].rstrip(":")
    code, out, _ = await cli(capsys, "outage", "list", url)
    assert code == 0 and exclusion_id in out and "utility_outage" in out

    # 90 of the 120 offline minutes are declared: (43200 − 30) / 43200
    report = build_report(app.config, "2026-11", now=ts("2026-12-01T00:00"))
    row = report.ports[report.ports["port_id"] == "CP-1"].iloc[0]
    assert (row["outage_minutes"], row["excluded_minutes"]) == (120, 90)
    assert row["uptime_pct"] == pytest.approx((43200 - 30) / 43200 * 100, abs=1e-3)

    code, out, _ = await cli(capsys, "outage", "remove", url, exclusion_id, "--by", "op")
    assert code == 0 and "withdrawn" in out
    report = build_report(app.config, "2026-11", now=ts("2026-12-01T00:00"))
    assert report.ports.iloc[0]["excluded_minutes"] == 0
    code, out, _ = await cli(capsys, "outage", "list", url, "--removed")
    assert "removed" in out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"category": "bad luck"}, "is not one of utility_outage"),
        ({"ends_at": "2026-11-10T08:00:00Z"}, "ends_at must be after starts_at"),
        ({"ends_at": "2028-11-10T08:00:00Z"}, "at most 366 days"),
        ({"charger_id": ""}, "at least 1 character"),
    ],
)
async def test_the_api_refuses_bad_declarations(start_app, body, message) -> None:
    app = await start_app()
    good = {
        "charger_id": "CP",
        "starts_at": "2026-11-10T09:00:00Z",
        "ends_at": "2026-11-10T10:00:00Z",
        "category": "vandalism",
        "by": "op",
    }
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        response = await http.post("/api/v1/exclusions", json={**good, **body})
        assert response.status_code == 422
        assert message in response.text
        missing = await http.delete("/api/v1/exclusions/nope", params={"by": "op"})
        assert missing.status_code == 404


def test_a_scheduled_report_to_an_undefined_receiver_is_a_config_error() -> None:
    from chargewatch.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="receiver 'nco' is not defined") as info:
        parse_config("reports:\n  schedule:\n    receivers: [nco]\n", file="cw.yaml")
    assert info.value.file == "cw.yaml" and info.value.line is not None
