"""Creators (coaches' workspaces): create, find, list."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.models import Creator
from engine.passwords import check_strength, hash_password

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CreatorError(ValueError):
    """A creator cannot be created or found as asked; the message says why."""


def validate_slug(slug: str) -> str:
    if not SLUG_PATTERN.match(slug):
        raise CreatorError(
            f"invalid slug {slug!r}: use 1–64 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit (e.g. 'maya-runs')"
        )
    return slug


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CreatorError(
            f"unknown timezone {name!r}: use an IANA name such as Europe/Berlin"
        ) from None
    return name


async def create_creator(
    session: AsyncSession,
    *,
    slug: str,
    name: str,
    email: str,
    password: str | None,
    now: datetime,
    bot_name: str | None = None,
    persona: str = "",
    greeting: str = "",
    crisis_message: str | None = None,
    helpline: str | None = None,
    timezone: str = "UTC",
) -> Creator:
    validate_slug(slug)
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email):
        raise CreatorError(f"invalid email address {email!r}")
    if not name.strip():
        raise CreatorError("the creator needs a name")
    validate_timezone(timezone)
    if password is not None:
        try:
            check_strength(password)
        except ValueError as exc:
            raise CreatorError(str(exc)) from None
    clash = await session.scalar(
        select(Creator).where(or_(Creator.slug == slug, func.lower(Creator.email) == email))
    )
    if clash is not None:
        what = f"slug {slug!r}" if clash.slug == slug else f"email {email!r}"
        raise CreatorError(f"a creator with {what} already exists")
    creator = Creator(
        slug=slug,
        name=name.strip(),
        email=email,
        password_hash=hash_password(password) if password is not None else None,
        bot_name=(bot_name or f"{name.strip()}'s coach bot")[:100],
        persona=persona,
        greeting=greeting,
        crisis_message=crisis_message,
        helpline=helpline,
        timezone=timezone,
        created_at=now,
        updated_at=now,
    )
    session.add(creator)
    await session.flush()
    return creator


def own_keywords(creator: Creator) -> list[str]:
    """The creator's own opt-out and opt-in words, which program keywords may not use."""
    return [*(creator.opt_out_words or ()), *(creator.opt_in_words or ())]


async def get_creator(session: AsyncSession, slug: str) -> Creator:
    creator = await session.scalar(select(Creator).where(Creator.slug == slug))
    if creator is None:
        raise CreatorError(f"no creator {slug!r}; see `coachbot creator list`")
    return creator


async def list_creators(session: AsyncSession) -> Sequence[Creator]:
    return (await session.scalars(select(Creator).order_by(Creator.slug))).all()
