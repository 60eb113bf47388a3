"""A populated workspace for route tests: material, a published program with someone in it, a
conversation (with a crisis flag, a check-in and a failed nudge), a channel, an API key."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from creator_hub.apikeys import create_key
from engine.bindings import terminal_binding
from engine.clock import ManualClock
from engine.db import Database
from engine.models import ChannelIdentity, Contact, Creator, Outbox
from engine.pipeline import Engine
from engine.types import Channel, InboundMessage
from knowledge.service import KnowledgeService
from programs import models as pm
from programs import store

PROGRAM = """\
version: 1
slug: {slug}
title: Morning mood
steps:
  - message: "Hi {{{{ contact.first_name }}}}! Three mornings of mood check-ins."
  - id: mood
    kind: checkin
    text: How do you feel this morning, from 1 to 10?
    metric: mood
  - id: morning
    wait: at 08:00
  - end: Thanks, that's all.
"""

SLEEP_DOC = (
    "# Sleep basics\n\nKeep a fixed wake-up time every day, also on weekends. Dim the lights an "
    "hour before bed and put the phone in another room. Caffeine after two in the afternoon "
    "keeps many people awake.\n"
)
_ids = itertools.count(1)


@dataclass
class World:
    creator: Creator
    contact_id: int
    document_id: int
    program_slug: str
    enrollment_id: int
    outbox_id: int
    binding_id: int
    api_key: str
    api_key_id: int


async def say(engine: Engine, binding_id: int, user: str, text: str, name: str = "Sam Lee") -> None:
    n = next(_ids)
    await engine.handle(
        InboundMessage(Channel.TERMINAL, binding_id, user, f"m{n}-{user}", text, sender_name=name)
    )


async def populate(
    db: Database,
    clock: ManualClock,
    knowledge: KnowledgeService,
    creator: Creator,
    tag: str,
    name: str = "Sam Lee",
) -> World:
    engine = Engine(db, clock=clock)
    async with db.transaction() as session:
        fresh = await session.get(Creator, creator.id)
        assert fresh is not None
        binding = await terminal_binding(session, fresh, clock.now())
        binding_id = binding.id
    user = f"user-{tag}"
    await say(engine, binding_id, user, "hello there", name)
    await say(engine, binding_id, user, "I want to kill myself")  # a crisis flag
    document_id, _ = await knowledge.submit(creator.id, f"sleep-{tag}.md", SLEEP_DOC.encode())
    await knowledge.index_documents([document_id])
    slug = f"mood-{tag}"
    async with db.transaction() as session:
        await store.publish(session, creator.id, PROGRAM.format(slug=slug), clock.now())
    await say(engine, binding_id, user, f"/join {slug}")
    await say(engine, binding_id, user, "7")  # the check-in
    async with db.transaction() as session:
        contact = await session.scalar(
            select(Contact)
            .join(ChannelIdentity, ChannelIdentity.contact_id == Contact.id)
            .where(ChannelIdentity.external_user_id == user)
        )
        assert contact is not None
        enrollment = await session.scalar(
            select(pm.Enrollment).where(pm.Enrollment.contact_id == contact.id)
        )
        assert enrollment is not None
        from engine import outbox
        from engine.types import OutboundMessage

        ids = await outbox.enqueue(
            session,
            key=f"nudge:{tag}",
            kind="nudge",
            contact=contact,
            messages=[OutboundMessage(f"Are you still there, {tag}?")],
            now=clock.now(),
        )
        row = await session.get(Outbox, ids[0])
        assert row is not None
        row.state, row.reason = "failed", "blocked"
        key, raw = await create_key(session, creator.id, f"key {tag}", clock.now())
        contact_id, enrollment_id, outbox_id, key_id = contact.id, enrollment.id, row.id, key.id
    clock.advance(timedelta(minutes=5))
    return World(
        creator, contact_id, document_id, slug, enrollment_id, outbox_id, binding_id, raw, key_id
    )
