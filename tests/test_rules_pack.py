"""The default rule pack passes its rule tests, and every rule in it has some."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rules import loader
from rules.testing import run_file

TESTS = sorted((Path(loader.__file__).parent / "tests").glob("*.yaml"))


def _cases() -> list[tuple[Path, str]]:
    out = []
    for path in TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            out.append((path, case["name"]))
    return out


@pytest.fixture(scope="module")
def outcomes() -> dict[tuple[str, str], list[str]]:
    return {(str(p), o.name): o.failures for p in TESTS for o in run_file(p)}


@pytest.mark.parametrize(("path", "name"), _cases(), ids=lambda x: getattr(x, "stem", x))
def test_rule_test_passes(outcomes, path: Path, name: str) -> None:
    failures = outcomes[(str(path), name)]
    assert not failures, "\n".join(failures)


def test_every_default_rule_is_tested_firing() -> None:
    """A rule added to the pack without a test that shows it firing fails here."""
    rules, errors = loader.load(loader.default_files())
    assert not errors
    fired = set()
    for path in TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for expect in case["expect"]:
                fired |= {
                    a["alertname"]
                    for a in expect.get("alerts", [])
                    if a.get("state", "firing") == "firing"
                }
    assert {r.spec.name for r in rules} - fired == set()


def test_rule_test_names_are_unique_within_a_file() -> None:
    """Outcomes are found by name: two tests of one name would hide one of them."""
    for path in TESTS:
        names = [case["name"] for case in yaml.safe_load(path.read_text())["tests"]]
        assert len(names) == len(set(names)), path
