"""E-mail and push delivery through apprise (https://github.com/caronc/apprise/wiki).

apprise's `notify()` returns False instead of raising, and says why only in its log. So the
plugins log into a logger of ours that does not propagate (their debug output holds tokens
and message bodies), and a filter on apprise's own logger diverts what it logs while a
target is being loaded or sent to; the reason becomes the `DeliveryError`, scrubbed of the
target's secrets. Capturing is per thread: apprise runs a single service in the calling
thread (`async_mode=False` makes sure).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from notifier.channels import smtp_tls
from notifier.model import EMAIL, PUSH, DeliveryError, Message
from notifier.targets import scrub

# our priority words -> the service's `priority=` value. It replaces a priority written in
# the target URL: the alert's severity decides.
_PRIORITY_PARAM: dict[str, dict[str, str]] = {
    "ntfy": {"low": "low", "normal": "default", "high": "high", "emergency": "max"},
    "pover": {"low": "low", "normal": "normal", "high": "high", "emergency": "emergency"},
    "gotify": {"low": "low", "normal": "normal", "high": "high", "emergency": "emergency"},
    "prowl": {"low": "low", "normal": "normal", "high": "high", "emergency": "emergency"},
    "opsgenie": {"low": "low", "normal": "normal", "high": "high", "emergency": "emergency"},
}
_PRIORITY_PARAM["ntfys"] = _PRIORITY_PARAM["ntfy"]
_PRIORITY_PARAM["gotifys"] = _PRIORITY_PARAM["gotify"]

NOTIFY_TYPES = ("info", "success", "warning", "failure")
# HTTP statuses that retrying cannot fix (bad token, unknown channel, malformed request);
# apprise's plugins log them as "..., error=NNN."
_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
_RETRYABLE_4XX = frozenset({408, 425, 429})
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")
_TIMEOUT_VALUE = re.compile(r"\((?:read|connect) timeout=[\d.]+\)")
_MAX_REASON = 300
INLINE_HTML_MAX = 2 * 1024 * 1024  # a bigger `html_file` stays an attachment only
# plugin attribute that lists the recipients, for services that cannot send without one
_RECIPIENTS = {
    "mailto": ("targets", "recipient address"),
    "mailtos": ("targets", "recipient address"),
    "ntfy": ("topics", "topic"),
    "ntfys": ("topics", "topic"),
}

_capturing = threading.local()


class _Divert(logging.Filter):
    """On apprise's logger: records of a capturing thread go to its list, not to the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        records = getattr(_capturing, "records", None)
        if records is None:
            return True
        records.append(record)
        return False


class _Collect(logging.Handler):
    """On our plugin logger: keeps records of a capturing thread, drops the others."""

    def emit(self, record: logging.LogRecord) -> None:
        records = getattr(_capturing, "records", None)
        if records is not None:
            records.append(record)


_PLUGIN_LOG = logging.getLogger("chargewatch.notifier.apprise")
_PLUGIN_LOG.propagate = False
_PLUGIN_LOG.setLevel(logging.DEBUG)
_PLUGIN_LOG.addHandler(_Collect())
logging.getLogger("apprise").addFilter(_Divert())


@contextmanager
def _capture() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    _capturing.records = records
    try:
        yield records
    finally:
        _capturing.records = None


def _asset() -> Any:
    import apprise

    return apprise.AppriseAsset(app_id="ChargeWatch", app_desc="ChargeWatch", async_mode=False)


def instantiate(url: str, asset: Any = None) -> Any:
    """The apprise plugin for `url`, or a permanent DeliveryError saying (without secrets)
    why apprise cannot use it. apprise loads some URLs that cannot deliver: e-mail whose
    addresses it all dropped as invalid (`ops@b.c`: one-letter top-level domain), ntfy
    without a topic (`ntfy://host:port`); those are refused too."""
    import apprise

    with _capture() as records:
        plugin = apprise.Apprise.instantiate(url, asset=asset or _asset())
    scheme = url.partition("://")[0]
    if plugin is None:
        found = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
        found = [m for m in found if not m.startswith("Could not load")] or found
        reason = f"apprise cannot use this {scheme}:// URL"
        raise DeliveryError(_short(f"{reason}: {'; '.join(found)}" if found else reason, url), True)
    attribute, noun = _RECIPIENTS.get(scheme.lower(), ("", ""))
    if attribute and not getattr(plugin, attribute, True):
        raise DeliveryError(f"this {scheme}:// URL names no valid {noun}", True)
    return plugin


@dataclass
class _Service:
    """A loaded target: apprise's manager (it converts body formats) around one plugin."""

    apprise: Any
    plugin: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


