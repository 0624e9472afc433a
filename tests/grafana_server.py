"""A real HTTP server on loopback that answers like Grafana's HTTP API (11.x) for what
`chargewatch dashboards push` uses, keeps what it is given, and records every request.

No Grafana binary is available here, so this stands in for it. Its answers follow Grafana's
documented shapes and messages: /api/health (no credentials), /api/folders (GET list, POST,
GET /api/folders/{uid}), /api/datasources (GET list, POST) and /api/datasources/uid/{uid}
(GET, PUT; secrets write-only, provisioned ones read-only), /api/dashboards/db (POST: version
+1, 412 version-mismatch / name-exists) and /api/dashboards/uid/{uid} (GET). Everything but
/api/health wants `Authorization: Bearer TOKEN` or Basic USER:PASSWORD, else 401.

Fixtures: `grafana_server` (started, stopped after the test; set `.version`, `.reject`,
`.read_only` or the stored state before the code under test runs) and `start_grafana(**kw)`
for other settings (e.g. `prefix="/grafana"`, Grafana behind a proxy at a sub-path).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from helpers import free_port

TOKEN = "glsa_chargewatch_test_7f3a9c1e"
VIEWER_TOKEN = "glsa_viewer_only_0b2d4e6f"
USER, PASSWORD = "admin", "grafana-test-pw-51"
PRECONDITION = {
    "version-mismatch": "The dashboard has been changed by someone else",
    "name-exists": "A dashboard with the same name in the folder already exists",
}
DS_FIELDS = {
    "name": "",
    "type": "",
    "access": "proxy",
    "url": "",
    "user": "",
    "database": "",
    "basicAuth": False,
    "basicAuthUser": "",
    "withCredentials": False,
    "isDefault": False,
    "jsonData": {},
}

Answer = tuple[int, Any]


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class GrafanaServer:
    """Grafana's API for one organisation, in memory, on 127.0.0.1:`port`."""

    def __init__(self, version: str = "11.2.0", prefix: str = "") -> None:
        self.version = version
        self.prefix = prefix  # Grafana behind a proxy at a sub-path (root_url .../grafana/)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{prefix}"
        self.requests: list[Request] = []
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}  # with secureJsonData
        self.dashboards: dict[str, dict[str, Any]] = {}  # uid -> {"dashboard", "folderUid"}
        self.reject: dict[str, str] = {}  # dashboard uid -> 412 status to answer with
        self.read_only: set[str] = set()  # datasource uids provisioned from files
        self._ids = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._httpd.grafana = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def writes(self) -> list[Request]:
        """The requests that could change something (POST, PUT, DELETE)."""
        return [r for r in self.requests if r.method != "GET"]

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    # ---- dispatch --------------------------------------------------------------------

    def handle(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            if not request.path.startswith(f"{self.prefix}/api/"):
                return 404, {"message": "Not found"}
            request.path = request.path.removeprefix(self.prefix)
            if (request.method, request.path) == ("GET", "/api/health"):
                return 200, {"commit": "0123abc", "database": "ok", "version": self.version}
            refused = self._refuse(request)
            if refused is not None:
                return refused
            for method, pattern, handler in self._routes():
                match = re.fullmatch(pattern, request.path)
                if method == request.method and match:
                    return handler(request.body, *match.groups())
            return 404, {"message": "Not found"}

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", r"/api/folders", lambda _b: (200, list(self.folders.values()))),
            ("GET", r"/api/folders/([^/]+)", self._get_folder),
            ("POST", r"/api/folders", self._post_folder),
            ("GET", r"/api/datasources", self._list_datasources),
            ("POST", r"/api/datasources", self._post_datasource),
            ("GET", r"/api/datasources/uid/([^/]+)", self._get_datasource),
            ("PUT", r"/api/datasources/uid/([^/]+)", self._put_datasource),
            ("POST", r"/api/dashboards/db", self._post_dashboard),
            ("GET", r"/api/dashboards/uid/([^/]+)", self._get_dashboard),
        ]

    def _refuse(self, request: Request) -> Answer | None:
        """401 without valid credentials; 403 for the viewer token on anything but GET."""
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            try:
                given = base64.b64decode(value).decode()
            except ValueError:
                given = ""
            ok = given == f"{USER}:{PASSWORD}"
            return None if ok else (401, {"message": "invalid username or password"})
        if scheme.lower() == "bearer" and value == VIEWER_TOKEN:
            if request.method == "GET":
                return None
            needed = "dashboards:write" if "dashboards" in request.path else "folders:create"
            message = "You'll need additional permissions to perform this action. "
            return 403, {"message": message + f"Permissions needed: {needed}"}
        if scheme.lower() == "bearer" and value == TOKEN:
            return None
        return 401, {"message": "invalid API key"}

    # ---- folders ---------------------------------------------------------------------

    def _get_folder(self, _body: Any, uid: str) -> Answer:
        if uid not in self.folders:
            return 404, {"message": "folder not found", "status": "not-found"}
        return 200, self.folders[uid]

    def _post_folder(self, body: Any) -> Answer:
        title = body.get("title") if isinstance(body, dict) else None
        if not title:
            return 400, {"message": "folder title cannot be empty"}
        uid = body.get("uid") or f"f{self._next_id()}"
        if uid in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        if any(f["title"] == title for f in self.folders.values()):
            return 409, {
                "message": "a folder or dashboard in the general folder with the same "
                "name already exists"
            }
        folder = {
            "id": self._next_id(),
            "uid": uid,
            "title": title,
            "version": 1,
            "url": f"/dashboards/f/{uid}/{_slug(title)}",
        }
        self.folders[uid] = folder
        return 200, folder

    # ---- datasources -----------------------------------------------------------------

    def public(self, ds: dict[str, Any]) -> dict[str, Any]:
        """A datasource as Grafana shows it: secrets only as `secureJsonFields`."""
        shown = {k: copy.deepcopy(v) for k, v in ds.items() if k != "secureJsonData"}
        shown["secureJsonFields"] = {k: True for k in ds.get("secureJsonData", {})}
        return shown

    def _list_datasources(self, _body: Any) -> Answer:
        return 200, [self.public(ds) for ds in self.datasources.values()]

    def _get_datasource(self, _body: Any, uid: str) -> Answer:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        return 200, self.public(self.datasources[uid])

    def _check_datasource(self, body: Any, uid: str | None) -> Answer | None:
        if not isinstance(body, dict) or not body.get("name") or not body.get("type"):
            return 400, {"message": "bad request data"}
        if any(d["name"] == body["name"] and d["uid"] != uid for d in self.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        return None

    def _post_datasource(self, body: Any) -> Answer:
        uid = body.get("uid") if isinstance(body, dict) else None
        refused = self._check_datasource(body, uid)
        if refused:
            return refused
        uid = uid or f"ds{self._ids + 1}"
        if uid in self.datasources:
            return 409, {"message": "data source with the same uid already exists"}
        ds = {"id": self._next_id(), "uid": uid, "orgId": 1, "version": 1, "readOnly": False}
        ds |= {k: copy.deepcopy(body.get(k, v)) for k, v in DS_FIELDS.items()}
        ds["secureJsonData"] = dict(body.get("secureJsonData") or {})
        self.datasources[uid] = ds
        shown = self.public(ds)
        return 200, {
            "datasource": shown,
            "id": ds["id"],
            "message": "Datasource added",
            "name": ds["name"],
        }

    def _put_datasource(self, body: Any, uid: str) -> Answer:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        ds = self.datasources[uid]
        if ds["readOnly"] or uid in self.read_only:
            return 403, {"message": "Cannot update read-only data source"}
        refused = self._check_datasource(body, uid)
        if refused:
            return refused
        ds |= {k: copy.deepcopy(body.get(k, v)) for k, v in DS_FIELDS.items()}
        ds["secureJsonData"] |= body.get("secureJsonData") or {}  # kept unless replaced
        ds["version"] += 1
        return 200, {
            "datasource": self.public(ds),
            "id": ds["id"],
            "message": "Datasource updated",
            "name": ds["name"],
        }

    # ---- dashboards ------------------------------------------------------------------

    def _get_dashboard(self, _body: Any, uid: str) -> Answer:
        if uid not in self.dashboards:
            return 404, {"message": "Dashboard not found"}
        stored = self.dashboards[uid]
        model = stored["dashboard"]
        folder = self.folders.get(stored["folderUid"], {})
        slug = _slug(model["title"])
        meta = {
            "type": "db",
            "slug": slug,
            "url": f"/d/{uid}/{slug}",
            "version": model["version"],
            "folderUid": stored["folderUid"],
            "folderTitle": folder.get("title", "General"),
            "provisioned": False,
            "canSave": True,
        }
        return 200, {"dashboard": copy.deepcopy(model), "meta": meta}

    def _post_dashboard(self, body: Any) -> Answer:
        model = body.get("dashboard") if isinstance(body, dict) else None
        if not isinstance(model, dict):
            return 400, {"message": "bad request data"}
        if not str(model.get("title") or "").strip():
            return 400, {"message": "Dashboard title cannot be empty", "status": "empty-name"}
        folder_uid = body.get("folderUid") or ""
        if folder_uid and folder_uid not in self.folders:
            return 400, {"message": "folder not found", "status": "not-found"}
        uid = model.get("uid") or f"d{self._ids + 1}"
        if uid in self.reject:
            return 412, {"message": PRECONDITION[self.reject[uid]], "status": self.reject[uid]}
        existing = self.dashboards.get(uid)
        if model.get("id") is not None and (
            existing is None or existing["dashboard"]["id"] != model["id"]
        ):
            return 404, {"message": "Dashboard not found", "status": "not-found"}
        if not body.get("overwrite"):
            if existing and model.get("version") != existing["dashboard"]["version"]:
                status = "version-mismatch"
                return 412, {"message": PRECONDITION[status], "status": status}
            for other_uid, other in self.dashboards.items():
                same = other["dashboard"]["title"] == model["title"]
                if other_uid != uid and same and other["folderUid"] == folder_uid:
                    return 412, {"message": PRECONDITION["name-exists"], "status": "name-exists"}
        stored = copy.deepcopy(model)
        stored["id"] = existing["dashboard"]["id"] if existing else self._next_id()
        stored["uid"] = uid
        stored["version"] = existing["dashboard"]["version"] + 1 if existing else 1
        self.dashboards[uid] = {"dashboard": stored, "folderUid": folder_uid}
        slug = _slug(stored["title"])
        return 200, {
            "id": stored["id"],
            "uid": uid,
            "url": f"/d/{uid}/{slug}",
            "status": "success",
            "version": stored["version"],
            "slug": slug,
        }


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            status, answer = 400, {"message": "bad request data"}
        else:
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(self.command, parts.path, parts.query, headers, body)
            status, answer = self.server.grafana.handle(request)  # type: ignore[attr-defined]
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet: requests are recorded
        pass


@pytest.fixture
def start_grafana() -> Iterator[Callable[..., GrafanaServer]]:
    """Start fake Grafanas with other settings (e.g. a sub-path); each stopped after the test."""
    servers: list[GrafanaServer] = []

    def start(**settings: Any) -> GrafanaServer:
        server = GrafanaServer(**settings)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def grafana_server() -> Iterator[GrafanaServer]:
    """A fake Grafana 11.2.0 on loopback, credentials TOKEN or USER/PASSWORD."""
    server = GrafanaServer()
    server.start()
    yield server
    server.stop()
