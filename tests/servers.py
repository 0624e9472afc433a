"""Real servers for tests, started from their Debian packages on loopback, in temporary
directories, on free ports: InfluxDB 1.x, VictoriaMetrics, Prometheus."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from helpers import free_port, require_binary

START_TIMEOUT_S = 30.0


class ServerProcess:
    """A server binary with a readiness URL; its output goes to a log file for failures."""

    def __init__(self, name: str, argv: list[str], ready_url: str, workdir: Path) -> None:
        self.name, self.argv, self.ready_url, self.workdir = name, argv, ready_url, workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{name}.log"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                if httpx.get(self.ready_url, timeout=1).status_code < 300:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready within {START_TIMEOUT_S} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class InfluxDB1(ServerProcess):
    """InfluxDB 1.x (Debian `influxdb`): /write and InfluxQL /query."""

    def __init__(self, workdir: Path) -> None:
        binary = require_binary("influxd")
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
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
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
""")
        super().__init__("influxd", [binary, "-config", str(config)], f"{self.url}/ping", workdir)

    def query(self, q: str, db: str = "cw") -> list[dict[str, Any]]:
        """The series of an InfluxQL query: [{name, tags, columns, values}]."""
        response = httpx.post(
            f"{self.url}/query", params={"db": db, "q": q, "epoch": "u"}, timeout=30
        )
        response.raise_for_status()
        result = response.json()["results"][0]
        if "error" in result:
            raise AssertionError(f"{q}: {result['error']}")
        return result.get("series", [])

    def write(self, lines: str, db: str = "cw") -> None:
        httpx.post(f"{self.url}/query", params={"q": f"CREATE DATABASE {db}"}).raise_for_status()
        response = httpx.post(
            f"{self.url}/write", params={"db": db, "precision": "u"}, content=lines.encode()
        )
        assert response.status_code == 204, response.text


class VictoriaMetrics(ServerProcess):
    """VictoriaMetrics (Debian `victoria-metrics`): accepts InfluxDB's /api/v2/write."""

    def __init__(self, workdir: Path) -> None:
        binary = require_binary("victoria-metrics")
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
            binary,
            f"-storageDataPath={workdir}/data",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-search.latencyOffset=0s",
        ]
        super().__init__("victoria-metrics", argv, f"{self.url}/health", workdir)

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every stored sample of the matching series (after flushing recent writes)."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=30).raise_for_status()
        response = httpx.get(f"{self.url}/api/v1/export", params={"match[]": match}, timeout=30)
        response.raise_for_status()
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]


class Prometheus(ServerProcess):
    """Prometheus (Debian `prometheus`) with a given configuration file."""

    def __init__(self, workdir: Path, config: Path) -> None:
        binary = require_binary("prometheus")
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir}/data",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        super().__init__("prometheus", argv, f"{self.url}/-/ready", workdir)

    def query(self, promql: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        response.raise_for_status()
        return response.json()["data"]["result"]
