"""Start-up checks around the HTTP API: its TLS context and the config file's permissions."""

from __future__ import annotations

import logging
import os
import ssl
import stat

from chargewatch.config import Config
from chargewatch.tls import server_context

log = logging.getLogger(__name__)


def tls_context(cfg: Config) -> ssl.SSLContext | None:
    """The server context for `http.tls` (None: plain HTTP); TLS 1.2 is the floor.

    A missing or unreadable file, or a key that does not fit the certificate, is a config
    error naming the key and the file (never the key's contents)."""
    tls = cfg.http.tls
    if tls is None:
        return None
    return server_context(cfg.base_dir, cfg.source, "http.tls", tls.cert_file, tls.key_file)


def warn_if_readable(cfg: Config) -> None:
    """The config may hold secrets (or name the files that do): say so when others can
    read it."""
    if cfg.source is None:
        return
    try:
        mode = os.stat(cfg.source).st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "config file %s is readable by group or others (mode %03o): "
            "chmod 600 it, secrets belong in ${ENV} references",
            cfg.source,
            stat.S_IMODE(mode),
        )
