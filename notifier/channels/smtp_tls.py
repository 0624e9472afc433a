"""One TLS context per certificate policy for apprise's e-mail plugin, not one per message.

apprise 1.13's e-mail plugin calls `ssl.create_default_context()` for every message (its
plugins/email/base.py, in `send`) — even for plain SMTP — which loads the system's CA
certificates each time: about 28 ms of CPU per e-mail, measured in bench/notify.py, and
the main cost of an alert storm's e-mails. An SSLContext is made to be shared by many
connections, so while our channel sends, the plugin is handed one of two cached contexts:
verifying, or not (the plugin switches verification off itself on the latter when its URL
says `verify=no`; keeping that one apart means it can never leak into the other).
Outside our channel's sends the plugin gets a fresh context, as apprise intends.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from typing import Any

_policy = threading.local()  # .verify: bool while our channel sends in this thread
_cache: dict[bool, ssl.SSLContext] = {}
_cache_lock = threading.Lock()


class _SslModule:
    """Stands in for the `ssl` module inside apprise's e-mail plugin."""

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)

    def create_default_context(self, *args: Any, **kwargs: Any) -> ssl.SSLContext:
        verify = getattr(_policy, "verify", None)
        if verify is None or args or kwargs:
            return ssl.create_default_context(*args, **kwargs)
        with _cache_lock:
            context = _cache.get(verify)
            if context is None:
                context = _cache[verify] = ssl.create_default_context()
        return context


def install() -> None:
    """Put the stand-in into apprise's e-mail plugin (idempotent; a no-op if a future
    apprise no longer has the module attribute)."""
    try:
        from apprise.plugins.email import base
    except ImportError:
        return
    if getattr(base, "ssl", None) is ssl:
        base.ssl = _SslModule()  # type: ignore[assignment]


@contextlib.contextmanager
def shared_contexts(verify: bool) -> Iterator[None]:
    """While sending one e-mail in this thread: hand the plugin the cached context."""
    _policy.verify = bool(verify)
    try:
        yield
    finally:
        _policy.verify = None
