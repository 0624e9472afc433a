"""A small HTTP client for the operator commands: JSON over urllib3 (already a dependency),
and every failure turned into one sentence an operator can act on (`OpsError`)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.exceptions import HTTPError, ReadTimeoutError

TIMEOUT_S = 10.0
NO_TOKEN = "the API wants a token (--token or CHARGEWATCH_TOKEN)"
BAD_TOKEN = "the API refused the token (--token or CHARGEWATCH_TOKEN)"


class OpsError(Exception):
    """A failure to report as `chargewatch: MESSAGE` (exit 1); `usage` ones exit 2."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def check_url(text: str) -> str:
    """The base URL without a trailing slash; ValueError unless it is http(s)://host[:port]."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an http:// or https:// URL")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    return text.strip().rstrip("/")


def url_argument(text: str) -> str:
    """`check_url` as an argparse type, for every command that talks to a server."""
    try:
        return check_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _detail(body: Any) -> str | None:
    """The server's `detail`: FastAPI's text, or its validation errors as `where: what`."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if not isinstance(item, dict):
                parts.append(str(item))
                continue
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            msg = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{where}: {msg}" if where else msg)
        return "; ".join(parts)
    return None


class Client:
    """The ChargeWatch HTTP API at `url`, with a bearer token when one is given."""

    def __init__(self, url: str, token: str | None = None, timeout: float = TIMEOUT_S) -> None:
        self.url = url
        self.headers = {"Accept": "application/json"}
        self.has_token = bool(token)
        if token:
            # http.client would repeat a bad header value in its error: refuse it unseen
            if not all(" " < c < "\x7f" for c in token):
                raise OpsError("the token contains characters a header cannot carry", True)
            self.headers["Authorization"] = f"Bearer {token}"
        self.pool = urllib3.PoolManager(
            retries=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            # https:// with a private CA or a self-signed certificate (http.tls)
            ca_certs=os.environ.get("CHARGEWATCH_CA_FILE") or None,
        )

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path + (f"?{urlencode(query)}" if query else ""))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The decoded JSON answer of a 2xx; OpsError for anything else."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self.pool.request(method, self.url + path, body=data, headers=headers)
        except ReadTimeoutError:
            raise OpsError(f"ChargeWatch at {self.url} did not answer in time") from None
        except HTTPError:
            raise OpsError(
                f"cannot reach ChargeWatch at {self.url} (is `chargewatch run` running?)"
            ) from None
        try:
            answer = json.loads(response.data) if response.data else None
        except ValueError:
            answer = None
        if response.status == 401:
            raise OpsError(BAD_TOKEN if self.has_token else NO_TOKEN)
        if 200 <= response.status < 300:
            if answer is None and response.data:
                raise OpsError(f"{self.url} did not answer with JSON: is it ChargeWatch?")
            return answer
        detail = _detail(answer)
        if detail is not None:
            raise OpsError(detail)
        raise OpsError(f"ChargeWatch answered HTTP {response.status} to {method} {path}")
