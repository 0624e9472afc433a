"""`chargewatch charger CMD CHARGER_ID`: the CLI in a thread against a real App, with real
library chargers answering (as tests/test_ops_cli.py runs the operator commands)."""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers_v201 import journal
from test_commands import Charger16, Station201, charger

from chargewatch.app import App
from chargewatch.cli import main


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARGEWATCH_URL", raising=False)
    monkeypatch.delenv("CHARGEWATCH_TOKEN", raising=False)


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def url(app: App) -> str:
    return f"--url=http://127.0.0.1:{app.http_port}"


async def test_reset_and_configuration_on_16(app, capsys) -> None:
    async with charger(app, "CP-C", Charger16, "ocpp1.6") as cp:
        code, out, err = await cli(
            capsys, "charger", "reset", "CP-C", "--hard", "--by", "bob", url(app)
        )
        assert code == 0, err
        assert out.startswith("CP-C Reset (ocpp1.6): Accepted in ")
        code, out, err = await cli(
            capsys, "charger", "get-configuration", "CP-C", "HeartbeatInterval", url(app)
        )
        assert code == 0, err
        assert '"HeartbeatInterval"' in out and "GetConfiguration (ocpp1.6): answered" in out
        code, out, err = await cli(capsys, "charger", "remote-stop", "CP-C", "7", url(app))
        assert code == 1 and "answered Rejected" in err
        assert [a for a, _ in cp.received] == ["Reset", "GetConfiguration", "RemoteStopTransaction"]
    assert journal(app, "CP-C", "command")[0]["by"] == "bob"


async def test_variables_json_and_refusals_on_201(app, capsys) -> None:
    async with charger(app, "CS-C", Station201, "ocpp2.0.1"):
        code, out, err = await cli(
            capsys,
            "charger",
            "get-variables",
            "CS-C",
            "OCPPCommCtrlr.HeartbeatInterval",
            "--json",
            url(app),
        )
        assert code == 0, err
        answer = json.loads(out)
        assert answer["result"]["getVariableResult"][0]["attributeValue"] == "300"
        code, out, err = await cli(capsys, "charger", "get-configuration", "CS-C", url(app))
        assert code == 1 and "use get-variables" in err
        code, out, err = await cli(
            capsys,
            "charger",
            "change-availability",
            "CS-C",
            "inoperative",
            "--connector",
            "1",
            url(app),
        )
        assert code == 0 and "ChangeAvailability (ocpp2.0.1): Accepted" in out
    code, out, err = await cli(capsys, "charger", "reset", "CS-C", url(app))
    assert code == 1 and "CS-C is not connected" in err
    with pytest.raises(SystemExit) as usage:
        await cli(capsys, "charger", "set-variables", "CS-C", "novalue", url(app))
    assert usage.value.code == 2
    assert "'novalue' is not COMPONENT.VARIABLE=VALUE" in capsys.readouterr().err
