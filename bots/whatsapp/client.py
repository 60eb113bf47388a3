"""twilio's REST `Client` on an aiohttp transport of ours: non-blocking (twilio's async API),
with a timeout on every call, and a configurable API base URL (tests point it at a fake Twilio
on loopback). twilio builds absolute https://api.twilio.com URLs; the transport rebases them."""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.twilio.com"


class AiohttpTwilioTransport(AsyncHttpClient):  # type: ignore[misc]
    def __init__(self, api_url: str = DEFAULT_API_URL, *, timeout: float = 10.0) -> None:
        super().__init__(logger=log, is_async=True, timeout=timeout)
        self.api_url = api_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(5.0, timeout))
        self._session: aiohttp.ClientSession | None = None

    def rebase(self, url: str) -> str:
        if self.api_url == DEFAULT_API_URL:
            return url
        parts, base = urlsplit(url), urlsplit(self.api_url)
        if parts.hostname != "api.twilio.com":
            return url
        path = base.path.rstrip("/") + parts.path
        return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (twilio's interface)
        allow_redirects: bool = False,
    ) -> Response:
        headers = dict(headers or {})
        if auth:  # aiohttp's BasicAuth is deprecated: send the header ourselves
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {credentials}"
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.request(
            method,
            self.rebase(url),
            params=_pairs(params),
            data=_pairs(data),
            headers=headers,
            allow_redirects=allow_redirects,
            timeout=aiohttp.ClientTimeout(total=timeout) if timeout else None,
        ) as response:
            body = await response.text()
            return Response(response.status, body, dict(response.headers))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _pairs(values: dict[str, object] | None) -> list[tuple[str, str]] | None:
    """twilio gives lists for repeated parameters (MediaUrl); a form repeats the key."""
    if values is None:
        return None
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, _text(item)))
    return pairs


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def make_client(
    account_sid: str, auth_token: str, api_url: str = DEFAULT_API_URL, *, timeout: float = 10.0
) -> tuple[Client, AiohttpTwilioTransport]:
    transport = AiohttpTwilioTransport(api_url, timeout=timeout)
    # environment={} keeps TWILIO_* variables of the machine out of it: the binding decides.
    client = Client(account_sid, auth_token, http_client=transport, environment={})
    return client, transport
