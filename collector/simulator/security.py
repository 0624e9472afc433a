"""How a simulated charger proves itself to the central system: the OCPP security profiles.

    profile 1  HTTP Basic auth (user = charge point id) over ws://
    profile 2  the same over wss://, trusting the CA that signed the server's certificate
    profile 3  wss:// with the charger's own client certificate (CN = its id), from
               `<cert_dir>/<charger id>.pem` (chain) and `<cert_dir>/<charger id>.key`

One password serves the whole fleet (register each charger with it); certificates are per
charger, as a real CA would issue them.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

from collector.simulator.options import FleetOptions


def connect_kwargs(opts: FleetOptions, charger_id: str) -> dict[str, Any]:
    """Extra arguments for `websockets.connect` (headers, TLS); ValueError when a file
    the options name is missing."""
    kwargs: dict[str, Any] = {}
    if opts.password is not None:
        token = base64.b64encode(f"{charger_id}:{opts.password}".encode()).decode()
        kwargs["additional_headers"] = {"Authorization": f"Basic {token}"}
    if not opts.url.startswith("wss://"):
        return kwargs
    context = ssl.create_default_context(cafile=opts.ca_file)
    if opts.cert_dir is not None:
        cert = Path(opts.cert_dir) / f"{charger_id}.pem"
        key = Path(opts.cert_dir) / f"{charger_id}.key"
        for path in (cert, key):
            if not path.is_file():
                raise ValueError(f"{charger_id}: no client certificate file {path}")
        context.load_cert_chain(cert, key)
    kwargs["ssl"] = context
    return kwargs
