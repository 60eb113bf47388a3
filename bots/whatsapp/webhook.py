"""Twilio's webhooks for a WhatsApp binding:

- `POST /webhooks/twilio/{public_key}`: an inbound message. The signature is checked against
  COACHBOT_PUBLIC_URL + path with the binding's auth token (403 and nothing stored otherwise);
  the message is claimed (MessageSid dedupes Twilio's retries) and acknowledged with an empty
  TwiML response at once, the reply following in the background through the REST API.
- `POST /webhooks/twilio/{public_key}/status`: a delivery status of one of our messages
  (queued, sent, delivered, read, failed, undelivered), deduped on (MessageSid, status).

A numbered reply ("2") to a message that offered choices picks that choice here, from the
choices last offered to this person.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from bots.http import ReplyDelivery, Spawner
from bots.render import pick_numbered
from bots.whatsapp.parse import MalformedForm, parse_form
from bots.whatsapp.signature import SIGNATURE_HEADER, is_valid, public_request_url
from engine import channel_state
from engine.channel_bindings import BindingInfo, WebhookBindings
from engine.delivery import Recipient
from engine.pipeline import UnknownBindingError
from engine.types import Channel, InboundMessage

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
AUTH_TOKEN = "auth_token"  # noqa: S105 (the key under which the token is stored)
BLOCKING_CODES = {"21610", "63014"}


def webhook_path(public_key: str) -> str:
    return f"/webhooks/twilio/{public_key}"


def status_path(public_key: str) -> str:
    return f"/webhooks/twilio/{public_key}/status"


class TwilioWebhook:
    def __init__(
        self,
        delivery: ReplyDelivery,
        spawner: Spawner,
        bindings: WebhookBindings,
        public_url: str,
    ) -> None:
        self.engine = delivery.engine
        self.delivery = delivery
        self.spawner = spawner
        self.bindings = bindings
        self.public_url = public_url

    async def _verified(
        self, request: web.Request
    ) -> tuple[BindingInfo, MultiDictProxy[str]] | web.Response:
        public_key = request.match_info["public_key"]
        if await self.bindings.find(public_key, Channel.WHATSAPP) is None:
            return web.Response(status=404, text="unknown webhook")
        if request.content_type != "application/x-www-form-urlencoded":
            return web.Response(status=403, text="forbidden")
        try:
            form = await request.post()
        except ValueError:
            return web.Response(status=403, text="forbidden")
        fields = MultiDictProxy(MultiDict((k, v) for k, v in form.items() if isinstance(v, str)))
        url = public_request_url(self.public_url, request.path_qs)
        signature = request.headers.get(SIGNATURE_HEADER, "")

        def signed(binding: BindingInfo) -> bool:
            token = binding.secrets.get(AUTH_TOKEN, "")
            return len(fields) == len(form) and is_valid(token, url, fields, signature)

        binding, genuine = await self.bindings.verified(public_key, Channel.WHATSAPP, signed)
        if binding is None:  # removed while the form was read
            return web.Response(status=404, text="unknown webhook")
        if not genuine:
            log.warning("twilio webhook with a bad signature", extra={"binding_id": binding.id})
            return web.Response(status=403, text="forbidden")
        return binding, fields

    async def inbound(self, request: web.Request) -> web.Response:
        verified = await self._verified(request)
        if isinstance(verified, web.Response):
            return verified
        binding, form = verified
        try:
            inbound = parse_form(form, binding.id, self.engine.clock.now())
        except MalformedForm as exc:
            return web.Response(status=400, text=str(exc))
        inbound = await self._numbered_choice(inbound)
        try:
            receipt_id = await self.engine.claim(inbound)
        except UnknownBindingError:
            return web.Response(status=404, text="unknown webhook")
        if receipt_id is not None:
            recipient = Recipient(binding.id, Channel.WHATSAPP, inbound.external_user_id)
            self.spawner.spawn(
                self.delivery.run(receipt_id, recipient), name=f"wa-turn-{receipt_id}"
            )
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def _numbered_choice(self, inbound: InboundMessage) -> InboundMessage:
        if inbound.choice_payload is not None or not inbound.text or len(inbound.text) > 40:
            return inbound
        offered = await channel_state.recent_choices(
            self.engine.db, inbound.binding_id, inbound.external_user_id
        )
        choice = pick_numbered(inbound.text, offered[0] if offered else ())
        if choice is None:
            return inbound
        text = choice.payload if choice.payload.startswith("/") else choice.label
        return replace(inbound, text=text, choice_payload=choice.payload)

    async def status(self, request: web.Request) -> web.Response:
        verified = await self._verified(request)
        if isinstance(verified, web.Response):
            return verified
        binding, form = verified
        sid = form.get("MessageSid") or form.get("SmsSid") or ""
        status = form.get("MessageStatus") or form.get("SmsStatus") or ""
        if not sid or not status or len(sid) > 64 or len(status) > 20:
            return web.Response(status=400, text="no MessageSid or MessageStatus")
        code = (form.get("ErrorCode") or "")[:20] or None
        now = self.engine.clock.now()
        fresh = await channel_state.record_delivery_status(
            self.engine.db, binding.id, sid, status, now, error_code=code
        )
        if fresh and code in BLOCKING_CODES and form.get("To"):
            await channel_state.mark_unreachable(self.engine.db, binding.id, form["To"], now)
        return web.Response(status=204)
