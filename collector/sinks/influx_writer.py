"""HTTP writes of line protocol to InfluxDB: api v1 (1.x `/write`) and v2 (2.x / 3.x, with
influxdb-client). Both are synchronous (the shipper calls them from a worker thread) and
turn every failure into a WriteError that says whether the batch may simply be retried."""

from __future__ import annotations

import base64
import json
import logging
from typing import Protocol
from urllib.parse import urlencode

import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from chargewatch.config import InfluxConfig

log = logging.getLogger(__name__)

# How the shipper must react to a failed write.
RETRY = "retry"  # server down, overloaded, misconfigured: keep the batch, back off, try again
BAD_DATA = "bad_data"  # some line was refused: split the batch to find it, quarantine it
TOO_LARGE = "too_large"  # the request body was too big: split the batch


class WriteError(Exception):
    def __init__(self, message: str, action: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.action, self.status = message, action, status

    @property
    def reason(self) -> str:
        """Label for chargewatch_influxdb_write_errors_total."""
        return f"http_{self.status}" if self.status else "connection"


def _action_for(status: int) -> str:
    if status in (400, 422):
        return BAD_DATA
    if status == 413:
        return TOO_LARGE
    return RETRY  # 401/403 (credentials), 404 (no such database/bucket), 429, 5xx


def _error_text(body: bytes | str | None, status: int) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict):
            text = str(parsed.get("error") or parsed.get("message") or text)
    except ValueError:
        pass
    return f"HTTP {status}: {text.strip()[:500]}"


class Writer(Protocol):
    def write(self, body: bytes) -> None: ...

    def close(self) -> None: ...


class V1Writer:
    """InfluxDB 1.x: POST /write?db=&rp=&precision=u with optional Basic credentials."""

    def __init__(self, cfg: InfluxConfig) -> None:
        self._cfg = cfg
        self._http = urllib3.PoolManager(
            maxsize=2, retries=False, timeout=urllib3.Timeout(total=cfg.timeout)
        )
        params = {"db": cfg.database, "precision": "u"}
        if cfg.retention_policy:
            params["rp"] = cfg.retention_policy
        self._url = f"{cfg.url}/write?{urlencode(params)}"
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if cfg.username is not None and cfg.password is not None:
            pair = f"{cfg.username}:{cfg.password.get_secret_value()}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()

    def _post(self, url: str, body: bytes) -> urllib3.BaseHTTPResponse:
        try:
            return self._http.request("POST", url, body=body, headers=self._headers)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise WriteError(f"cannot reach {self._cfg.url}: {exc}", RETRY) from None

    def write(self, body: bytes) -> None:
        response = self._post(self._url, body)
        if response.status == 204:
            return
        message = _error_text(response.data, response.status)
        if response.status == 404 and "database not found" in message and self._cfg.create_database:
            self._create_database()
            raise WriteError(message + " (created it; retrying)", RETRY, 404)
        raise WriteError(message, _action_for(response.status), response.status)

    def _create_database(self) -> None:
        query = urlencode({"q": f'CREATE DATABASE "{self._cfg.database}"'})
        response = self._post(f"{self._cfg.url}/query?{query}", b"")
        if response.status == 200:
            log.warning("created InfluxDB database %r", self._cfg.database)
        else:
            log.error(
                "could not create InfluxDB database %r: %s",
                self._cfg.database,
                _error_text(response.data, response.status),
            )

    def close(self) -> None:
        self._http.clear()


class V2Writer:
    """InfluxDB 2.x and 3.x: /api/v2/write through influxdb-client, one request per batch."""

    def __init__(self, cfg: InfluxConfig) -> None:
        self._cfg = cfg
        self._client = InfluxDBClient(
            url=cfg.url,
            token=cfg.token.get_secret_value() if cfg.token else None,
            org=cfg.org,
            timeout=int(cfg.timeout * 1000),
            retries=False,  # retries, with backoff and the on-disk backlog, are the shipper's
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, body: bytes) -> None:
        try:
            self._api.write(
                bucket=self._cfg.bucket,
                org=self._cfg.org,
                record=body,
                write_precision=WritePrecision.US,
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            raise WriteError(_error_text(exc.body, status), _action_for(status), status) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise WriteError(f"cannot reach {self._cfg.url}: {exc}", RETRY) from None

    def close(self) -> None:
        self._client.close()


def make_writer(cfg: InfluxConfig) -> Writer:
    return V1Writer(cfg) if cfg.api == "v1" else V2Writer(cfg)
