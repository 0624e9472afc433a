"""`chargewatch rules check` and `chargewatch rules test` as an operator runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chargewatch.cli import main

PACKS = Path(__file__).parent.parent / "rules" / "packs"
UNKNOWN_MEASURAND = (
    "rules:\n  - name: Hot\n    condition:\n      measurand: {name: Temprature, threshold: 70}\n"
)
DUPLICATE = (
    "rules:\n"
    "  - name: A\n"
    "    condition: {status: {in: [Faulted]}}\n"
    "  - name: A\n"
    "    condition: {status: {in: [Faulted]}}\n"
)


def test_check_the_default_pack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check"]) == 0
    assert capsys.readouterr().out.strip() == "22 rules in 4 files: OK"


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


def test_check_as_a_console_command() -> None:
    """The real entry point, as an operator runs it."""
    run = subprocess.run(
        [sys.executable, "-m", "chargewatch.cli", "rules", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, "22 rules in 4 files: OK\n", "")


def test_check_reports_errors_of_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(UNKNOWN_MEASURAND)
    (tmp_path / "b.yaml").write_text(DUPLICATE)
    assert main(["rules", "check", str(tmp_path / "*.yaml")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{tmp_path}/a.yaml:4: rules[0].condition.measurand.name: unknown measurand 'Temprature'",
        f"{tmp_path}/b.yaml:4: rules[1].name (A): duplicate rule name "
        f"(first defined in {tmp_path}/b.yaml:2)",
        "2 errors",
    ]


def test_check_reports_schema_and_meaning_errors_of_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DUPLICATE + UNKNOWN_MEASURAND.removeprefix("rules:\n"))
    assert main(["rules", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:8: rules[2].condition.measurand.name: unknown measurand" in err
    assert f"{bad}:4: rules[1].name (A): duplicate rule name" in err


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
    assert capsys.readouterr().out.strip() == "23 rules in 5 files: OK"


def test_check_files_against_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """FILES stand in for rules.files: the built-in pack stays, so its overrides still check."""
    config = tmp_path / "chargewatch.yaml"
    config.write_text(
        "rules:\n  disabled: [Flapping]\n"
        "  overrides:\n    - site: depot\n      params: {max_temperature_c: 75}\n"
    )
    extra = tmp_path / "extra.yaml"
    extra.write_text("rules:\n  - name: Extra\n    condition: {status: {in: [Reserved]}}\n")
    assert (
        main(["rules", "check", str(extra), str(PACKS / "faults.yaml"), "--config", str(config)])
        == 0
    )
    assert capsys.readouterr().out.strip() == "23 rules in 5 files: OK"
    config.write_text("rules:\n  builtin: false\n  disabled: [Flapping]\n")
    assert main(["rules", "check", str(extra), "--config", str(config)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{config}: rules.disabled: no rule named 'Flapping'",
        "1 error",
    ]


def test_rules_test_passes_the_builtin_tests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].endswith("tests, 0 failed") and all(
        line.startswith("ok   ") for line in out[:-1]
    )


def test_rules_test_reports_a_wrong_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = tmp_path / "wrong_test.yaml"
    test.write_text(
        f"rule_files: ['{PACKS}/*.yaml']\n"
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
    assert out.strip().endswith("1 test, 1 failed")


def test_rules_test_reports_a_bad_file_and_runs_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = f"rule_files: ['{PACKS}/*.yaml']\ntests:\n"
    (tmp_path / "a_test.yaml").write_text(
        header + "  - name: no kind\n    events: [{at: 0s, charger: CP1}]\n"
        "    expect: [{at: 1m, alerts: []}]\n"
    )
    (tmp_path / "b_test.yaml").write_text(  # a connector id that is not a number
        header + "  - name: connector one\n"
        "    events: [{at: 0s, kind: status, charger: CP1, connector_id: one, status: Faulted}]\n"
        "    expect: [{at: 1m, alerts: []}]\n"
    )
    (tmp_path / "c_test.yaml").write_text(
        header + "  - name: nothing happens\n    expect: [{at: 1h, alerts: []}]\n"
    )
    assert main(["rules", "test", str(tmp_path / "*_test.yaml")]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"ok   {tmp_path}/c_test.yaml: nothing happens",
        "1 test, 0 failed, 2 bad files",
    ]
    err = captured.err.splitlines()
    assert err[0].startswith(f"{tmp_path}/a_test.yaml:4: tests[0].events[0].kind: Field required")
    assert err[2] == (
        f"{tmp_path}/b_test.yaml:4: tests[0].events[0]: cannot build a status event: "
        "connector_id must be int, not 'one'"
    )


def test_rules_test_refuses_a_state_an_active_alert_cannot_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = tmp_path / "state_test.yaml"
    test.write_text(
        f"rule_files: ['{PACKS}/*.yaml']\ntests:\n  - name: resolved is not active\n"
        "    expect: [{at: 1m, alerts: [{alertname: ConnectorFaulted, state: resolved}]}]\n"
    )
    assert main(["rules", "test", str(test)]) == 1
    assert (
        f"{test}:4: tests[0].expect[0].alerts[0].state: Input should be 'pending' or 'firing'"
        in capsys.readouterr().err
    )
