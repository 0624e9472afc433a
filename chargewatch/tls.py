"""Server TLS contexts from the config's PEM files (the HTTP API's and the OCPP endpoint's).

TLS 1.2 is the floor. For OCPP the cipher suites are those the OCPP security
specification lists for TLS 1.2 (TLS 1.3 suites are all acceptable); a CA file makes the
server ask for client certificates (security profile 3) and verify them against it.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from chargewatch.yamlfile import ConfigError

# OCPP 1.6 security whitepaper / 2.0.1 part 2 A00.FR.3xx: the TLS 1.2 suites a CSMS offers
OCPP_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
    )
)


def server_context(
    base_dir: Path,
    source: str | None,
    key: str,
    cert_file: str,
    key_file: str,
    ca_file: str | None = None,
    ciphers: str | None = None,
) -> ssl.SSLContext:
    """A server context; a missing file or a key that does not fit its certificate is a
    config error naming the config key and the file (never the key's contents)."""
    cert, private = base_dir / cert_file, base_dir / key_file
    ca = base_dir / ca_file if ca_file else None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ciphers:
        ctx.set_ciphers(ciphers)
    files = [(f"{key}.cert_file", cert), (f"{key}.key_file", private)]
    if ca is not None:
        files.append((f"{key}.ca_file", ca))
    for name, path in files:
        if not path.is_file():
            raise ConfigError(f"no such file: {path}", file=source, key=name)
    try:
        ctx.load_cert_chain(cert, private)
        if ca is not None:
            ctx.load_verify_locations(cafile=str(ca))
            # asked for, not required: chargers of profiles 1 and 2 present none
            ctx.verify_mode = ssl.CERT_OPTIONAL
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.__class__.__name__
        raise ConfigError(
            f"cannot load the certificate {cert} with the key {private}: {reason}",
            file=source,
            key=key,
        ) from None
    return ctx
