"""The two lock files agree: the image's runtime pins are the development pins, minus the
development tools (both come from `make lock`)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", re.MULTILINE)


def pins(name: str) -> dict[str, str]:
    return {m[1].lower(): m[2] for m in PIN.finditer((ROOT / name).read_text())}


def test_runtime_pins_are_the_development_pins() -> None:
    runtime, dev = pins("requirements-runtime.lock"), pins("requirements.lock")
    assert runtime and set(runtime) < set(dev)
    assert {p: v for p, v in runtime.items() if dev[p] != v} == {}
    assert {"pytest", "ruff", "aiosmtpd"} <= set(dev) - set(runtime)
