"""`chargewatch rules check` and `chargewatch rules test` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargewatch.cli import main


def test_check_the_default_pack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check"]) == 0
    assert capsys.readouterr().out.strip() == "19 rules in 4 files: OK"


def test_check_reports_every_error_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n"
        "  - name: A\n"
        "    condition: {status: {in: [Faulted]}}\n"
        "  - name: A\n"
        "    condition: {status: {in: [Faulted]}}\n"
        "    annotations: {summary: $nothing}\n"
    )
    assert main(["rules", "check", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"{bad}:4: rules[1].name (A): duplicate rule name (first defined in {bad}:2)" in err
    assert any(
        line.startswith(f"{bad}:6: rules[1].annotations.summary (A): $nothing") for line in err
    )
    assert err[-1] == "2 errors"


def test_check_a_glob_that_matches_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", "/nonexistent/*.yaml"]) == 1
    assert "no rule file matches '/nonexistent/*.yaml'" in capsys.readouterr().err


def test_check_the_config_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "chargewatch.yaml"
    config.write_text("rules:\n  overrides:\n    - site: depot\n      params: {max_temp: 80}\n")
    assert main(["rules", "check", "--config", str(config)]) == 1
    assert (
        f"{config}: rules.overrides[0].params.max_temp: no rule has a parameter 'max_temp'"
        in capsys.readouterr().err
    )
    config.write_text("rules:\n  files: [mine/*.yaml]\n  disabled: [Flapping]\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "extra.yaml").write_text(
        "rules:\n  - name: Extra\n    condition: {status: {in: [Reserved]}}\n"
    )
    assert main(["rules", "check", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "20 rules in 5 files: OK"


def test_rules_test_passes_the_builtin_tests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].endswith("tests, 0 failed") and all(
        line.startswith("ok   ") for line in out[:-1]
    )


def test_rules_test_reports_a_wrong_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packs = Path(__file__).parent.parent / "rules" / "packs"
    test = tmp_path / "wrong_test.yaml"
    test.write_text(
        f"rule_files: ['{packs}/*.yaml']\n"
        "tests:\n"
        "  - name: faulted fires at once, it does not as for is 2m\n"
        "    events:\n"
        "      - {at: 0s, kind: status, charger: CP1, connector_id: 1, status: Faulted}\n"
        "    expect:\n"
        "      - {at: 1m, alertname: ConnectorFaulted, alerts: [{alertname: ConnectorFaulted}]}\n"
    )
    assert main(["rules", "test", str(test)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {test}: faulted fires at once" in out
    assert "at 1m: expected ConnectorFaulted firing {}, not found" in out
    assert "at 1m: unexpected ConnectorFaulted pending" in out
    assert out.strip().endswith("1 tests, 1 failed")
