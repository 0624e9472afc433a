"""`chargewatch rules check` and `chargewatch rules test`: rule files checked before they run.

check: syntax and meaning of rule files (and, with --config, the config's rules section),
every error as `file:line: key: message`; exit 1 on any.
test: rule test files (docs/rules.md, "Testing rules"); exit 1 if a test fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chargewatch.config import load_config
from chargewatch.yamlfile import ConfigError
from rules import loader
from rules.params import make_override
from rules.testing import run_file

TESTS = Path(loader.__file__).parent / "tests"


def add_parser(sub: argparse._SubParsersAction) -> None:
    rules = sub.add_parser("rules", help="check rule files and run rule tests")
    commands = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="validate rule files (default: the built-in pack and the config's rules.files)",
    )
    check.add_argument("files", nargs="*", help="rule files or globs")
    check.add_argument("--config", type=Path, help="also check this chargewatch.yaml's rules")
    test = commands.add_parser("test", help="run rule test files (default: the built-in ones)")
    test.add_argument("files", nargs="*", help="rule test files or globs")


def main(args: argparse.Namespace) -> int:
    if args.rules_command == "check":
        return check(args.files, args.config)
    return test(args.files)


def _fail(errors: list[ConfigError]) -> int:
    for error in errors:
        print(error, file=sys.stderr)
    print(f"{len(errors)} error{'s' if len(errors) != 1 else ''}", file=sys.stderr)
    return 1


def check(patterns: list[str], config_path: Path | None) -> int:
    try:
        config = load_config(config_path) if config_path else None
        if patterns:
            paths = loader.expand(patterns)
        elif config is not None:
            paths = loader.default_files() if config.rules.builtin else []
            paths += [
                p for p in loader.expand(config.rules.files, config.base_dir) if p not in paths
            ]
        else:
            paths = loader.default_files()
    except ConfigError as exc:
        return _fail([exc])
    rules, errors = loader.load(paths)
    if config is not None and not errors:
        specs = [r.spec for r in rules]
        names = {s.name for s in specs}
        errors += [
            ConfigError(f"no rule named {name!r}", file=config.source, key="rules.disabled")
            for name in config.rules.disabled
            if name not in names
        ]
        overrides = [make_override(o.model_dump()) for o in config.rules.overrides]
        errors += loader.check_overrides(overrides, specs, config.source)
    if errors:
        return _fail(errors)
    print(f"{len(rules)} rules in {len(paths)} files: OK")
    return 0


def test(patterns: list[str]) -> int:
    try:
        paths = loader.expand(patterns) if patterns else sorted(TESTS.glob("*.yaml"))
    except ConfigError as exc:
        return _fail([exc])
    total = failed = 0
    bad_files = 0
    for path in paths:
        try:
            outcomes = run_file(path)
        except loader.RuleErrors as exc:
            _fail(exc.errors)
            bad_files += 1
            continue
        except ConfigError as exc:
            _fail([exc])
            bad_files += 1
            continue
        for outcome in outcomes:
            total += 1
            if outcome.ok:
                print(f"ok   {path}: {outcome.name}")
            else:
                failed += 1
                print(f"FAIL {path}: {outcome.name}")
                for line in outcome.failures:
                    print(f"       {line}")
    bad = f", {bad_files} unreadable file{'s' if bad_files != 1 else ''}" if bad_files else ""
    print(f"{total} tests, {failed} failed{bad}")
    return 1 if failed or bad_files else 0
