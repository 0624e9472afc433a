"""Target strings: their kind, what check_target accepts (apprise's own parser decides for
URLs), and that redact/scrub keep passwords and tokens out of logs."""

from __future__ import annotations

import pytest

from notifier.model import CONSOLE, EMAIL, FILE, PUSH, SMS
from notifier.targets import EMAIL_SCHEMES, check_target, kind_of, redact, scrub


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("sms:+4917612345678", SMS),
        ("file:var/notifications.jsonl", FILE),
        ("console:", CONSOLE),
        ("mailto://127.0.0.1:2525?from=alerts@example.org&to=ops@example.com", EMAIL),
        ("MAILTOS://user:pw@smtp.example.com?from=alerts@example.org", EMAIL),
        ("sendgrid://APIKEY:alerts@example.org/ops@example.com", EMAIL),
        ("ses://alerts@example.org/AKIAEXAMPLE/SECRET/eu-west-1/ops@example.com", EMAIL),
        ("o365://alerts@example.org/TENANT/CLIENT/SECRET/ops@example.com", EMAIL),
        ("ntfy://ntfy.example.com/chargewatch", PUSH),
        ("json://127.0.0.1:8080/hooks/cw", PUSH),
        ("pover://USERKEY@APPTOKEN", PUSH),
        ("tgram://123456789:BOTTOKEN/987654", PUSH),
    ],
)
def test_kind_of(target, kind):
    assert kind_of(target) == kind


def test_email_schemes_are_apprise_email_plugins():
    """Every scheme taken for e-mail is an apprise plugin that sends HTML with a subject."""
    from apprise.manager_plugins import NotificationManager

    plugins = NotificationManager()
    for scheme in EMAIL_SCHEMES:
        plugin = plugins[scheme]
        assert plugin.notify_format == "html", scheme
        assert plugin.title_maxlen > 0, scheme


@pytest.mark.parametrize(
    "target",
    [
        # plain SMTP on loopback: no TLS, no login
        "mailto://127.0.0.1:2525?from=alerts@example.org&to=ops@example.com",
        "mailto://127.0.0.1:2525?from=alerts@example.org&to=ops@example.com,oncall@example.net",
        "mailto://127.0.0.1:2525/ops@example.com/oncall@example.net?from=alerts@example.org",
        "mailto://localhost:1025?from=alerts@example.org&name=ChargeWatch&to=ops@example.com",
        # with login (the sender given by from=, the host is an IP)
        "mailto://user:pw@127.0.0.1:2525?to=ops@example.com&from=alerts@example.org",
        # STARTTLS submission with login; SMTP server other than the mail domain
        "mailtos://user:pw@example.com?smtp=smtp.example.net&from=alerts@example.com"
        "&to=ops@example.com",
        "ntfy://127.0.0.1:8080/chargewatch",
        "ntfys://ntfy.example.com/chargewatch?priority=high",
        "json://127.0.0.1:8080/hooks/cw",
        "gotify://gotify.example.com/AbCdEfGhIjKlMnO",
        "sms:+4917612345678",
        "file:var/notifications.jsonl",
        "console:",
    ],
)
def test_check_target_accepts(target):
    check_target(target)


@pytest.mark.parametrize(
    ("target", "says", "secret"),
    [
        # one-letter top-level domains are no addresses to apprise, and with user:pw@IP and
        # no valid from= the sender would be user@127.0.0.1
        ("mailto://user:Pa55word@127.0.0.1:2525?to=a@b.c&from=x@y.z", "From", "Pa55word"),
        ("mailto://user:Pa55word@127.0.0.1:2525?to=ops@example.com", "From", "Pa55word"),
        # loaded by apprise, but no one to send to
        (
            "mailto://127.0.0.1:2525?to=a@b.c&from=alerts@example.org",
            "no valid recipient",
            None,
        ),
        ("ntfy://127.0.0.1:8080", "no valid topic", None),
        ("nosuchservice://Secr3tToken@example.com", "nosuchservice", "Secr3tToken"),
        ("sms:4917612345678", "E.164", None),
        ("file:", "path", None),
        ("example.com", "not a target", None),
    ],
)
def test_check_target_rejects_without_repeating_secrets(target, says, secret):
    with pytest.raises(ValueError) as rejected:
        check_target(target)

    assert says in str(rejected.value)
    if secret:
        assert secret not in str(rejected.value)


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("sms:+4917612345678", "sms:+49••••••••678"),
        ("file:var/n.jsonl", "file:var/n.jsonl"),
        (
            "mailto://user:Pa55word@127.0.0.1:2525?to=ops@example.com&from=alerts@example.org",
            "mailto://127.0.0.1:2525",
        ),
        (
            "mailto://127.0.0.1:2525/ops@example.com?from=a@example.org",
            "mailto://127.0.0.1:2525/ops@example.com",
        ),
        ("mailtos://user:pa@ss@smtp.example.com", "mailtos://smtp.example.com"),
        ("mailto://mailhog:1025?from=a@example.org", "mailto://mailhog:1025"),
        # an unencoded "/" in the password: apprise cannot parse it; nothing of it shows
        ("mailto://user:ab/cd@127.0.0.1:2525?to=ops@example.com", "mailto://…"),
        ("ntfy://ntfy.example.com/SecretTopic", "ntfy://ntfy.example.com/…"),
        ("ntfy://ntfy:8080/SecretTopic", "ntfy://ntfy:8080/…"),
        ("json://user:Pa55word@127.0.0.1:8080/hooks/Tok3n?x=1", "json://127.0.0.1:8080/…"),
        ("json://[::1]:8080/", "json://[::1]:8080"),
        # services whose host part is a token
        ("pover://USERKEY@APPTOKEN", "pover://…"),
        ("tgram://123456789:BOTTOKEN/987654", "tgram://…"),
        ("ntfy://SecretTopic", "ntfy://…"),
        ("discord://123456789012/WebhookToken", "discord://…"),
        ("sendgrid://APIKEY:alerts@example.org/ops@example.com", "sendgrid://example.org/…"),
    ],
)
def test_redact(target, shown):
    assert redact(target) == shown


def test_scrub_removes_passwords_tokens_and_urls():
    target = "json://hook:Pa55word@127.0.0.1:8080/hooks/Tok3nPath?apikey=AbcDefGhiJkl&method=POST"
    text = (
        "Failed to send JSON POST to http://127.0.0.1:8080/hooks/Tok3nPath: "
        "login hook:Pa55word refused; key AbcDefGhiJkl; path Tok3nPath"
    )

    scrubbed = scrub(text, target)

    for secret in ("Pa55word", "Tok3nPath", "AbcDefGhiJkl"):
        assert secret not in scrubbed
    assert "http://127.0.0.1:8080/…" in scrubbed
    assert "JSON POST" in scrubbed  # short, harmless values stay


def test_scrub_keeps_email_addresses_but_not_the_password():
    target = "mailto://user:Pa55word@127.0.0.1:2525?to=ops@example.com&from=alerts@example.org"

    scrubbed = scrub("Invalid ~From~ email alerts@example.org for user:Pa55word", target)

    assert scrubbed == "Invalid ~From~ email alerts@example.org for user:****"


def test_scrub_of_a_percent_encoded_password():
    target = "mailto://user:p%40ss%2Fword@127.0.0.1:2525?to=ops@example.com"

    assert scrub("pw p@ss/word or p%40ss%2Fword", target) == "pw **** or ****"
