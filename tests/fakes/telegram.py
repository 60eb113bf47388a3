"""A fake Telegram Bot API: /bot<token>/<method>, form or JSON parameters (as python-telegram-bot
sends them), Telegram's {"ok": …} envelopes. It records every call, checks what Telegram checks
(4096 characters of text after parsing the HTML, well-formed HTML with Telegram's tags only,
1-64 bytes of callback_data), and can be told to fail the next calls of a method with 429 (with
retry_after), 403 (bot blocked) or a delay (timeouts)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from tests.fakes.server import LoopbackServer

ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a"}
ALLOWED_TAGS |= {"tg-spoiler", "span", "blockquote", "tg-emoji"}
TEXT_LIMIT = 4096


@dataclass
class Call:
    method: str
    token: str
    params: dict[str, Any]


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None
    delay: float = 0.0


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.error = f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.error = f'unexpected end tag "{tag}"'

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible_text(html_text: str) -> str:
    """The text Telegram shows for parse_mode=HTML, or ValueError as its 400 would say."""
    if "&" in html_text:
        bad = re.search(r"&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);)", html_text)
        if bad:
            raise ValueError("can't parse entities: unescaped &")
    if re.search(r"<(?![a-zA-Z/])", html_text):
        raise ValueError("can't parse entities: unescaped <")
    parser = _Html()
    parser.feed(html_text)
    parser.close()
    if parser.error or parser.stack:
        raise ValueError(f"can't parse entities: {parser.error or 'unclosed tag'}")
    return "".join(parser.text)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class FakeTelegram:
    tokens: dict[str, str] = field(default_factory=lambda: {"123:TEST": "coach_bot"})
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    # Decides a failure per call (method, parameters) when nothing is queued: lets a test fail
    # by recipient rather than by call order (fault runs with several workers).
    decide: Callable[[str, dict[str, Any]], Failure | None] | None = None

    def __post_init__(self) -> None:
        self._ids = itertools.count(1000)
        self._new_update = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self.server = LoopbackServer(app)

    async def start(self) -> str:
        return await self.server.start()

    async def stop(self) -> None:
        self._new_update.set()
        await self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    # -- programming it ----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        *,
        times: int = 1,
        retry_after: int | None = None,
        delay: float = 0.0,
    ) -> None:
        self.failures.setdefault(method, []).extend(
            Failure(status, description, retry_after, delay) for _ in range(times)
        )

    def push_update(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        self._new_update.set()

    # -- what happened -----------------------------------------------------------------------

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sent_texts(self, chat_id: str | int | None = None) -> list[str]:
        return [
            c.params["text"]
            for c in self.calls_of("sendMessage")
            if chat_id is None or str(c.params.get("chat_id")) == str(chat_id)
        ]

    # -- the API -----------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            data = await request.json()
            return dict(data or {})
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            text = value if isinstance(value, str) else "<file>"
            if key in ("reply_markup", "allowed_updates", "entities"):
                text = json.loads(text)
            params[key] = text
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params = await self._params(request)
        self.calls.append(Call(method, token, params))
        if token not in self.tokens:
            return _error(401, "Unauthorized")
        queued = self.failures.get(method)
        failure = queued.pop(0) if queued else None
        if failure is None and self.decide is not None:
            failure = self.decide(method, params)
        if failure is not None:
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status:
                extra = {"retry_after": failure.retry_after} if failure.retry_after else None
                return _error(failure.status, failure.description, extra)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(token, params)
        except ValueError as exc:
            return _error(400, f"Bad Request: {exc}")
        return web.json_response({"ok": True, "result": result})

    async def _m_getMe(self, token: str, params: dict[str, Any]) -> Any:
        bot_id = int(token.split(":")[0])
        name = self.tokens[token]
        return {"id": bot_id, "is_bot": True, "first_name": name, "username": name}

    async def _m_setWebhook(self, token: str, params: dict[str, Any]) -> Any:
        secret = params.get("secret_token", "")
        if (secret and not all(c.isalnum() or c in "_-" for c in secret)) or len(secret) > 256:
            raise ValueError("secret token contains unallowed characters")
        self.webhooks[token] = params
        return True

    async def _m_deleteWebhook(self, token: str, params: dict[str, Any]) -> Any:
        self.webhooks.pop(token, None)
        return True

    async def _m_getWebhookInfo(self, token: str, params: dict[str, Any]) -> Any:
        hook = self.webhooks.get(token, {})
        return {
            "url": hook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        return {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            **extra,
        }

    async def _m_sendMessage(self, token: str, params: dict[str, Any]) -> Any:
        text = str(params.get("text", ""))
        if not text.strip():
            raise ValueError("message text is empty")
        shown = visible_text(text) if params.get("parse_mode") == "HTML" else text
        if utf16_len(shown) > TEXT_LIMIT:
            raise ValueError("message is too long")
        _check_markup(params.get("reply_markup"))
        return self._message(params, text=shown)

    async def _send_file(self, params: dict[str, Any]) -> Any:
        caption = params.get("caption")
        if caption and params.get("parse_mode") == "HTML":
            visible_text(caption)
        return self._message(params)

    _m_sendPhoto = _m_sendDocument = _m_sendVideo = _m_sendAudio = lambda self, token, params: (
        self._send_file(params)
    )

    async def _m_answerCallbackQuery(self, token: str, params: dict[str, Any]) -> Any:
        return True

    async def _m_editMessageReplyMarkup(self, token: str, params: dict[str, Any]) -> Any:
        _check_markup(params.get("reply_markup"))
        return True

    async def _m_getUpdates(self, token: str, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 1.0)
        pending = [u for u in self.updates if u["update_id"] >= offset]
        if not pending and wait:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), wait)
            pending = [u for u in self.updates if u["update_id"] >= offset]
        return pending[: int(params.get("limit") or 100)]


def _check_markup(markup: Any) -> None:
    if not markup:
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= 64:
                raise ValueError("BUTTON_DATA_INVALID")


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
