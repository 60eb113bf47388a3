"""The creator's voice in the engine's own messages: defaults and placeholder filling.

Placeholders are `{first_name}`, `{bot_name}` and `{coach_name}`; anything else in braces is left
as written. (Program templates use a sandboxed jinja2; these short texts do not need it.)
"""

from __future__ import annotations

import re

from engine.models import Contact, Creator

DEFAULT_GREETING = (
    "Hi{first_name_sp}! I'm {bot_name}, {coach_name}'s coaching assistant. "
    "Type /help to see what I can do."
)
DEFAULT_CRISIS_MESSAGE = (
    "I'm really sorry you're feeling this way. I'm an automated coaching assistant and I can't "
    "help with this, but you don't have to go through it alone. If you might act on these "
    "thoughts or are in danger, call your local emergency number now. "
    "I've also let {coach_name} know."
)
DEFAULT_HELPLINE = (
    "You can talk to someone right now, for free: in the US call or text **988**; in the UK "
    "and Ireland call Samaritans on **116 123**; elsewhere find a helpline at "
    "[findahelpline.com](https://findahelpline.com)."
)

_PLACEHOLDER = re.compile(r"\{(first_name|first_name_sp|bot_name|coach_name)\}")


def fill(template: str, creator: Creator, contact: Contact | None = None) -> str:
    first = (contact.first_name or "").strip() if contact else ""
    values = {
        "first_name": first or "there",
        "first_name_sp": f" {first}" if first else "",
        "bot_name": creator.bot_name,
        "coach_name": creator.name,
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def greeting(creator: Creator, contact: Contact | None) -> str:
    return fill(creator.greeting or DEFAULT_GREETING, creator, contact)


def crisis_texts(creator: Creator, contact: Contact | None) -> tuple[str, str]:
    message = fill(creator.crisis_message or DEFAULT_CRISIS_MESSAGE, creator, contact)
    helpline = fill(creator.helpline or DEFAULT_HELPLINE, creator, contact)
    return message, helpline
