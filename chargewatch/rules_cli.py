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
    check.add_argument(
        "files",
        nargs="*",
        help="rule files or globs (with --config: instead of the config's rules.files)",
    )
    check.add_argument(
        "--config",
        type=Path,
        help="check what this chargewatch.yaml loads: built-in pack, rules.files, "
        "rules.disabled and rules.overrides",
    )
    test = commands.add_parser("test", help="run rule test files (default: the built-in ones)")
    test.add_argument("files", nargs="*", help="rule test files or globs")


def main(args: argparse.Namespace) -> int:
    if args.rules_command == "check":
        return check(args.files, args.config)
    return test(args.files)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _fail(errors: list[ConfigError]) -> int:
    for error in errors:
        print(error, file=sys.stderr)
    print(_plural(len(errors), "error"), file=sys.stderr)
    return 1


def _add(paths: list[Path], more: list[Path]) -> list[Path]:
    """`paths` then those of `more` not already in it (the same file named two ways counts once)."""
    seen = {p.resolve() for p in paths}
    out = list(paths)
    for p in more:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            out.append(p)
    return out


def check(patterns: list[str], config_path: Path | None) -> int:
    try:
        config = load_config(config_path) if config_path else None
        if config is None:
            paths = _add([], loader.expand(patterns)) if patterns else loader.default_files()
        else:
            # what `run` would load, with FILES (relative to the working directory) standing
            # in for rules.files (relative to the config file)
            own = (
                loader.expand(patterns)
                if patterns
                else loader.expand(config.rules.files, config.base_dir)
            )
            paths = _add(loader.default_files() if config.rules.builtin else [], own)
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
    print(f"{_plural(len(rules), 'rule')} in {_plural(len(paths), 'file')}: OK")
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
            errors = exc.errors
        except ConfigError as exc:
            errors = [exc]
        except Exception as exc:
            # a value of the wrong type in an event (connector_id: one) that only the engine
            # trips over: report the file, run the others
            errors = [ConfigError(f"cannot run: {type(exc).__name__}: {exc}", file=str(path))]
        else:
            errors = []
        if errors:
            _fail(errors)
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
    bad = f", {_plural(bad_files, 'bad file')}" if bad_files else ""
    print(f"{_plural(total, 'test')}, {failed} failed{bad}")
    return 1 if failed or bad_files else 0
