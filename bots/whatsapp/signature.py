"""X-Twilio-Signature: twilio's `RequestValidator` over the URL Twilio called and the form it
posted. The URL is rebuilt from COACHBOT_PUBLIC_URL and the request's path and query, never from
the Host header or scheme we see: behind a TLS-terminating proxy we see http://internal:8080,
while Twilio signed https://coach.example.com."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


def public_request_url(public_url: str, path_qs: str) -> str:
    return public_url.rstrip("/") + path_qs


def is_valid(auth_token: str, url: str, form: Mapping[str, Any], signature: str) -> bool:
    if not auth_token or not signature or len(signature) > 200:
        return False
    try:
        return bool(RequestValidator(auth_token).validate(url, form, signature))
    except (ValueError, TypeError, UnicodeError):
        return False
