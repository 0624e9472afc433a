"""Running a dashboard query on a real datasource as Grafana's backend would, reduced to
what the query tests need: was it accepted, and did it return data."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import httpx
from grafana_emulation import Timing


def _number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


async def run_promql(
    http: httpx.AsyncClient, prometheus: str, expr: str, t: Timing, instant: bool
) -> tuple[str | None, bool]:
    """(error, returned data) of a PromQL query: instant at the end, or a range query
    aligned to its step as Grafana sends it."""
    if instant:
        url, params = "/api/v1/query", {"query": expr, "time": f"{t.end:.3f}"}
    else:
        step = t.interval_ms / 1000
        params = {
            "query": expr,
            "start": f"{math.floor(t.start / step) * step:.3f}",
            "end": f"{math.floor(t.end / step) * step:.3f}",
            "step": f"{step:g}",
        }
        url = "/api/v1/query_range"
    response = await http.post(f"{prometheus}{url}", data=params)
    body = response.json()
    if response.status_code != 200 or body.get("status") != "success":
        return f"HTTP {response.status_code}: {body.get('errorType')}: {body.get('error')}", False
    data = body["data"]
    if data["resultType"] == "scalar":
        return None, _number(data["result"][1])
    if data["resultType"] == "vector":
        return None, any(_number(r["value"][1]) for r in data["result"])
    return None, any(_number(v[1]) for r in data["result"] for v in r["values"])


async def run_influxql(
    http: httpx.AsyncClient, influxdb: str, query: str
) -> tuple[str | None, bool]:
    """(error, returned data) of an InfluxQL query: data is a row with a value besides time."""
    response = await http.post(
        f"{influxdb}/query", params={"db": "chargewatch", "epoch": "ms"}, data={"q": query}
    )
    try:
        body = response.json()
    except json.JSONDecodeError:
        return f"HTTP {response.status_code}: {response.text[:500]}", False
    if response.status_code != 200 or "error" in body:
        return f"HTTP {response.status_code}: {body.get('error')}", False
    errors = [r["error"] for r in body.get("results", []) if "error" in r]
    if errors:
        return "; ".join(errors), False
    rows = [
        row
        for result in body["results"]
        for series in result.get("series", [])
        for row in series.get("values", [])
    ]
    return None, any(v is not None for row in rows for v in row[1:])


async def label_values(
    http: httpx.AsyncClient, prometheus: str, query: str, start: float, end: float
) -> tuple[str | None, list[str]]:
    """A Prometheus `label_values(selector, label)` variable query, as Grafana runs it."""
    match = re.fullmatch(r"label_values\((?:(.*),\s*)?(\w+)\)", query.strip())
    if match is None:
        return f"not a label_values() query: {query!r}", []
    selector, label = match.groups()
    params: dict[str, Any] = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
    if selector:
        params["match[]"] = selector
    response = await http.get(f"{prometheus}/api/v1/label/{label}/values", params=params)
    body = response.json()
    if response.status_code != 200 or body.get("status") != "success":
        return f"HTTP {response.status_code}: {body.get('error')}", []
    return None, list(body["data"])