class AppriseChannel:
    """Delivers e-mail (kind EMAIL) or push messages (kind PUSH) to apprise URLs.

    E-mail: subject = title, body = the HTML; apprise sends multipart/alternative whose
    text/plain part is *its own* conversion of the HTML (its e-mail plugin offers no way to
    pass a separate plain text), so `message.text` is used only when the URL asks for
    `format=text`. Each To address gets its own message. `message.attachments` (files
    on disk, e.g. a monthly report's HTML and CSVs) are attached; a missing one is a
    permanent failure. `message.html_file`, when set and up to INLINE_HTML_MAX bytes, is
    read as the HTML body instead of `message.html`.

    Push: title and text; `message.priority` becomes the service's `priority=` where apprise
    has one (ntfy, pover, gotify, prowl, opsgenie), `message.notify_type` apprise's type.

    Every attempt is bounded by `timeout` seconds (apprise's `cto`/`rto` URL parameters,
    unless the URL sets them) and made once (apprise's default `retry=0`; the outbox
    retries). A URL apprise cannot load and an HTTP 4xx answer (but 408, 425, 429) are
    permanent failures; refused connections, timeouts and 5xx are not. Loaded
    plugins are cached per effective URL: loading apprise takes a moment."""

    def __init__(self, kind: str, timeout: float = 10.0) -> None:
        if kind not in (EMAIL, PUSH):
            raise ValueError(f"AppriseChannel delivers {EMAIL} or {PUSH}, not {kind}")
        self.kind = kind
        self.timeout = timeout
        if kind == EMAIL:
            smtp_tls.install()
        self._services: dict[str, _Service] = {}
        self._lock = threading.Lock()

    def send(self, target: str, message: Message) -> str:
        url = self.url_for(target, message)
        service = self._service(url)
        text_only = getattr(service.plugin, "notify_format", None) == "text"  # URL: format=text
        if self.kind == EMAIL and message.html and not text_only:
            body, body_format = _html_body(message), "html"
        else:
            body, body_format = message.text, "text"
        attach = _attachments(message) if self.kind == EMAIL else None
        notify_type = message.notify_type if message.notify_type in NOTIFY_TYPES else "info"
        verify = getattr(service.plugin, "verify_certificate", True)
        tls = smtp_tls.shared_contexts(verify) if self.kind == EMAIL else nullcontext()
        with service.lock, _capture() as records, tls:
            ok = service.apprise.notify(
                body=body or message.title,
                title=message.title,
                notify_type=notify_type,
                body_format=body_format,
                attach=attach,
            )
        if not ok:
            raise _failure(records, target)
        return ""

    def url_for(self, target: str, message: Message) -> str:
        """The URL apprise gets: the target with our timeouts (unless it sets its own) and,
        for push, the message's priority."""
        timeout = f"{self.timeout:g}"
        url = _with_params(target, {"cto": timeout, "rto": timeout}, False)
        values = _PRIORITY_PARAM.get(target.partition("://")[0].lower())
        if self.kind == PUSH and values and message.priority in values:
            url = _with_params(url, {"priority": values[message.priority]}, True)
        return url

    def _service(self, url: str) -> _Service:
        with self._lock:
            service = self._services.get(url)
        if service is None:
            import apprise

            asset = _asset()
            plugin = instantiate(url, asset)
            plugin.logger = _PLUGIN_LOG
            # apprise waits 5.5 s between two sends of one plugin object (most services);
            # meant for one-shot use, it would stall the delivery worker on every repeat
            plugin.request_rate_per_sec = 0
            manager = apprise.Apprise(asset=asset)
            manager.add(plugin)
            service = _Service(manager, plugin)
            with self._lock:
                service = self._services.setdefault(url, service)
        return service


def _html_body(message: Message) -> str:
    """The HTML body: the `html_file` (a report) when it can be read and is small enough
    for a mail client, else the rendered `html`."""
    if message.html_file:
        path = Path(message.html_file)
        try:
            if path.stat().st_size <= INLINE_HTML_MAX:
                return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass  # attached as it is, or reported missing by _attachments
    return message.html


def _attachments(message: Message) -> list[str] | None:
    """The files to attach, or a permanent DeliveryError when one is gone (the message
    would be incomplete; retrying cannot bring a deleted report back)."""
    if not message.attachments:
        return None
    for name in message.attachments:
        if not Path(name).is_file():
            raise DeliveryError(f"attachment {name} does not exist (deleted?)", permanent=True)
    return list(message.attachments)


def _with_params(url: str, values: dict[str, str], override: bool) -> str:
    """`url` with query parameters added (or replaced, `override`), the others untouched
    byte for byte (apprise reads `+` literally, so no decoding and re-encoding)."""
    base, _, query = url.partition("?")
    pieces = [p for p in query.split("&") if p]

    def key(piece: str) -> str:
        return unquote(piece.partition("=")[0]).strip().lower()

    present = {key(p) for p in pieces}
    if override:
        pieces = [p for p in pieces if key(p) not in values]
    pieces += [f"{k}={quote(v)}" for k, v in values.items() if override or k not in present]
    return f"{base}?{'&'.join(pieces)}" if pieces else base


def _failure(records: list[logging.LogRecord], target: str) -> DeliveryError:
    """A DeliveryError from what apprise logged: its warnings, plus the socket error."""
    warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    details = [
        r.getMessage().partition(": ")[2]
        for r in records
        if r.levelno < logging.WARNING and r.getMessage().startswith(("Socket", "I/O"))
    ]
    reason = "; ".join(dict.fromkeys(warnings)) or "apprise reported a failure"
    if details:
        reason += f" ({_detail(details[-1])})"
    statuses = [int(s) for s in _HTTP_STATUS.findall(" ".join(warnings))]
    permanent = bool(statuses) and all(400 <= s < 500 and s not in _RETRYABLE_4XX for s in statuses)
    return DeliveryError(_short(reason, target), permanent)


def _detail(text: str) -> str:
    """The gist of a socket exception: requests' texts run long and repeat the URL."""
    if errno := _ERRNO.search(text):
        return errno.group().strip()
    if "timed out" in text and len(text) > 80:
        value = _TIMEOUT_VALUE.search(text)
        return f"timed out {value.group()}" if value else "timed out"
    return text


def _short(reason: str, target: str) -> str:
    reason = scrub(reason, target)
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1] + "…"
