"""Fuzzing the HTTP API from its own OpenAPI description with schemathesis.

Two real Apps are started once for the module (each on its own event loop in a thread, see
app_thread.py): one with `http.api_tokens` (the fuzzer is given the token), one with the API
open (no token anywhere, as in `make demo`). The schema is loaded from the running App's
`/openapi.json` with `schemathesis.openapi.from_url`; every operation gets up to
MAX_EXAMPLES generated requests in each generation mode (valid, then invalid), and
`case.call_and_validate()` runs schemathesis' checks on each answer: no 5xx
(`not_a_server_error`), status codes, content types, headers and bodies as the schema
documents them, invalid data refused.

Checks excluded, and why (schemathesis false positives, not findings):

* `positive_data_acceptance`: "valid" by the schema is not always acceptable: an
  acknowledgement of an alert that does not exist is a 404, a remote command to a charger
  that is not connected a 404/409, a token name already taken a 409 — the schema cannot
  say which fingerprints, chargers or names exist.
* `use_after_free` / `ensure_resource_availability`: these pair a create with a delete by
  guessing links between operations; our deletes (expire a silence, revoke a token, remove
  an exclusion) keep the record (expired, revoked, removed: it is history), so a later GET
  finding it is what we document, not a use after free.
* `ignored_auth`: it probes each operation again without the token and with a wrong one,
  through a requests session of its own, which fails in this environment (see `_Adapter`);
  `test_every_api_operation_needs_the_token` below checks the same thing directly.

Bounded: MAX_EXAMPLES per operation, derandomize=True and no example database, so CI
repeats the same requests; deadline=None.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from app_thread import AppThread
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    ensure_resource_availability,
    ignored_auth,
    positive_data_acceptance,
    use_after_free,
)

MAX_EXAMPLES = 15
TOKEN = "fuzz-token-0123456789abcdef"  # http.api_tokens wants 16 characters at least
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
EXCLUDED = [positive_data_acceptance, use_after_free, ensure_resource_availability, ignored_auth]


def _app(tmp_path_factory: pytest.TempPathFactory, name: str, yaml_text: str):
    data_dir = tmp_path_factory.mktemp(f"fuzz-api-{name}") / "data"
    with AppThread(data_dir, yaml_text) as app:
        yield app
        assert app.serving()
    assert not app.loop_errors, app.loop_errors
    # a 500 is an ERROR record of uvicorn's too; anything else logged as an error is a bug
    assert not app.errors.records, app.errors.messages()


@pytest.fixture(scope="module")
def token_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    yield from _app(tmp_path_factory, "token", f'http:\n  api_tokens: ["{TOKEN}"]\n')


@pytest.fixture(scope="module")
def open_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    yield from _app(tmp_path_factory, "open", "")


class _Adapter(requests.adapters.BaseAdapter):
    """requests' HTTPAdapter, hidden from schemathesis' connection count.

    schemathesis 4.32 counts open connections through `pool_manager.pools.keys()`, which the
    urllib3 in this environment does not have (urllib3-future, pulled in by niquests, takes
    over the `urllib3` name and its pools container has no `keys()`): every call fails with
    AttributeError. An adapter that is not an HTTPAdapter is skipped by that count; the
    requests go out exactly as before. (`schemathesis.pytest.from_fixture` is not used for
    a similar reason: its lazy loader reads `request.node._nodeid`, gone in pytest 9.)
    """

    def __init__(self) -> None:
        super().__init__()
        self._inner = requests.adapters.HTTPAdapter()

    def send(self, *args: Any, **kwargs: Any) -> requests.Response:
        return self._inner.send(*args, **kwargs)

    def close(self) -> None:
        self._inner.close()


def _fuzz(app: AppThread, excluded: list[Any], headers: dict[str, str] | None = None) -> None:
    """Every operation of the running App's schema, valid then invalid requests."""
    config = schemathesis.Config.from_dict(
        {
            "generation": {
                # OpenAPI cannot say "no other query parameters"; like most HTTP APIs ours
                # ignores unknown ones, which negative_data_rejection takes for acceptance
                "allow-extra-parameters": False,
                # the open variant accepts any Authorization (open until a token exists,
                # docs/security.md): a generated or removed one proves nothing there
                "with-security-parameters": headers is not None,
            }
        }
    )
    url = f"http://127.0.0.1:{app.app.http_port}/openapi.json"
    schema = schemathesis.openapi.from_url(url, config=config)

    @schema.hook
    def filter_query(ctx: Any, query: dict[str, Any] | None) -> bool:
        # None of our query parameters is an array. An array where a string is declared goes
        # out as a repeated parameter (`?receiver=a&receiver=b`), whose last value FastAPI
        # takes, and any string is valid for these filters: a valid request, not a negative
        # one that negative_data_rejection could expect refused
        return not any(isinstance(value, list) for value in (query or {}).values())

    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10, [op.label for op in operations]
    with requests.Session() as session:
        session.mount("http://", _Adapter())
        session.mount("https://", _Adapter())
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @FUZZ
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case: schemathesis.Case) -> None:
                    case.call_and_validate(
                        session=session, headers=headers, excluded_checks=excluded, timeout=30
                    )

                try:
                    run()
                except Unsatisfiable:
                    pass  # nothing to make invalid (no parameters, no body)
                except (Exception, BaseExceptionGroup) as exc:  # all operations, then all failures
                    failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)


def test_api_with_a_token_answers_every_request_as_documented(token_app: AppThread) -> None:
    _fuzz(token_app, EXCLUDED, {"Authorization": f"Bearer {TOKEN}"})


def test_open_api_answers_every_request_as_documented(open_app: AppThread) -> None:
    _fuzz(open_app, EXCLUDED)


def test_every_api_operation_needs_the_token(token_app: AppThread) -> None:
    """Each /api/v1 operation of the schema, without a token and with a wrong one: 401."""
    base = f"http://127.0.0.1:{token_app.app.http_port}"
    spec = httpx.get(f"{base}/openapi.json").json()
    checked = 0
    with httpx.Client(base_url=base) as client:
        for path, methods in spec["paths"].items():
            for method in methods:
                url = re.sub(r"\{[^}]+\}", "x", path)
                for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
                    answer = client.request(method.upper(), url, headers=headers, json={})
                    if path.startswith("/api/v1/"):
                        assert answer.status_code == 401, (method, path, answer.text)
                        assert answer.headers["WWW-Authenticate"] == "Bearer"
                        checked += 1
                    elif path.startswith("/uploads/"):  # chargers: the ticket is the credential
                        assert answer.status_code == 404, (method, path, answer.text)
                    else:  # /healthz, /metrics: open for load balancers and Prometheus
                        assert answer.status_code == 200, (method, path)
    assert checked > 20
