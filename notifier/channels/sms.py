"""SMS through Twilio's Messages API, with the Twilio SDK.

One SDK `Client` per channel, so its HTTP session (and its keep-alive connections) is
reused by every delivery. `cfg.api_base_url` replaces the SDK's fixed
`https://api.twilio.com` (a regional endpoint, a proxy, or a test server), and the SDK's
TWILIO_EDGE / TWILIO_REGION environment variables are ignored, so that the config is the
one place that says where messages go.

Which failures are permanent: Twilio's 4xx answers say the request itself is wrong (an
invalid or unreachable number, an empty body), so retrying cannot help — except 429 (too
many requests: later it will work) and 401/403 (a wrong or revoked auth token, a suspended
account): those stay retryable so that held messages go out once an operator fixes the
config, instead of being failed. 5xx, timeouts and connection errors are retried.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifier.config import TwilioConfig
from notifier.model import SMS, DeliveryError, Message
from notifier.targets import E164

RETRYABLE_4XX = frozenset({401, 403, 429})  # see the module docstring


class TwilioChannel:
    """Sends `Message.text` to `sms:+E164` targets; the receipt is Twilio's message SID."""

    kind = SMS

    def __init__(self, cfg: TwilioConfig) -> None:
        self._cfg = cfg
        self._token = cfg.auth_token.get_secret_value()
        client = Client(
            cfg.account_sid,
            self._token,
            account_sid=cfg.account_sid,
            http_client=TwilioHttpClient(timeout=cfg.timeout),
        )
        # the SDK rewrites hostnames from these (env) settings; api_base_url decides instead
        client.edge = None
        client.region = None
        # every API v2010 URL (Messages included) is built from this domain's base_url
        client.api.base_url = cfg.api_base_url
        self._client = client
        parts = urlsplit(cfg.api_base_url)  # for error texts: host and port, no user info
        self._where = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)

    def send(self, target: str, message: Message) -> str:
        """Deliver one SMS (blocking); DeliveryError says whether retrying can help."""
        number = target.removeprefix("sms:")
        if number == target or not E164.match(number):
            raise DeliveryError("not an sms:+E164 target", permanent=True)
        if self._cfg.from_number is not None:
            sender = {"from_": self._cfg.from_number}
        else:
            sender = {"messaging_service_sid": self._cfg.messaging_service_sid}
        try:
            sent = self._client.messages.create(to=number, body=message.text, **sender)
        except TwilioRestException as exc:
            raise self._refused(exc.status, exc.code, exc.msg) from None
        except TwilioServiceException as exc:  # RFC 9457 errors (newer APIs)
            raise self._refused(exc.status, exc.code, exc.detail or exc.title) from None
        except requests.Timeout:
            reason = f"Twilio ({self._where}) did not answer within {self._cfg.timeout:g} s"
            raise DeliveryError(reason) from None
        except (requests.RequestException, TwilioException) as exc:
            # `from None` and no str(exc): texts of requests' errors hold the whole URL
            raise DeliveryError(f"Twilio ({self._where}) not reachable: {_kind(exc)}") from None
        except ValueError:  # a 2xx answer that is not JSON: not Twilio (a proxy, a portal)
            raise DeliveryError(f"Twilio ({self._where}) answered without JSON") from None
        return sent.sid or ""

    def _refused(self, status: int, code: int | None, text: str | None) -> DeliveryError:
        text = (text or "").removeprefix("Unable to create record").lstrip(": ")
        label = f"Twilio {code}" if code and code != status else f"Twilio HTTP {status}"
        reason = f"{label}: {text}" if text else label
        if status in (401, 403):
            reason += " (check account_sid and auth_token in notifications.twilio)"
        if self._token:  # Twilio does not echo it, but a proxy's error page might
            reason = reason.replace(self._token, "***")
        permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
        return DeliveryError(reason, permanent=permanent)


def _kind(exc: Exception) -> str:
    """The innermost cause's class name, e.g. ConnectionRefusedError (no URLs, no text)."""
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    return type(cause).__name__
