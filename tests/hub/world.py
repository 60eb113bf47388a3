"""A populated workspace for route tests: material, a published program with someone in it, a
conversation (with a crisis flag, a check-in and a failed nudge), a channel, an API key. And what
a workspace owns, read from the live schema: every row that reaches the workspace's creator row
through foreign keys, in every table, so a table added later is covered without a list to edit."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

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


# Tables that belong to no workspace. A new table must reach `creators` through its foreign keys
# (or be named here), so the isolation walk can tell whose its rows are.
GLOBAL_TABLES = frozenset({"alembic_version"})
# Accounts are people, not workspace data: an account is a workspace's through its membership.
MEMBERS = ("hub_accounts", "id", "hub_memberships", "account_id")

ForeignKeys = dict[str, list[tuple[tuple[str, ...], str, tuple[str, ...]]]]


def _read_schema(connection: Connection) -> ForeignKeys:
    found = inspect(connection)
    return {
        table: [
            (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
            for fk in found.get_foreign_keys(table)
        ]
        for table in found.get_table_names()
    }


async def schema(db: Database) -> ForeignKeys:
    """Every table of the live database, with its foreign keys."""
    async with db.sessions() as session:
        connection = await session.connection()
        return await connection.run_sync(_read_schema)


async def all_rows(db: Database, tables: ForeignKeys) -> dict[str, list[dict[str, Any]]]:
    async with db.sessions() as session:
        return {
            table: [
                dict(row)
                for row in (await session.execute(text(f"SELECT * FROM {table}")))  # noqa: S608
                .mappings()
                .all()
            ]
            for table in tables
        }


async def owned_rows(db: Database, creator_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every row, in every table, that belongs to the workspace: the creator row itself, and
    each row with a foreign key to a row it owns (followed until nothing changes)."""
    tables = await schema(db)
    rows = await all_rows(db, tables)
    account_table, account_key, member_table, member_key = MEMBERS
    orphans = {
        t
        for t, fks in tables.items()
        if not fks and t not in GLOBAL_TABLES | {"creators", account_table}
    }
    assert not orphans, f"tables with no way to tell their workspace: {sorted(orphans)}"
    owned: dict[str, set[int]] = {t: set() for t in tables}
    owned["creators"] = {i for i, r in enumerate(rows["creators"]) if r["id"] == creator_id}
    changed = True
    while changed:
        changed = False
        keys = {
            (t, cols): {tuple(rows[t][i][c] for c in cols) for i in owned[t]}
            for t, cols in {(r, rc) for fks in tables.values() for _, r, rc in fks}
        }
        members = {(rows[member_table][i][member_key],) for i in owned[member_table]}
        for table, fks in tables.items():
            for i, row in enumerate(rows[table]):
                if i in owned[table]:
                    continue
                hit = any(
                    tuple(row[c] for c in cols) in keys[(referred, ref_cols)]
                    for cols, referred, ref_cols in fks
                ) or (table == account_table and (row[account_key],) in members)
                if hit:
                    owned[table].add(i)
                    changed = True
    return {t: [rows[t][i] for i in sorted(owned[t])] for t in tables if owned[t]}


async def digest(db: Database, creator_id: int, ignore: frozenset[str] = frozenset()) -> str:
    """A digest of everything the workspace owns, every column (but those in `ignore`)."""
    owned = await owned_rows(db, creator_id)
    parts = {
        table: sorted(
            json.dumps({k: str(v) for k, v in row.items() if k not in ignore}, sort_keys=True)
            for row in table_rows
        )
        for table, table_rows in sorted(owned.items())
    }
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()
