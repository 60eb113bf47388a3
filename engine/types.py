"""The normalized message types every channel translates to and from.

An adapter turns a provider payload into an `InboundMessage` and renders a `Reply` for its provider;
neither type knows any provider. Stdlib only: adapters import this on their hot path.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Channel(enum.StrEnum):
    TERMINAL = "terminal"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    WEB = "web"


@dataclass(frozen=True)
class Attachment:
    """A file the person sent, by reference: the adapter fetches bytes only when needed."""

    kind: str  # "image", "audio", "video", "document", "location", ...
    url: str | None = None  # provider URL or file id; never fetched at parse time
    mime_type: str | None = None
    name: str | None = None
    size: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attachment:
        return cls(**dict(data))


@dataclass(frozen=True)
class InboundMessage:
    """One message from a person, as every channel reports it.

    `external_message_id` is the provider's id for this message (Telegram update id, Twilio
    MessageSid, a widget client id): the engine dedupes on (binding_id, external_message_id).
    `raw` keeps the provider payload for audit and debugging; it takes no part in equality.
    """

    channel: Channel
    binding_id: int
    external_user_id: str
    external_message_id: str
    text: str | None = None
    choice_payload: str | None = None  # set when the person picked one of our offered choices
    attachments: tuple[Attachment, ...] = ()
    locale: str | None = None
    sender_name: str | None = None  # display name the provider reports, if any
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.external_user_id:
            raise ValueError("InboundMessage needs the sender's external_user_id")
        if not self.external_message_id:
            raise ValueError("InboundMessage needs the provider's external_message_id")
        if self.received_at.tzinfo is None:
            raise ValueError("InboundMessage.received_at must be timezone-aware")

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (without `raw`, which is stored separately)."""
        return {
            "channel": self.channel.value,
            "binding_id": self.binding_id,
            "external_user_id": self.external_user_id,
            "external_message_id": self.external_message_id,
            "text": self.text,
            "choice_payload": self.choice_payload,
            "attachments": [a.to_json() for a in self.attachments],
            "locale": self.locale,
            "sender_name": self.sender_name,
            "received_at": self.received_at.isoformat(),
        }

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], raw: Mapping[str, Any] | None = None
    ) -> InboundMessage:
        return cls(
            channel=Channel(data["channel"]),
            binding_id=int(data["binding_id"]),
            external_user_id=str(data["external_user_id"]),
            external_message_id=str(data["external_message_id"]),
            text=data.get("text"),
            choice_payload=data.get("choice_payload"),
            attachments=tuple(Attachment.from_json(a) for a in data.get("attachments", ())),
            locale=data.get("locale"),
            sender_name=data.get("sender_name"),
            received_at=datetime.fromisoformat(data["received_at"]),
            raw=dict(raw or {}),
        )


@dataclass(frozen=True)
class Choice:
    """An option offered to the person; `payload` comes back as InboundMessage.choice_payload."""

    label: str
    payload: str

    def to_json(self) -> dict[str, str]:
        return {"label": self.label, "payload": self.payload}


@dataclass(frozen=True)
class Media:
    kind: str  # "image", "audio", "video", "document"
    url: str
    caption: str | None = None

    def to_json(self) -> dict[str, str]:
        data = {"kind": self.kind, "url": self.url}
        if self.caption:
            data["caption"] = self.caption
        return data


@dataclass(frozen=True)
class OutboundMessage:
    """One message to send. `text` is in the Markdown subset of `engine.markup`.

    `message_id` is our stored message's id, set by the engine once the message is stored, so that
    the adapter can record the provider's id and delivery status against it.
    """

    text: str = ""
    choices: tuple[Choice, ...] = ()
    media: tuple[Media, ...] = ()
    message_id: int | None = None

    def payload_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.choices:
            data["choices"] = [c.to_json() for c in self.choices]
        if self.media:
            data["media"] = [m.to_json() for m in self.media]
        return data

    @classmethod
    def from_stored(
        cls, text: str, payload: Mapping[str, Any] | None, message_id: int | None = None
    ) -> OutboundMessage:
        """The inverse of `payload_json`: a stored message back into what a sender takes."""
        payload = payload or {}
        return cls(
            text=text,
            choices=tuple(Choice(c["label"], c["payload"]) for c in payload.get("choices", [])),
            media=tuple(
                Media(m["kind"], m["url"], m.get("caption")) for m in payload.get("media", [])
            ),
            message_id=message_id,
        )


@dataclass(frozen=True)
class Reply:
    """What the engine wants sent back for one turn: zero or more messages, in order.

    An empty reply is normal: a duplicate delivery (`duplicate=True`) or a conversation a human
    coach has taken over needs no answer.
    """

    messages: tuple[OutboundMessage, ...] = ()
    duplicate: bool = False

    @classmethod
    def text(cls, *texts: str, choices: tuple[Choice, ...] = ()) -> Reply:
        """Convenience: one message per text; choices go on the last one."""
        if not texts:
            raise ValueError("Reply.text needs at least one text")
        messages = [OutboundMessage(text=t) for t in texts[:-1]]
        messages.append(OutboundMessage(text=texts[-1], choices=choices))
        return cls(messages=tuple(messages))

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.messages]

    def __bool__(self) -> bool:
        return bool(self.messages)
