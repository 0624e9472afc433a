"""Targets: where a receiver's notifications go, written as one string each.

* `sms:+4917612345678` — an SMS through Twilio (E.164 number);
* `file:var/notifications.jsonl` — JSON lines appended to a local file;
* `console:` — one line per notification in ChargeWatch's log;
* anything else is an apprise URL: `mailto://` and `mailtos://` (SMTP) and apprise's e-mail
  services (`sendgrid://`, `ses://`, `o365://`, ...) are e-mail, every other scheme (ntfy,
  pover, gotify, json, slack, msteams, ...) is push / chat.

An SMTP server without TLS or login, e.g. a relay on the same host:
`mailto://127.0.0.1:25?from=alerts@example.com&to=ops@example.com,oncall@example.com`
(`mailtos://user:password@smtp.example.com?from=...&to=...` for STARTTLS and login; apprise
needs `from=` whenever the host part is not the sender's mail domain).

The kind decides the template (SMS short, e-mail with subject and HTML, push with title and
priority) and the channel that delivers it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from notifier.model import CONSOLE, EMAIL, FILE, PUSH, SMS

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# SMTP: the URL's path and query are recipients and addresses, not secrets
SMTP_SCHEMES = frozenset({"mailto", "mailtos"})
# apprise plugins that send e-mail (subject + HTML body) through a provider's API
EMAIL_SCHEMES = SMTP_SCHEMES | frozenset(
    {
        "azure",
        "o365",
        "brevo",
        "mailersend",
        "mailgun",
        "postmark",
        "resend",
        "sendgrid",
        "sendpulse",
        "ses",
        "smtp2go",
        "sparkpost",
    }
)
# a host part that names a server: a dotted name or IPv4, localhost, [IPv6], or any name with
# an explicit port. Many push services put a token there instead (pover://USER@TOKEN,
# tgram://BOT_TOKEN/CHAT, ntfy://TOPIC, discord://ID/TOKEN), which redact() must not show.
_SERVER = re.compile(
    r"^(?:localhost|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d{1,5})?$"
    r"|^[A-Za-z0-9-]+:\d{1,5}$"
)
_SMTP_SERVER = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")
_SECRET_QUERY_KEYS = frozenset({"pass", "password", "pwd", "secret", "token", "key", "apikey"})


def kind_of(target: str) -> str:
    """The channel kind of a target (assumes `check_target` accepted it)."""
    if target.startswith("sms:"):
        return SMS
    if target.startswith("file:"):
        return FILE
    if target.startswith("console:"):
        return CONSOLE
    match = _SCHEME.match(target)
    return EMAIL if match and match.group(1).lower() in EMAIL_SCHEMES else PUSH


def check_target(target: str) -> None:
    """ValueError saying what is wrong with a target; the text never repeats the target's
    secrets (password, token)."""
    if target.startswith("sms:"):
        if not E164.match(target[4:]):
            raise ValueError("an sms: target is an E.164 number, e.g. sms:+4917612345678")
        return
    if target.startswith("file:"):
        if not target[5:].strip():
            raise ValueError("a file: target needs a path, e.g. file:var/notifications.jsonl")
        return
    if target.startswith("console:"):
        return
    if _SCHEME.match(target) is None:
        raise ValueError(
            "not a target: write an apprise URL (mailto://, ntfy://, json://, ...), "
            "sms:+NUMBER, file:PATH or console:"
        )
    # imported here: loading apprise's plugins takes a moment
    from notifier.channels.apprise_channel import instantiate
    from notifier.model import DeliveryError

    try:
        instantiate(target)
    except DeliveryError as exc:
        raise ValueError(f"{exc.reason} (see https://github.com/caronc/apprise/wiki)") from None


def check_targets(targets: list[str]) -> list[str]:
    """The targets, or ValueError naming the first bad one by its position."""
    for i, target in enumerate(targets):
        try:
            check_target(target)
        except ValueError as exc:
            raise ValueError(f"target {i + 1}: {exc}") from None
    return targets


def redact(target: str) -> str:
    """A target as it may appear in logs, the API and the notification log: user info,
    passwords and query strings (tokens) are cut out, and so are push paths and any host
    part that is not a server name (services that put a token there). Phone numbers keep
    their country code and last three digits: enough to tell them apart, not to call."""
    kind = kind_of(target)
    if kind == SMS:
        number = target[4:]
        return f"sms:{number[:3]}{'•' * max(0, len(number) - 6)}{number[-3:]}"
    if kind in (FILE, CONSOLE):
        return target
    scheme, _, rest = target.partition("://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rsplit("@", 1)[-1]
    smtp = scheme.lower() in SMTP_SCHEMES
    if not (_SMTP_SERVER if smtp else _SERVER).match(host):
        return f"{scheme}://…"
    path = re.split(r"[?#]", rest[len(authority) :], maxsplit=1)[0]
    if not smtp:
        path = "/…" if path.strip("/") else ""  # push paths are often tokens
    return f"{scheme}://{host}{path}"


def scrub(text: str, target: str) -> str:
    """`text` (e.g. an error message from apprise about `target`) with the target's secrets
    replaced by ****: its password, and for push targets also its user, path segments and
    long query values; URLs in the text are redacted."""
    text = _URL_IN_TEXT.sub(lambda m: redact(m.group()), text)
    for secret in sorted(_secrets(target), key=len, reverse=True):
        text = text.replace(secret, "****")
    return text


def _secrets(target: str) -> set[str]:
    """The parts of an apprise URL that may be secret, raw and percent-decoded."""
    if kind_of(target) in (SMS, FILE, CONSOLE):
        return set()
    scheme, _, rest = target.partition("://")
    rest, _, query = rest.partition("?")
    authority, _, path = rest.partition("/")
    userinfo, _, host = authority.rpartition("@")
    user, _, password = userinfo.partition(":")
    pairs = [p.partition("=") for p in query.split("&") if p]
    if scheme.lower() in SMTP_SCHEMES:
        parts = [password] + [v for k, _, v in pairs if k.lower() in _SECRET_QUERY_KEYS]
    else:
        parts = [user, password, *re.split(r"[/#]", path)]
        parts += [v for k, _, v in pairs if len(v) >= 8 or k.lower() in _SECRET_QUERY_KEYS]
        if not _SERVER.match(host):
            parts += [host, *host.split(":")]
    found = {p for p in parts if len(p) >= 4} | {unquote(p) for p in parts if len(p) >= 4}
    return {s for s in found if len(s) >= 4}
