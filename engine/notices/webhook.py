"""The webhook channel adapter: each notice POSTed as JSON to one URL, for a gateway to send on as an SMS, a
WeChat Work message or an e-mail.

The body is ``{"kind", "title", "text", "link", "username", "phone", "email", "event_code", "event_id",
"task_id", "notice_id", "language", "data"}``. With a shared secret, the request carries
``X-Gridloop-Signature: sha256=<hex HMAC-SHA256 of the body>`` and the receiver checks it with the same secret;
``X-Gridloop-Delivery`` is the outbox row's id (the same on a retry), so that a receiver can drop a repeat. Any
2xx answer is delivered; anything else — another status, a refused connection, a timeout — is a failure the
outbox retries. Configured from the environment: ``GRIDLOOP_NOTICE_WEBHOOK_URL`` (http or https) and
``GRIDLOOP_NOTICE_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Gridloop-Signature"
DELIVERY_HEADER = "X-Gridloop-Delivery"
TIMEOUT_SECONDS = 10.0
ERROR_LENGTH = 500  # how much of a failure the outbox row keeps


class DeliveryFailed(Exception):
    """A message could not be delivered; the text says why (kept as the outbox row's ``last_error``)."""


def sign(secret: str, body: bytes) -> str:
    """The signature header's value of ``body`` under ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Webhook:
    """POST each message as JSON to ``url``, signed with ``secret`` when one is given."""

    url: str
    secret: str | None = None
    timeout: float = TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if urlsplit(self.url).scheme not in ("http", "https") or not urlsplit(self.url).netloc:
            raise ValueError(
                f"webhook URL {self.url!r} is not an http(s) URL; set GRIDLOOP_NOTICE_WEBHOOK_URL"
            )

    @classmethod
    def from_environment(cls) -> Webhook | None:
        """The webhook ``GRIDLOOP_NOTICE_WEBHOOK_URL`` names (None when unset)."""
        url = os.environ.get("GRIDLOOP_NOTICE_WEBHOOK_URL")
        if not url:
            return None
        return cls(url, os.environ.get("GRIDLOOP_NOTICE_WEBHOOK_SECRET") or None)

    def send(self, delivery_id: int, message: dict[str, Any]) -> None:
        """POST ``message``; :class:`DeliveryFailed` unless the receiver answers 2xx."""
        body = json.dumps(message, ensure_ascii=False, sort_keys=True).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", DELIVERY_HEADER: str(delivery_id)}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 (http(s) only)
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise DeliveryFailed(f"HTTP {exc.code} {exc.reason}"[:ERROR_LENGTH]) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryFailed(f"{type(exc).__name__}: {reason}"[:ERROR_LENGTH]) from exc
        if not 200 <= status < 300:
            raise DeliveryFailed(f"HTTP {status}")
