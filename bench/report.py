"""The side-by-side table and the JSON document of a benchmark run."""

from __future__ import annotations

import math
import os
import platform
from dataclasses import asdict
from typing import Any

from load import WARMUP_S, Figures
from procfs import cpu_model

SERVERS = ("chargewatch", "baseline")
LABELS = {"chargewatch": "chargewatch (journal on)", "baseline": "ocpp-lib baseline"}

ROWS: tuple[tuple[str, str, str], ...] = (
    ("messages/s", "messages_per_s", "{:.1f}"),
    ("p50 latency ms", "p50_ms", "{:.2f}"),
    ("p99 latency ms", "p99_ms", "{:.2f}"),
    ("server RSS per connection KiB", "rss_per_connection_kib", "{:.1f}"),
    ("  marginal, 2nd half of them KiB", "rss_marginal_per_connection_kib", "{:.1f}"),
    ("server RSS before connecting MiB", "rss_before_kib", "mib"),
    ("server RSS after load MiB", "rss_after_load_kib", "mib"),
    ("server CPU s", "server_cpu_s", "{:.2f}"),
    ("  of which event-loop thread s", "server_main_thread_cpu_s", "{:.2f}"),
    ("server CPU µs per message", "server_cpu_us_per_message", "{:.0f}"),
    ("client CPU s", "client_cpu_s", "{:.2f}"),
)


def fmt(value: float, style: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if style == "mib":
        return f"{value / 1024:.1f}"
    return style.format(value)


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def render(results: dict[str, Figures], chargers: int, seconds: float) -> str:
    profiled = any(f.profiled for f in results.values())
    head = (
        f"ingest benchmark: {chargers} chargers, MeterValues with 10 sampled values, "
        f"{seconds:g} s measured (python {platform.python_version()}, {os.cpu_count()} cores)"
    )
    if profiled:
        head += "\nPROFILED under cProfile: the figures are not comparable with normal runs"
    names = [n for n in SERVERS if n in results]
    both = len(names) == 2
    header = f"{'':34}" + "".join(f"{LABELS[n]:>27}" for n in names)
    lines = [head, header + (f"{'ratio':>9}" if both else "")]
    for label, key, style in ROWS:
        values = [getattr(results[n], key) for n in names]
        line = f"{label:34}" + "".join(f"{fmt(v, style):>27}" for v in values)
        if both:
            r = ratio(values[0], values[1])
            line += f"{'n/a' if math.isnan(r) else f'{r:.2f}x':>9}"
        lines.append(line)
    if both:
        lines.append(
            "ratio = chargewatch / baseline (throughput: higher is better; the rest: lower)"
        )
    return "\n".join(lines)


def json_safe(value: Any) -> Any:
    """NaN (e.g. no marginal RSS with one charger) becomes null: NaN is not valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


def as_json(results: dict[str, Figures], chargers: int, seconds: float) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "benchmark": "ingest",
        "chargers": chargers,
        "seconds": seconds,
        "warmup_s": WARMUP_S,
        "sampled_values": 10,
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "servers": {name: asdict(figures) for name, figures in results.items()},
    }
    if len(results) == 2:
        cw, base = results["chargewatch"], results["baseline"]
        doc["ratio_chargewatch_over_baseline"] = {
            key: ratio(getattr(cw, key), getattr(base, key)) for _, key, _ in ROWS
        }
    return doc
