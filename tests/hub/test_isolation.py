"""Tenant isolation, walked over every route: signed in to workspace A (and with A's API key),
every hub page and every API call aimed at workspace B's objects (its documents, program,
contact, channel, outbox row, API key) reads nothing of B's and changes nothing of B's."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, text

from engine.clock import ManualClock
from engine.db import Database
from engine.models import ChannelBinding
from tests.hub.conftest import Browser, Hub, creator_of, sign_up
from tests.hub.world import World, digest, owned_rows, populate

B_MARKERS = ("Bo Berg", "mood-b", "sleep-b.md", "still there, b?", "test_bot_b")
# Some of the tables B has rows in once `populate` ran (the snapshot covers every table).
OWNED_TABLES = (
    "creators",
    "hub_accounts",
    "hub_memberships",
    "hub_sessions",
    "hub_api_keys",
    "channel_bindings",
    "channel_identities",
    "inbound_receipts",
    "contacts",
    "conversations",
    "messages",
    "kb_documents",
    "kb_chunks",
    "programs",
    "program_versions",
    "enrollments",
    "program_step_log",
    "checkins",
    "outbox",
)


async def snapshot(db: Database, creator_id: int) -> str:
    """A digest of every row B owns, in every table of the schema (found through the foreign
    keys, `world.owned_rows`), every column but last-used stamps."""
    return await digest(db, creator_id, ignore=frozenset({"last_used_at"}))


async def b_world(hub: Hub, clock: ManualClock) -> tuple[Browser, World, World, int]:
    lena = await sign_up(hub, "lena@example.com", name="Lena Fischer", workspace="Lena's Bot")
    await lena.follow("/hub/channels/telegram", {"token": "999:B-TOKEN"})
    db = hub.services.db
    b = await populate(
        db, clock, hub.knowledge, await creator_of(db, "lena@example.com"), "b", name="Bo Berg"
    )
    a = await populate(db, clock, hub.knowledge, await creator_of(db, "maya@example.com"), "a")
    async with db.sessions() as session:
        telegram = await session.scalar(
            select(ChannelBinding).where(ChannelBinding.channel == "telegram")
        )
        assert telegram is not None
        await session.execute(
            text("UPDATE channel_bindings SET name = 'test_bot_b' WHERE id = :i"),
            {"i": telegram.id},
        )
        await session.commit()
    return lena, a, b, telegram.id


def fill(template: str, b: World, telegram_id: int) -> str:
    values = {
        "doc_id": b.document_id,
        "slug": b.program_slug,
        "contact_id": b.contact_id,
        "binding_id": telegram_id,
        "outbox_id": b.outbox_id,
        "key_id": b.api_key_id,
        "document_id": b.document_id,
        "enrollment_id": b.enrollment_id,
        "token": "not-a-token",
        "name": "hub.css",
    }
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    # A route with a parameter the walk cannot aim at B's objects would only ever answer 404
    # for the literal "{…}", and so prove nothing: name it above.
    assert not re.search(r"[{}]", template), f"fill() knows no value for {template}"
    return template


FORM = {
    "source": "",
    "question": "Should I keep a fixed wake-up time?",
    "text": "hello from A",
    "action": "take",
    "tags": "stolen",
    "templates": "default = HXstolen",
    "origins": "https://a.example",
    "program": "mood-b",
    "channel": "telegram",
    "tag": "vip",
    "day": "2026-01-06",
    "at": "10:00",
    "email": "x@example.com",
    "role": "collaborator",
    "name": "k",
    "token": "123:abc",
    "creator_id": "",
    "account_sid": "AC1",
    "auth_token": "t",
    "sender": "whatsapp:+1555",
    "bot_name": "Hijacked",
    "opt_out_words": "pause coaching",
    "timezone": "UTC",
    "daily_proactive_cap": "1",
    "quiet_hours_start": "21:00",
    "quiet_hours_end": "08:00",
}


async def test_hub_routes_never_reach_another_workspace(
    hub: Hub, maya: Browser, clock: ManualClock
) -> None:
    lena, a, b, telegram_id = await b_world(hub, clock)
    try:
        before = await snapshot(hub.services.db, b.creator.id)
        owned = await owned_rows(hub.services.db, b.creator.id)
        assert set(OWNED_TABLES) <= owned.keys(), sorted(owned)  # the snapshot is not vacuous
        walked = 0
        for route in hub.hub_app.router.routes():
            template = route.resource.canonical if route.resource else ""
            if route.method == "HEAD" or "/static/" in template or template == "/hub/logout":
                continue  # (signing out is walked by the CSRF test)
            path = fill(template, b, telegram_id)
            form = {**FORM, "creator_id": str(b.creator.id)}
            if route.method == "GET":
                page = await maya.get(path)
            else:
                await maya.get("/hub/")  # a fresh CSRF token of A's session
                page = await maya.post(path, form)
            if "{" not in template and route.method == "GET":
                assert page.status == 200, (path, page.status)  # the walk is not vacuous
            walked += 1
            for marker in B_MARKERS:
                assert marker not in page.body_text, (route.method, path, marker)
            assert await snapshot(hub.services.db, b.creator.id) == before, (route.method, path)
            if "{" in template:  # aimed at one of B's objects: not found, or refused
                assert (
                    page.status in (400, 403, 404)
                    or (route.method == "GET" and "/reset/" in path)
                    or "/invite/" in path
                ), (route.method, path, page.status)
        assert walked >= 40
        # A's own objects are reachable through the same routes (the walk is not vacuous).
        own = await maya.get(f"/hub/audience/{a.contact_id}")
        assert own.status == 200
        assert "Sam Lee" in own.body_text
    finally:
        await lena.client.close()


async def test_api_never_reaches_another_workspace(
    hub: Hub, maya: Browser, clock: ManualClock
) -> None:
    lena, a, b, telegram_id = await b_world(hub, clock)
    try:
        before = await snapshot(hub.services.db, b.creator.id)
        headers = {"Authorization": f"Bearer {a.api_key}"}
        bodies: dict[str, Any] = {
            "contact_id": b.contact_id,
            "program": b.program_slug,
            "text": "hi",
            "query": "wake-up time",
            "question": "wake-up time?",
            "source": "x",
            "name": "n.md",
            "content": "c",
        }
        walked = 0
        for route in hub.api_app.router.routes():
            template = route.resource.canonical if route.resource else ""
            if route.method == "HEAD" or template.endswith("/openapi.json"):
                continue
            path = fill(template, b, telegram_id)
            response = await maya.client.request(route.method, path, json=bodies, headers=headers)
            body = await response.text()
            walked += 1
            for marker in B_MARKERS:
                assert marker not in body, (route.method, path, marker)
            assert await snapshot(hub.services.db, b.creator.id) == before, (route.method, path)
            if "{" in template:
                assert response.status in (404, 409), (route.method, path, response.status, body)
            assert response.status < 500, (route.method, path, body)
        assert walked >= 15
        # Parameters cannot choose the tenant either.
        response = await maya.client.get(
            f"/api/v1/contacts?creator_id={b.creator.id}&creator={b.creator.slug}", headers=headers
        )
        listed = await response.json()
        assert [c["name"] for c in listed["contacts"]] == ["Sam Lee"]
    finally:
        await lena.client.close()
