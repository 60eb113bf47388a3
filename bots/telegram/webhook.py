"""`POST /webhooks/telegram/{public_key}`: Telegram's webhook. The binding is named by its public
key; the `X-Telegram-Bot-Api-Secret-Token` header must equal the secret we gave setWebhook
(compared in constant time). Forged, unknown or non-JSON requests get 403 (404 for an unknown
binding) and store nothing; a JSON body that is no update gets 400; anything else is claimed and
acknowledged with 200 at once, the reply following in the background."""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web

from bots.telegram.inbound import TelegramInbound
from bots.telegram.parse import MalformedUpdate
from engine.channel_bindings import BindingInfo, WebhookBindings
from engine.pipeline import UnknownBindingError
from engine.types import Channel

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
WEBHOOK_SECRET = "webhook_secret"  # noqa: S105 (the key under which the secret is stored)
MAX_BODY = 1024 * 1024


def webhook_path(public_key: str) -> str:
    return f"/webhooks/telegram/{public_key}"


class TelegramWebhook:
    def __init__(self, inbound: TelegramInbound, bindings: WebhookBindings) -> None:
        self.inbound = inbound
        self.bindings = bindings

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        binding, genuine = await self.bindings.verified(
            request.match_info["public_key"],
            Channel.TELEGRAM,
            lambda found: _secret_matches(found, given),
        )
        if binding is None:
            return web.Response(status=404, text="unknown webhook")
        if not genuine:
            log.warning("telegram webhook with a wrong secret", extra={"binding_id": binding.id})
            return web.Response(status=403, text="forbidden")
        try:
            body = await request.read()
            data = json.loads(body) if len(body) <= MAX_BODY else None
        except (ValueError, RecursionError):
            data = None
        if data is None:
            return web.Response(status=403, text="not a JSON update")
        try:
            outcome = await self.inbound.receive(binding, data)
        except MalformedUpdate as exc:
            return web.Response(status=400, text=str(exc))
        except UnknownBindingError:  # disabled between the lookup and the claim
            return web.Response(status=404, text="unknown webhook")
        return web.json_response({"ok": True, "outcome": outcome})


def _secret_matches(binding: BindingInfo, given: str) -> bool:
    expected = binding.secrets.get(WEBHOOK_SECRET, "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
