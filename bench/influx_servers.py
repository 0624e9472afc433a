"""The InfluxDB-protocol servers of bench/influx.py: InfluxDB 1.x and VictoriaMetrics, from their
Debian packages, on loopback, in temporary directories, on free ports; and how their counts are
read back to check that every point arrived.

Both run as `servers.ServerProcess` (own session, SIGINT to stop, SIGKILL if that hangs); only
readiness differs: these servers answer an HTTP health URL instead of printing a known line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import urllib3
from procfs import free_port, progress
from servers import READY_TIMEOUT_S, STOP_TIMEOUT_S, ServerProcess

DATABASE = "cw"  # InfluxDB 1.x database; the bucket name for api v2
ORG = "-"  # VictoriaMetrics ignores org and bucket; influxdb-client insists on them

_http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=60))


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(f"{name} not found; install the Debian package (scripts/system-deps.sh)")
    return path


def _get(url: str, **fields: str) -> urllib3.BaseHTTPResponse:
    response = _http.request("GET", url, fields=fields or None)
    if response.status >= 300:
        raise RuntimeError(f"GET {url}: HTTP {response.status}: {response.data[:300]!r}")
    return response


class HttpServer(ServerProcess):
    """A server that is ready when a URL answers 2xx."""

    def __init__(self, name: str, argv: list[str], url: str, ready_path: str, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(name, argv, "", log)
        self.url, self.ready_url = url, url + ready_path

    def _answers(self) -> bool:
        try:
            return _http.request("GET", self.ready_url, timeout=1.0).status < 300
        except (urllib3.exceptions.HTTPError, OSError):
            return False

    async def wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before it was ready\n"
                    + self.log_tail()
                )
            if await asyncio.to_thread(self._answers):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(
            f"{self.name} not ready within {READY_TIMEOUT_S:.0f} s\n" + self.log_tail()
        )

    def stop(self) -> int | None:
        """SIGTERM rather than servers.py's SIGINT: both servers shut down cleanly on either,
        but a SIGINT that this process ignores (started in the background by a shell) is also
        ignored by a child that has not installed its handlers yet, e.g. when a run is
        interrupted right after a start. SIGKILL if it hangs; blocking, as in servers.py."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            return proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            progress(f"{self.name} did not stop within {STOP_TIMEOUT_S:.0f} s; killing it")
            proc.kill()
            return proc.wait(timeout=5)


class InfluxDB1(HttpServer):
    """influxd 1.x with the packaged defaults, minus what would write outside its temp dir or
    add load unrelated to the writes: usage reporting, the _internal monitor database, logs of
    every request and query, continuous queries. Same settings as tests/servers.py."""

    def __init__(self, workdir: Path) -> None:
        port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "influxdb.conf"
        config.write_text(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{workdir}/meta"
  logging-enabled = false
[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
""")
        argv = [_binary("influxd"), "-config", str(config)]
        url = f"http://127.0.0.1:{port}"
        super().__init__("influxd", argv, url, "/ping", workdir / "influxd.log")

    def query(self, q: str) -> list[dict[str, Any]]:
        """The series of one InfluxQL statement (POST, so DDL works too)."""
        response = _http.request(
            "POST", f"{self.url}/query", fields={"db": DATABASE, "q": q}, encode_multipart=False
        )
        if response.status != 200:
            raise RuntimeError(f"{q}: HTTP {response.status}: {response.data[:300]!r}")
        result = json.loads(response.data)["results"][0]
        if "error" in result:
            raise RuntimeError(f"{q}: {result['error']}")
        return result.get("series", [])

    def version(self) -> str:
        ping = _get(f"{self.url}/ping")
        return "InfluxDB " + ping.headers.get("X-Influxdb-Version", "1.x")

    def meter_value_count(self) -> int:
        series = self.query("SELECT count(value) FROM meter_value")
        return int(series[0]["values"][0][1]) if series else 0


class VictoriaMetrics(HttpServer):
    """VictoriaMetrics single-node: accepts /api/v2/write, which InfluxDB 1.6 lacks.

    It stores each numeric field of a point as a sample of `<measurement>_<field>` and turns
    string fields into numbers too (0 when not numeric), at millisecond resolution.
    """

    def __init__(self, workdir: Path) -> None:
        port = free_port()
        argv = [
            _binary("victoria-metrics"),
            f"-storageDataPath={workdir}/data",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-search.latencyOffset=0s",
        ]
        url = f"http://127.0.0.1:{port}"
        super().__init__("victoria-metrics", argv, url, "/health", workdir / "vm.log")

    def version(self) -> str:
        """Its /metrics version, or the Debian package's (the Debian build leaves it empty)."""
        found = re.search(r'short_version="([^"]+)"', _get(f"{self.url}/metrics").data.decode())
        if found:
            return "VictoriaMetrics " + found.group(1)
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            query = ["dpkg-query", "-W", "-f", "${Version}", "victoria-metrics"]
            return (
                "VictoriaMetrics "
                + subprocess.run(query, capture_output=True, check=True).stdout.decode()
            )
        return "VictoriaMetrics"

    def influx_counters(self) -> dict[str, float]:
        """Lines parsed and rows (one per field) stored from the influx protocol."""
        wanted = {
            'vm_protoparser_rows_read_total{type="influx"}': "lines_read",
            'vm_rows_inserted_total{type="influx"}': "rows_inserted",
        }
        found = {}
        for line in _get(f"{self.url}/metrics").data.decode().splitlines():
            name, _, value = line.rpartition(" ")
            if name in wanted:
                found[wanted[name]] = float(value)
        return found

    def stored_samples(self, series: str = "meter_value_value") -> int:
        """Samples of a metric as the export API returns them, after flushing recent writes."""
        _get(f"{self.url}/internal/force_flush")
        body = _get(f"{self.url}/api/v1/export", **{"match[]": series}).data
        return sum(len(json.loads(line)["values"]) for line in body.splitlines() if line.strip())
