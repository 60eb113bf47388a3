"""The WhatsApp `Sender` (Twilio): bodies of at most 1,600 characters, choices as numbered lines,
media one per message (WhatsApp shows one), a Content template (ContentSid + ContentVariables)
when a TemplateRef is given. Twilio's error codes become the named outcomes of
`engine.delivery`."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

# twilio imports its REST resources (~100 modules) on first use of `client.api`; imported here,
# with this module at start-up (off the event loop), the first reply does not block every turn.
import twilio.rest.api.v2010.account  # noqa: F401
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from bots.render import whatsapp_parts, whatsapp_text
from bots.whatsapp.client import AiohttpTwilioTransport
from engine.delivery import (
    Ambiguous,
    DeliveryError,
    OutsideWindow,
    PermanentFailure,
    Recipient,
    RecipientBlocked,
    RetryLater,
    SendResult,
    TemplateRef,
)
from engine.types import OutboundMessage

OUTSIDE_WINDOW = {63016}  # free text outside the 24-hour customer service window
OPTED_OUT = {21610, 63014}  # the person opted out / blocked the business
RATE_LIMITED = {63018, 20429, 14107}
TOO_LONG = {21617, 21658}  # after our own splitting this means a bug on our side


class WhatsAppSender:
    def __init__(
        self,
        client: Client,
        transport: AiohttpTwilioTransport,
        *,
        sender: str | None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
    ) -> None:
        if not sender and not messaging_service_sid:
            raise ValueError("a WhatsApp sender needs a From number or a messaging service")
        self.client = client
        self.transport = transport
        self.sender = sender
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback

    async def send(
        self, recipient: Recipient, message: OutboundMessage, *, template: TemplateRef | None = None
    ) -> SendResult:
        to = recipient.external_user_id
        if template is not None:
            variables = json.dumps(dict(template.variables)) if template.variables else None
            sid = await self._create(
                to, content_sid=template.content_sid, content_variables=variables
            )
            return SendResult((sid,))
        ids = []
        for media in message.media:
            caption = whatsapp_text(media.caption) if media.caption else None
            ids.append(await self._create(to, body=caption, media_url=[media.url]))
        for body in whatsapp_parts(message.text.strip(), message.choices):
            ids.append(await self._create(to, body=body))
        return SendResult(tuple(ids))

    async def _create(self, to: str, **fields: Any) -> str:
        params = {k: v for k, v in fields.items() if v is not None}
        if self.sender:
            params["from_"] = self.sender
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        if self.status_callback:
            params["status_callback"] = self.status_callback
        messages = self.client.api.v2010.accounts(self.client.account_sid).messages
        try:
            created = await messages.create_async(to=to, **params)
        except TwilioRestException as exc:
            raise delivery_error(exc) from exc
        except aiohttp.ClientConnectorError as exc:
            raise RetryLater(f"not sent: {exc}") from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise RetryLater(f"not sent: connect timeout {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Ambiguous(f"no answer from Twilio: {type(exc).__name__}") from exc
        return str(created.sid)

    async def close(self) -> None:
        await self.transport.close()


def delivery_error(exc: TwilioRestException) -> DeliveryError:
    code = int(exc.code) if exc.code is not None else None
    text = f"Twilio {exc.status}: {exc.msg}"
    named = str(code) if code is not None else str(exc.status)
    if code in OUTSIDE_WINDOW:
        return OutsideWindow(text, code=named)
    if code in OPTED_OUT:
        return RecipientBlocked(text, code=named)
    if code in RATE_LIMITED or exc.status == 429:
        return RetryLater(text, code=named)
    if code in TOO_LONG:
        return PermanentFailure(f"message too long: {text}", code=named)
    if exc.status >= 500:
        return RetryLater(text, code=named)
    return PermanentFailure(text, code=named)
