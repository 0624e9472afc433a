"""Bad rule files are rejected with errors naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import loader
from rules.params import Override

GOOD = """\
rules:
  - name: Hot
    scope: connector
    condition:
      measurand: {name: Temperature, threshold: $limit}
    params: {limit: 70}
    annotations: {summary: "$charger is hot: $value"}
"""


def errors_of(tmp_path: Path, text: str, name: str = "r.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    _, errors = loader.load([path])
    return [str(e) for e in errors]


def test_the_default_pack_and_a_good_file_have_no_errors(tmp_path: Path) -> None:
    assert loader.load(loader.default_files())[1] == []
    assert errors_of(tmp_path, GOOD) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  - name: [unclosed\n", "r.yaml:3: invalid YAML"),
        (
            GOOD.replace("    params:", "    colour: red\n    params:"),
            "r.yaml:6: rules[0].colour: unknown key",
        ),
        (
            GOOD.replace("Temperature", "temperature"),
            "r.yaml:5: rules[0].condition.measurand.name: unknown measurand 'temperature'; "
            "did you mean Temperature?",
        ),
        (
            GOOD.replace(
                "measurand: {name: Temperature, threshold: $limit}", "status: {in: [Broken]}"
            ),
            "r.yaml:5: rules[0].condition.status.in: unknown status 'Broken'",
        ),
        (
            GOOD.replace("threshold: $limit", "threshold: $limt"),
            "r.yaml:5: rules[0].condition.measurand.threshold (Hot): "
            "parameter $limt is not defined in params",
        ),
        (
            GOOD.replace("$value", "$temperature"),
            "r.yaml:7: rules[0].annotations.summary (Hot): $temperature is not defined here",
        ),
        (
            GOOD.replace("    params:", "    labels: {where: $site}\n    params:"),
            "r.yaml:6: rules[0].labels: label 'where' is templated",
        ),
        (
            GOOD.replace("scope: connector", "scope: site"),
            "r.yaml:3: rules[0].scope (Hot): "
            "a measurand condition works in scope connector, not site",
        ),
        (
            GOOD.replace("threshold: $limit}", "threshold: 1, aggregate: avg, window: 0s}"),
            "r.yaml:5: rules[0].condition.measurand.window (Hot): window must be longer than 0s",
        ),
        (
            GOOD.replace(
                "measurand: {name: Temperature, threshold: $limit}",
                "count: {events: [boot], window: 0s, threshold: 3}",
            ).replace("$value", "$count"),
            "r.yaml:5: rules[0].condition.count.window (Hot): window must be longer than 0s",
        ),
        (
            GOOD.replace(
                "measurand: {name: Temperature, threshold: $limit}", "status: {in: [faulted]}"
            ),
            "r.yaml:5: rules[0].condition.status.in: unknown status 'faulted'; "
            "did you mean Faulted?",
        ),
        (
            GOOD.replace("    params:", "    for: -5m\n    params:"),
            "r.yaml:6: rules[0].for: '-5m' is not a duration",
        ),
        (
            GOOD.replace("    params:", "    keep_firing_for: -1\n    params:"),
            "r.yaml:6: rules[0].keep_firing_for: a duration cannot be negative",
        ),
        (
            GOOD.replace("    params:", "    for: $wait\n    params:"),
            "r.yaml:6: rules[0].for (Hot): parameter $wait is not defined in params",
        ),
        (
            GOOD.replace(
                "measurand: {name: Temperature, threshold: $limit}",
                "count: {events: [reboot], window: 1m, threshold: 1}",
            ),
            "r.yaml:5: rules[0].condition.count.events: unknown countable event 'reboot'",
        ),
        (
            GOOD.replace(
                "measurand: {name: Temperature, threshold: $limit}",
                "status: {in: [Faulted]}\n      count: {events: [boot], window: 1m, threshold: 1}",
            ),
            "r.yaml:4: rules[0].condition: a condition has exactly one kind",
        ),
        (
            "rules:\n  - name: A\n    scope: site\n"
            "    condition: {count: {events: [boot], window: 1m, threshold: 1}}\n"
            "  - name: B\n    condition: {aggregate: {rule: A}}\n",
            "r.yaml:6: rules[1].condition.aggregate.rule (B): "
            "aggregate counts chargers: its rule must be connector or charger scope",
        ),
        (
            GOOD.replace("threshold: $limit}", "threshold: 1, aggregate: avg, window: 5 minutes}"),
            "r.yaml:5: rules[0].condition.measurand.window: '5 minutes' is not a duration",
        ),
        (
            GOOD.replace("    params:", "    for: -5\n    params:"),
            "r.yaml:6: rules[0].for: a duration cannot be negative",
        ),
        (
            GOOD.replace("    scope: connector\n", "").replace(
                "measurand: {name: Temperature, threshold: $limit}",
                "sla: {availability_below: 97, window: 1h, min_observed: 2h}",
            ),
            "r.yaml:4: rules[0].condition.sla.min_observed (Hot): "
            "min_observed must be shorter than the window",
        ),
        (
            GOOD.replace("    scope: connector\n", "").replace(
                "measurand: {name: Temperature, threshold: $limit}", "aggregate: {rule: Nope}"
            ),
            "r.yaml:4: rules[0].condition.aggregate.rule (Hot): no rule named 'Nope'",
        ),
        (
            GOOD.replace("    params:", "    runbook_url: wiki/hot\n    params:"),
            "r.yaml:6: rules[0].runbook_url (Hot): runbook_url must be an http(s) URL",
        ),
    ],
    ids=[
        "yaml",
        "unknown-key",
        "measurand",
        "status",
        "param",
        "template",
        "templated-label",
        "scope",
        "zero-window",
        "zero-count-window",
        "status-case",
        "negative-for-text",
        "negative-keep-firing-for",
        "undefined-for-param",
        "countable",
        "two-kinds",
        "aggregate-of-site-rule",
        "bad-duration",
        "negative-for",
        "min-observed",
        "aggregate-target",
        "runbook",
    ],
)
def test_bad_rule_file(tmp_path: Path, text: str, expected: str) -> None:
    errors = errors_of(tmp_path, text)
    assert any(expected in e for e in errors), errors


def test_duplicate_names_across_files_name_both_places(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text("# another file\n" + GOOD)
    _, errors = loader.load([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    assert [str(e) for e in errors] == [
        f"{tmp_path / 'b.yaml'}:3: rules[0].name (Hot): duplicate rule name "
        f"(first defined in {tmp_path / 'a.yaml'}:2)"
    ]


def test_aggregate_cycle(tmp_path: Path) -> None:
    text = """\
