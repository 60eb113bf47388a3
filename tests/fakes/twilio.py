"""A fake Twilio REST API: POST /2010-04-01/Accounts/{sid}/Messages.json with HTTP basic auth,
form parameters as twilio's client sends them, Twilio's JSON for created messages and errors.
It records every message, refuses bodies over 1,600 characters (21617) as Twilio does, and can
be told to fail the next sends with a given error code. `signed_post` builds the signed webhook
requests Twilio itself would send us."""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.fakes.server import LoopbackServer

BODY_LIMIT = 1600


@dataclass
class SentMessage:
    sid: str
    account_sid: str
    to: str
    sender: str | None
    body: str | None
    media: list[str]
    params: dict[str, list[str]]


@dataclass
class Failure:
    code: int
    status: int = 400
    delay: float = 0.0


@dataclass
class FakeTwilio:
    accounts: dict[str, str] = field(default_factory=lambda: {"AC" + "0" * 32: "authtoken-1"})
    messages: list[SentMessage] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    requests: int = 0

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        self.server = LoopbackServer(app)

    async def start(self) -> str:
        return await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def fail_next(
        self, code: int, *, status: int = 400, times: int = 1, delay: float = 0.0
    ) -> None:
        self.failures.extend(Failure(code, status, delay) for _ in range(times))

    def bodies(self, to: str | None = None) -> list[str]:
        return [m.body or "" for m in self.messages if to is None or m.to == to]

    async def _create(self, request: web.Request) -> web.Response:
        self.requests += 1
        sid = request.match_info["sid"]
        if not self._authorized(request, sid):
            return _error(20003, "Authenticate", 401)
        form = await request.post()
        params: dict[str, list[str]] = {}
        for key, value in form.items():
            params.setdefault(key, []).append(str(value))
        if self.failures:
            failure = self.failures.pop(0)
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.code:
                return _error(failure.code, f"Error {failure.code}", failure.status)
        one = {k: v[0] for k, v in params.items()}
        if "To" not in one:
            return _error(21604, "A 'To' phone number is required.", 400)
        if "From" not in one and "MessagingServiceSid" not in one:
            return _error(21603, "A 'From' phone number is required.", 400)
        body = one.get("Body")
        if body is not None and len(body) > BODY_LIMIT:
            return _error(
                21617, "The concatenated message body exceeds the 1600 character limit.", 400
            )
        if body is None and "ContentSid" not in one and "MediaUrl" not in one:
            return _error(21602, "Message body is required.", 400)
        message_sid = f"SM{next(self._ids):032x}"
        self.messages.append(
            SentMessage(
                message_sid,
                sid,
                one["To"],
                one.get("From"),
                body,
                params.get("MediaUrl", []),
                params,
            )
        )
        return web.json_response(
            {
                "sid": message_sid,
                "account_sid": sid,
                "to": one["To"],
                "from": one.get("From"),
                "body": body,
                "status": "queued",
                "num_media": str(len(params.get("MediaUrl", []))),
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "date_created": None,
                "date_sent": None,
                "date_updated": None,
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
            },
            status=201,
        )

    def _authorized(self, request: web.Request, sid: str) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == sid and self.accounts.get(sid) == password


def _error(code: int, message: str, status: int) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def signed_post(auth_token: str, url: str, form: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a webhook request as Twilio signs it for `url`."""
    signature = RequestValidator(auth_token).compute_signature(url, form)
    headers = {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return urlencode(form).encode(), headers


def inbound_form(sid: str, sender: str, body: str | None = None, **extra: str) -> dict[str, Any]:
    form = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": "whatsapp:+14155238886",
        "NumMedia": "0",
        "ProfileName": "Sam Lee",
        "WaId": sender.removeprefix("whatsapp:+"),
    }
    if body is not None:
        form["Body"] = body
    form.update(extra)
    return form
