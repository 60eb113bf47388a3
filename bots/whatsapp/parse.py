"""A Twilio WhatsApp webhook form → InboundMessage. Twilio posts application/x-www-form-urlencoded
fields: MessageSid, From ("whatsapp:+…"), Body, NumMedia with MediaUrlN / MediaContentTypeN,
ProfileName, and for a quick-reply button ButtonPayload / ButtonText."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from engine.types import Attachment, Channel, InboundMessage

MAX_MEDIA = 10
_KINDS = {"image": "image", "audio": "audio", "video": "video"}


class MalformedForm(ValueError):
    """Signed by Twilio but not an inbound message we understand."""


def parse_form(form: Mapping[str, str], binding_id: int, now: datetime) -> InboundMessage:
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    sender = form.get("From", "")
    if not sid or len(sid) > 64 or not sender or len(sender) > 64:
        raise MalformedForm("no MessageSid or From")
    attachments = []
    try:
        count = min(int(form.get("NumMedia", "0") or 0), MAX_MEDIA)
    except ValueError:
        raise MalformedForm("NumMedia is not a number") from None
    for n in range(max(count, 0)):
        url = form.get(f"MediaUrl{n}")
        if not url:
            continue
        mime = form.get(f"MediaContentType{n}") or None
        kind = _KINDS.get((mime or "").split("/")[0], "document")
        attachments.append(Attachment(kind, url, mime))
    body = form.get("Body")
    payload = form.get("ButtonPayload") or None
    text = (form.get("ButtonText") or body) if payload else body
    return InboundMessage(
        channel=Channel.WHATSAPP,
        binding_id=binding_id,
        external_user_id=sender,
        external_message_id=sid,
        text=text if text else None,
        choice_payload=payload,
        attachments=tuple(attachments),
        sender_name=(form.get("ProfileName") or None),
        received_at=now,
        raw=dict(form),
    )