rules:
  - name: A
    scope: site
    condition: {aggregate: {rule: B}}
  - name: B
    scope: site
    condition: {aggregate: {rule: A}}
"""
    errors = errors_of(tmp_path, text)
    # an aggregate counts chargers: both are refused for counting site alerts, and the
    # loop is named
    assert any("aggregates form a cycle: A -> B -> A" in e for e in errors), errors
    assert any("its rule must be connector or charger scope" in e for e in errors), errors


def test_every_error_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = GOOD.replace("Temperature", "Temp") + GOOD.replace("Hot", "Cold").replace(
        "$value", "$nope"
    )
    text = text.replace("rules:\n", "", 1).replace("rules:\n", "")
    errors = errors_of(tmp_path, "rules:\n" + text)
    # a rule failing the schema hides nothing of the others: its own error and the next
    # rule's undefined template name are both reported
    assert len(errors) == 2, errors
    assert "unknown measurand 'Temp'" in errors[0] and "$nope is not defined" in errors[1]
    ok = GOOD + GOOD.replace("rules:\n", "").replace("Hot", "Cold").replace("$value", "$x")
    both = errors_of(tmp_path, ok.replace("threshold: $limit", "threshold: $y"))
    assert len(both) == 3, both


def test_overrides_must_name_real_rules_and_parameters() -> None:
    rules, _ = loader.load(loader.default_files())
    specs = [r.spec for r in rules]
    errors = loader.check_overrides(
        [
            Override(site="depot", params={"max_temperature_c": 80}),
            Override(rules=("NoSuchRule",), params={"x": 1}),
            Override(model="M", params={"max_temprature_c": 80}),
        ],
        specs,
        "cw.yaml",
    )
    assert [str(e) for e in errors] == [
        "cw.yaml: rules.overrides[1].rules: no rule named 'NoSuchRule'",
        "cw.yaml: rules.overrides[1].params.x: no such rule has a parameter 'x'",
        "cw.yaml: rules.overrides[2].params.max_temprature_c: no rule has a parameter "
        "'max_temprature_c'",
    ]


def test_availability_window_of_zero_and_min_observed_not_below_it(tmp_path: Path) -> None:
    text = GOOD.replace("    scope: connector\n", "").replace(
        "measurand: {name: Temperature, threshold: $limit}",
        "sla: {availability_below: 97, window: 0s, min_observed: 0s, resolution: 1m}",
    )
    errors = errors_of(tmp_path, text)
    assert "r.yaml:4: rules[0].condition.sla.window (Hot): window must be longer than 0s" in (
        "\n".join(errors)
    ), errors
    assert any("sla.min_observed (Hot): min_observed must be shorter" in e for e in errors)
    assert any("sla.resolution (Hot): resolution must not exceed the window" in e for e in errors)


def test_a_file_that_is_not_a_rule_list(tmp_path: Path) -> None:
    assert errors_of(tmp_path, "- just\n- a list\n") == [
        f"{tmp_path / 'r.yaml'}:1: a rule file is a mapping with a `rules:` list"
    ]
    errors = errors_of(tmp_path, "rule:\n  - name: X\n")
    assert errors == [f"{tmp_path / 'r.yaml'}:1: rule: unknown key (see docs/rules.md)"], errors


def test_default_pack_loads_with_every_rule_and_no_error() -> None:
    rules, errors = loader.load(loader.default_files())
    assert errors == []
    assert len(rules) == 22  # faults 10, outages 1, security 7, SLA 4
    assert {Path(r.file).name for r in rules} == {
        "faults.yaml",
        "outages.yaml",
        "security.yaml",
        "sla.yaml",
    }


def test_load_or_raise_names_every_error(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD.replace("Temperature", "Temp").replace("$value", "$nope"))
    with pytest.raises(loader.RuleErrors) as info:
        loader.load_or_raise([path])
    assert "unknown measurand 'Temp'" in str(info.value)
    with pytest.raises(loader.RuleErrors, match="disabled rule 'Nope' does not exist"):
        loader.load_or_raise(loader.default_files(), disabled=["Nope"])


def test_a_repeated_key_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    text = GOOD.replace("    params:", "    for: 5m\n    for: 1h\n    params:")
    assert errors_of(tmp_path, text) == [f"{tmp_path / 'r.yaml'}:7: rules[0].for: duplicate key"]
