"""Put the provisioned datasources and the dashboards into a running Grafana (`chargewatch
dashboards push`), for a Grafana whose provisioning directory ChargeWatch cannot mount.

Everything local is read and checked before Grafana is contacted, so a typo in a file never
leaves Grafana half-updated. Items are matched by uid (the dashboards reference fixed datasource
uids) and only written when they differ, so pushing twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import niquests
import yaml
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaException, GrafanaTimeoutError

DASHBOARDS_DIR = Path(__file__).parent
DEFAULT_FOLDER = "ChargeWatch"
MIN_GRAFANA = 10
TIMEOUT_S = 10.0
# Grafana's own provisioning syntax: $NAME or ${NAME}, and $$ for a literal $
ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)")
# what POST/PUT /api/datasources takes; orgId, version, editable are provisioning-only
DS_KEYS = ("uid", "name", "type", "access", "url", "user", "database", "basicAuth")
DS_KEYS += ("basicAuthUser", "withCredentials", "isDefault", "jsonData", "secureJsonData")
DS_DEFAULTS: dict[str, Any] = {"basicAuth": False, "withCredentials": False, "isDefault": False}
DS_DEFAULTS |= {"user": "", "database": "", "basicAuthUser": "", "url": "", "jsonData": {}}
MESSAGE = "chargewatch dashboards push"  # the dashboard's version history shows it
VOLATILE = ("id", "version")  # Grafana sets these; they are not part of what we push

Credential = str | tuple[str, str] | None


class PushError(Exception):
    """A failure that stops the push, as one sentence for the operator."""


@dataclass
class Item:
    """One folder, datasource or dashboard and what the push did to it."""

    kind: str
    name: str
    outcome: str = ""  # created | updated | unchanged | failed
    error: str = ""


def redact(url: str) -> str:
    """The URL without user:password, so that no message shows credentials."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def expand_env(value: Any, where: str) -> Any:
    """`value` with environment references in strings replaced, as Grafana would; a missing
    variable is an error (Grafana would silently use "", e.g. an empty InfluxDB token)."""
    if isinstance(value, dict):
        return {k: expand_env(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name is None:
            return "$"
        if name not in os.environ:
            raise PushError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return ENV_REF.sub(one, value)


def load_datasources(directory: Path) -> list[dict[str, Any]]:
    """The API payloads of DIR/provisioning/datasources/*.yaml (and *.yml)."""
    folder = directory / "provisioning" / "datasources"
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    payloads: list[dict[str, Any]] = []
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            raise PushError(f"{path}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
        entries = (data.get("datasources") or []) if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise PushError(f"{path}: expected a mapping with a `datasources` list")
        for i, entry in enumerate(entries):
            where = f"{path}: datasources[{i}]"
            if not isinstance(entry, dict) or not all(entry.get(k) for k in ("uid", "name")):
                raise PushError(f"{where}: needs a uid and a name (dashboards refer to the uid)")
            payload = {k: entry[k] for k in DS_KEYS if k in entry}
            payloads.append({"access": "proxy", **expand_env(payload, where)})
    return payloads


def load_dashboards(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    """DIR/*.json, each a dashboard model with a uid and a title."""
    if not directory.is_dir():
        raise PushError(f"{directory} is not a directory")
    dashboards: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            model = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise PushError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
        if not isinstance(model, dict) or not model.get("uid") or not model.get("title"):
            raise PushError(f"{path}: not a dashboard with a uid and a title")
        if model["uid"] in dashboards:
            raise PushError(
                f"{path}: uid {model['uid']!r} is also used by {dashboards[model['uid']][0].name}"
            )
        dashboards[model["uid"]] = (path, model)
    if not dashboards:
        raise PushError(f"{directory} holds no *.json dashboards")
    return list(dashboards.values())


def folder_uid(title: str) -> str:
    """A stable uid from the title: "ChargeWatch" is "chargewatch"."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]
    return slug or "chargewatch-" + hashlib.sha256(title.encode()).hexdigest()[:8]


def _answer(exc: GrafanaException) -> tuple[str, str]:
    """Grafana's `message` and `status` (e.g. "version-mismatch") from an error answer."""
    body = exc.response
    if isinstance(body, dict):
        return str(body.get("message") or exc.message), str(body.get("status") or "")
    return str(body or exc.message).strip()[:200], ""


def _unreachable(url: str, exc: Exception) -> PushError:
    reason = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    why = reason.group(1) if reason else type(exc).__name__
    return PushError(f"cannot reach Grafana at {redact(url)} ({why})")


class Pusher:
    """One push into the Grafana at `url`; `report` hears of each item as it is done."""

    def __init__(self, url: str, credential: Credential, report: Callable[[Item], None]) -> None:
        self.url = url
        # grafana-client appends "api" to the URL's path: a sub-path (/grafana) needs its "/"
        parts = urlsplit(url)
        base = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/"))
        self.api = GrafanaApi.from_url(base, credential=credential, timeout=TIMEOUT_S)
        self.report = report
        self.items: list[Item] = []

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API request; None when a GET finds nothing; fatal failures as PushError."""
        try:
            return getattr(self.api.client, method)(path, json=body)
        except GrafanaTimeoutError:
            raise PushError(
                f"Grafana at {redact(self.url)} did not answer within {TIMEOUT_S:g} s"
            ) from None
        except niquests.exceptions.RequestException as exc:
            raise _unreachable(self.url, exc) from None
        except GrafanaException as exc:
            if exc.status_code == 0:
                raise _unreachable(self.url, exc) from None
            if exc.status_code in (401, 403):
                message, _ = _answer(exc)
                raise PushError(
                    f"Grafana refused the token/credentials ({exc.status_code}: {message})"
                ) from None
            if exc.status_code == 404 and method == "GET":
                return None
            raise

    def version(self) -> str:
        """Grafana's version from /api/health (no credentials needed); refuse < 10."""
        try:
            health = self.call("GET", "/health")
        except GrafanaException as exc:
            message, _ = _answer(exc)
            raise PushError(
                f"Grafana at {redact(self.url)} is not healthy ({exc.status_code}: {message})"
            ) from None
        if not isinstance(health, dict) or "version" not in health:
            raise PushError(f"{redact(self.url)} does not answer /api/health like Grafana")
        version = str(health["version"])
        major = re.match(r"(\d+)\.", version)
        if major is None or int(major.group(1)) < MIN_GRAFANA:
            raise PushError(
                f"Grafana {version} at {redact(self.url)} is too old: the ChargeWatch "
                f"dashboards need Grafana {MIN_GRAFANA} or newer"
            )
        return version

    def done(self, item: Item, outcome: str, error: str = "") -> None:
        item.outcome, item.error = outcome, error
        self.items.append(item)
        self.report(item)

    def folder(self, title: str) -> str:
        """The uid of the folder for the dashboards, created when missing."""
        uid = folder_uid(title)
        item = Item("folder", f"{title} (uid {uid})")
        if self.call("GET", f"/folders/{uid}") is not None:
            self.done(item, "unchanged")
            return uid
        try:
            self.call("POST", "/folders", {"uid": uid, "title": title})
        except GrafanaException as exc:  # 409: a folder of that title has another uid: use it
            same = [f for f in self.call("GET", "/folders") or [] if f.get("title") == title]
            if exc.status_code != 409 or not same:
                raise PushError(
                    f"folder {title!r}: Grafana answered {exc.status_code}: {_answer(exc)[0]}"
                ) from None
            item.name = f"{title} (uid {same[0]['uid']})"
            self.done(item, "unchanged")
            return same[0]["uid"]
        self.done(item, "created")
        return uid

    def datasource(self, payload: dict[str, Any], update_secrets: bool) -> None:
        """Create or update by uid; secrets are write-only in Grafana, so they count as
        unchanged when set (unless `update_secrets`)."""
        uid = payload["uid"]
        item = Item("datasource", f"{payload['name']} (uid {uid})")
        try:
            stored = self.call("GET", f"/datasources/uid/{uid}")
            if stored is None:
                self.call("POST", "/datasources", payload)
                return self.done(item, "created")
            wanted = {**DS_DEFAULTS, **payload}
            secrets = set(payload.get("secureJsonData") or {})
            same = all(stored.get(k) == v for k, v in wanted.items() if k != "secureJsonData")
            have = {k for k, v in (stored.get("secureJsonFields") or {}).items() if v}
            if same and secrets <= have and not (update_secrets and secrets):
                return self.done(item, "unchanged")
            if stored.get("readOnly"):
                why = "read-only in Grafana (provisioned from files there): change it there"
                return self.done(item, "failed", why)
            self.call("PUT", f"/datasources/uid/{uid}", payload)
            self.done(item, "updated")
        except GrafanaException as exc:
            message, _ = _answer(exc)
            hint = f" (the dashboards need uid {uid})" if exc.status_code == 409 else ""
            self.done(item, "failed", f"Grafana answered {exc.status_code}: {message}{hint}")

    def dashboard(self, path: Path, dashboard: dict[str, Any], folder: str) -> None:
        """Post with overwrite unless Grafana already holds the same model in `folder`."""
        uid = dashboard["uid"]
        item = Item("dashboard", f"{dashboard['title']} (uid {uid}, {path.name})")
        model = {k: v for k, v in dashboard.items() if k not in VOLATILE}
        body = {"dashboard": model, "folderUid": folder, "overwrite": True, "message": MESSAGE}
        try:
            stored = self.call("GET", f"/dashboards/uid/{uid}")
            if stored is not None:
                theirs = {k: v for k, v in stored["dashboard"].items() if k not in VOLATILE}
                if theirs == model and stored.get("meta", {}).get("folderUid") == folder:
                    return self.done(item, "unchanged")
            self.call("POST", "/dashboards/db", body)
        except GrafanaException as exc:
            message, status = _answer(exc)
            code = f"{exc.status_code} {status}".strip()
            return self.done(item, "failed", f"Grafana refused it ({code}): {message}")
        self.done(item, "created" if stored is None else "updated")


def push(
    url: str,
    credential: Credential,
    directory: Path = DASHBOARDS_DIR,
    folder: str = DEFAULT_FOLDER,
    datasources: bool = True,
    update_secrets: bool = False,
    report: Callable[[Item], None] = lambda item: None,
) -> tuple[str, list[Item]]:
    """Push everything; Grafana's version and every item. Raises PushError when the push
    cannot go on; items that Grafana refused one by one are `failed`."""
    dashboards = load_dashboards(directory)
    payloads = load_datasources(directory) if datasources else []
    pusher = Pusher(url, credential, report)
    version = pusher.version()
    uid = pusher.folder(folder)
    for payload in payloads:
        pusher.datasource(payload, update_secrets)
    for path, dashboard in dashboards:
        pusher.dashboard(path, dashboard, uid)
    return version, pusher.items
