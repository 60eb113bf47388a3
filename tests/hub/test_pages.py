"""Every hub page for a signed-in coach, and what each does: knowledge, programs, channels,
persona, audience with the handoff, analytics, broadcasts, team and API keys."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

from sqlalchemy import func, select

from creator_hub.models import Broadcast
from engine.answering import KnowledgeAnswerer
from engine.clock import ManualClock
from engine.models import ChannelBinding, ChannelIdentity, Conversation, Creator, Message, Outbox
from engine.pipeline import Engine
from knowledge.service import KnowledgeService
from tests.hub.conftest import Browser, Hub, creator_of
from tests.hub.world import PROGRAM, SLEEP_DOC, World, populate, say


async def world_of(hub: Hub, clock: ManualClock, email: str = "maya@example.com") -> World:
    creator = await creator_of(hub.services.db, email)
    return await populate(hub.services.db, clock, hub.knowledge, creator, "a")


async def test_every_page_renders(hub: Hub, maya: Browser, clock: ManualClock) -> None:
    w = await world_of(hub, clock)
    for path in (
        "/hub/",
        "/hub/knowledge",
        "/hub/knowledge/documents",
        "/hub/try",
        "/hub/try/transcript",
        "/hub/programs",
        "/hub/programs/new",
        "/hub/programs/new?example=sleep-reset",
        f"/hub/programs/{w.program_slug}",
        "/hub/channels",
        "/hub/settings",
        "/hub/audience",
        f"/hub/audience/{w.contact_id}",
        f"/hub/audience/{w.contact_id}/transcript",
        "/hub/analytics",
        "/hub/broadcasts",
        "/hub/team",
        "/hub/workspaces",
    ):
        page = await maya.get(path)
        assert page.status == 200, (path, page.body_text[:1500])
        assert "Content-Security-Policy" in page.headers
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        # No inline script or handler anywhere (the CSP would block them).
        assert not re.search(r"<script>|\son[a-z]+=", page.body_text), path
        assert "style=" not in page.body_text, path


TRY_PROGRAM = """\
version: 1
slug: try-me
title: Try me
steps:
  - id: ready
    question: Ready for a tip?
    answer: yes_no
  - id: later
    wait: 2 hours
  - end: "Tip: keep a fixed wake-up time."
"""


async def test_try_your_bot(hub: Hub, maya: Browser, clock: ManualClock) -> None:
    """The coach talks to their own bot in the hub, through the real pipeline, as `coachbot
    chat` does: commands, answers from the material with citations, a program joined and run
    (buttons, /skipwait over a wait), and the coach in Audience like any coachee."""
    w = await world_of(hub, clock)
    tried = re.compile(r'href="/hub/try">Try your bot</a> <span class="badge ok">done')
    assert not tried.search((await maya.get("/hub/")).body_text)
    page = await maya.get("/hub/try")
    assert "Nothing said yet" in page.body_text
    assert 'href="/hub/try" aria-current="page"' in page.body_text
    await maya.follow("/hub/programs/publish", {"source": TRY_PROGRAM})
    page = await maya.follow("/hub/try", {"text": "/help"})
    assert "/programs" in page.body_text
    assert "/join" in page.body_text
    page = await maya.follow("/hub/try", {"text": "Should I keep a fixed wake-up time every day?"})
    assert "Keep a fixed wake-up time every day" in page.body_text
    assert "Sources:" in page.body_text
    page = await maya.follow("/hub/try", {"text": "/programs"})
    assert "try-me" in page.body_text
    assert w.program_slug in page.body_text
    # The bot's Markdown is rendered as the channels render it; what the coach typed is not.
    assert "<strong>" in page.body_text
    assert "**" not in page.body_text.split('id="try-log"')[1]
    page = await maya.follow("/hub/try", {"text": "**<b>raw</b>**"})
    assert "**&lt;b&gt;raw&lt;/b&gt;**" in page.body_text
    page = await maya.follow("/hub/try", {"text": "/join try-me"})
    assert "Ready for a tip?" in page.body_text
    buttons = re.findall(r'name="choice" value="([^"]+)"', page.body_text)
    assert len(buttons) == 2  # Yes and No, as buttons
    # A button, sent the way htmx does: the chat comes back as a fragment with a fresh form.
    response = await maya.client.post(
        "/hub/try",
        data={"csrf": maya.csrf, "choice": buttons[0], "text": "Yes"},
        headers={"HX-Request": "true"},
    )
    fragment = await response.text()
    assert response.status == 200
    assert 'id="try-log"' in fragment
    assert "<html" not in fragment
    assert 'name="choice"' not in fragment  # answered: no buttons left
    page = await maya.follow("/hub/try", {"text": "/skipwait"})
    assert "Tip: keep a fixed wake-up time." in page.body_text
    # An empty line says nothing.
    empty = await maya.follow("/hub/try", {"text": "   "})
    assert "Type something" in empty.body_text
    # The coach is a coachee of their own bot, on the terminal channel.
    audience = await maya.get("/hub/audience")
    assert "Maya Brooks" in audience.body_text
    assert tried.search((await maya.get("/hub/")).body_text)
    async with hub.services.db.sessions() as session:
        coach = select(ChannelIdentity.contact_id).where(
            ChannelIdentity.external_user_id.startswith("hub:")
        )
        statuses = (
            await session.scalars(
                select(Message.status).where(
                    Message.direction == "out", Message.contact_id.in_(coach)
                )
            )
        ).all()
    assert statuses
    assert set(statuses) == {"sent"}  # shown on the page is delivered


async def test_upload_index_and_test_a_question(hub: Hub, maya: Browser) -> None:
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("files", SLEEP_DOC.encode(), filename="sleep.md")
    form.add_field("files", b"\x89PNG\r\n\x1a\n\x00\x00", filename="photo.png")
    response = await maya.client.post(
        "/hub/knowledge/upload",
        data=form,
        headers={"Accept": "application/json", "X-CSRF-Token": maya.csrf},
    )
    body = await response.json()
    assert response.status == 200, body
    assert len(body["queued"]) == 1
    assert "photo.png" in body["message"]  # refused with its reason; the other file is kept
    listing = await maya.get("/hub/knowledge/documents")
    assert "every 2s" in listing.body_text  # polls while indexing
    await hub.tasks.join()
    listing = await maya.get("/hub/knowledge/documents")
    assert "ready" in listing.body_text
    assert "every 2s" not in listing.body_text
    answer = await maya.post(
        "/hub/knowledge/ask", {"question": "Should I keep a fixed wake-up time every day?"}
    )
    assert answer.status == 200
    assert "fixed wake-up time" in answer.body_text
    assert "sleep.md" in answer.body_text or "Sleep basics" in answer.body_text  # the citation
    declined = await maya.post(
        "/hub/knowledge/ask", {"question": "How do I file my taxes in Peru?"}
    )
    assert "Declined" in declined.body_text


async def test_delete_retry_and_reindex(hub: Hub, maya: Browser, clock: ManualClock) -> None:
    w = await world_of(hub, clock)
    page = await maya.follow(f"/hub/knowledge/documents/{w.document_id}/retry")
    assert "Indexing again" in page.body_text
    await hub.tasks.join()
    page = await maya.follow("/hub/knowledge/reindex")
    await hub.tasks.join()
    page = await maya.follow(f"/hub/knowledge/documents/{w.document_id}/delete")
    assert "Deleted sleep-a.md" in page.body_text
    assert await hub.knowledge.documents(w.creator.id) == []


async def test_program_editor_validation_simulation_and_publish(hub: Hub, maya: Browser) -> None:
    bad = PROGRAM.format(slug="mood").replace("metric: mood", "metrik: mood")
    check = await maya.post("/hub/programs/validate", {"source": bad})
    assert "problem" in check.body_text
    assert re.search(r"line 9, col \d+: unknown field", check.body_text), check.body_text
    good = PROGRAM.format(slug="mood")
    check = await maya.post("/hub/programs/validate", {"source": good})
    assert "valid" in check.body_text
    assert "checkin" in check.body_text
    sim = await maya.post(
        "/hub/programs/simulate",
        {"source": good, "tz": "Europe/Berlin", "start": "2026-03-02T07:00"},
    )
    assert "How do you feel this morning" in sim.body_text
    assert 'name="reply"' in sim.body_text  # waits for the coachee's answer
    sim = await maya.post(
        "/hub/programs/simulate",
        {
            "source": good,
            "tz": "Europe/Berlin",
            "start": "2026-03-02T07:00",
            "answers": "",
            "reply": "8",
        },
    )
    assert "Thanks, that&#39;s all." in sim.body_text
    assert "program completed" in sim.body_text
    refused = await maya.post("/hub/programs/publish", {"source": bad})
    assert refused.status == 400
    assert "Not published" in refused.body_text
    page = await maya.follow("/hub/programs/publish", {"source": good})
    assert "Published Morning mood as version 1" in page.body_text
    again = await maya.follow("/hub/programs/publish", {"source": good})
    assert "Nothing changed" in again.body_text
    example = await maya.get("/hub/programs/new?example=sleep-reset")
    assert "sleep-reset" in example.body_text


async def test_enrollments_show_who_is_where(hub: Hub, maya: Browser, clock: ManualClock) -> None:
    w = await world_of(hub, clock)
    page = await maya.get(f"/hub/programs/{w.program_slug}")
    assert "Sam Lee" in page.body_text
    assert "waiting_until" in page.body_text
    assert "morning" in page.body_text  # the step they are at


async def test_channels_telegram_whatsapp_templates_widget(hub: Hub, maya: Browser) -> None:
    refused = await maya.post("/hub/channels/telegram", {"token": "bad-token"})
    assert refused.status == 400
    assert "Unauthorized" in refused.body_text
    page = await maya.follow("/hub/channels/telegram", {"token": "123456:SECRET-TOKEN-VALUE"})
    assert "Connected @test_bot" in page.body_text
    assert "SECRET-TOKEN" not in page.body_text  # secrets are only ever shown masked
    page = await maya.follow(
        "/hub/channels/whatsapp",
        {
            "account_sid": "AC123",
            "auth_token": "twilio-auth-token-secret",
            "sender": "whatsapp:+14155238886",
        },
    )
    assert "twilio-auth-token-secret" not in page.body_text
    async with hub.services.db.sessions() as session:
        wa = await session.scalar(
            select(ChannelBinding).where(ChannelBinding.channel == "whatsapp")
        )
    assert wa is not None
    bad = await maya.post(f"/hub/channels/{wa.id}/templates", {"templates": "default HX1"})
    assert bad.status == 400
    assert "template line 1" in bad.body_text
    await maya.follow(
        f"/hub/channels/{wa.id}/templates", {"templates": "default = HXabc\nmood:mood = HXdef"}
    )
    async with hub.services.db.sessions() as session:
        wa = await session.get(ChannelBinding, wa.id)
    assert wa is not None
    assert wa.config["templates"] == {"default": "HXabc", "mood:mood": "HXdef"}
    page = await maya.post(
        "/hub/channels/widget", {"origins": "https://maya.example", "color": "#0f766e"}
    )
    assert page.status == 200
    assert "s3cret-widget" in page.body_text
    page = await maya.get("/hub/channels")
    assert "s3cret-widget" not in page.body_text
    assert "widget.js" in page.body_text
    assert "Copy snippet" in page.body_text
    no_origin = await maya.post("/hub/channels/widget", {"origins": ""})
    assert no_origin.status == 400
    web_id = re.search(r"/hub/channels/(\d+)/widget", page.body_text)
    assert web_id
    await maya.follow(
        f"/hub/channels/{web_id[1]}/widget", {"origins": "https://new.example", "color": "#123456"}
    )
    async with hub.services.db.sessions() as session:
        widget = await session.get(ChannelBinding, int(web_id[1]))
    assert widget is not None
    assert (widget.config["origins"], widget.config["color"]) == (
        ["https://new.example"],
        "#123456",
    )


async def test_persona_and_policies(hub: Hub, maya: Browser) -> None:
    fields = {
        "bot_name": "Coach Maya",
        "persona": "Warm, brief, practical.",
        "greeting": "Hey {first_name}!",
        "crisis_message": "Please reach out now.",
        "helpline": "Call 988.",
        "timezone": "Europe/Berlin",
        "quiet_hours_start": "22:00",
        "quiet_hours_end": "07:30",
        "daily_proactive_cap": "3",
        "inactivity_days": "4",
        "inactivity_message": "Miss you!",
        "streak_reminder_at": "19:00",
    }
    page = await maya.follow("/hub/settings", fields)
    assert "Saved." in page.body_text
    creator = await creator_of(hub.services.db, "maya@example.com")
    assert (creator.persona, creator.quiet_hours_start, creator.daily_proactive_cap) == (
        "Warm, brief, practical.",
        "22:00",
        3,
    )
    assert (creator.inactivity_days, creator.streak_reminder_at, creator.timezone) == (
        4,
        "19:00",
        "Europe/Berlin",
    )
    bad = await maya.post(
        "/hub/settings", {**fields, "timezone": "Mars/Olympus", "persona": "kept"}
    )
    assert bad.status == 400
    assert "unknown timezone" in bad.body_text
    assert "kept" in bad.body_text


async def test_opt_out_words_are_saved_validated_and_shown(hub: Hub, maya: Browser) -> None:
    page = await maya.get("/hub/settings")
    assert "stop, stop all" in page.body_text  # the defaults, shown as fixed
    assert "start, subscribe" in page.body_text
    fields = {
        "bot_name": "Coach Maya",
        "timezone": "UTC",
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
        "daily_proactive_cap": "4",
        "opt_out_words": "Pause coaching!\nunsubscribe me, pause  COACHING, STOP",
        "opt_in_words": "ready again",
    }
    page = await maya.follow("/hub/settings", fields)
    assert "Saved." in page.body_text
    creator = await creator_of(hub.services.db, "maya@example.com")
    assert creator.opt_out_words == ["pause coaching", "unsubscribe me"]  # normalized, deduped
    assert creator.opt_in_words == ["ready again"]
    assert "pause coaching\nunsubscribe me" in page.body_text  # back in the form

    too_many = ", ".join(f"word {i}" for i in range(21))
    for bad_words, bad_in, field, message in [
        ("pause coaching, start", "", "opt_out_words", "“start” is already an opt-in word"),
        ("/stop", "", "opt_out_words", "“/stop” is a bot command"),
        ("x" * 41, "", "opt_out_words", "longer than 40 characters"),
        ("?!", "", "opt_out_words", "“?!” has no letters or digits"),
        (too_many, "", "opt_out_words", "at most 20 (you gave 21)"),
        ("take a break", "take a break", "opt_in_words", "is already an opt-out word"),
        ("take a break", "stop", "opt_in_words", "“stop” is already an opt-out word"),
    ]:
        bad = await maya.post(
            "/hub/settings",
            {**fields, "opt_out_words": bad_words, "opt_in_words": bad_in, "bot_name": "Kept"},
        )
        assert bad.status == 400, bad_words
        assert message in bad.body_text, (bad_words, bad.body_text)
        # The note sits under its field, and what was typed stays in the form.
        note = re.search(
            rf'<p class="error" id="{field}_error" role="alert">([^<]*)</p>', bad.body_text
        )
        assert note is not None, bad_words
        assert message in html.unescape(note.group(1)), bad_words
        assert html.escape(bad_words, quote=False) in bad.body_text
        unchanged = await creator_of(hub.services.db, "maya@example.com")
        assert (unchanged.bot_name, unchanged.opt_out_words, unchanged.opt_in_words) == (
            "Coach Maya",
            ["pause coaching", "unsubscribe me"],
            ["ready again"],
        )

    cleared = await maya.follow(
        "/hub/settings", {**fields, "opt_out_words": "", "opt_in_words": ""}
    )
    assert "Saved." in cleared.body_text
    creator = await creator_of(hub.services.db, "maya@example.com")
    assert (creator.opt_out_words, creator.opt_in_words) == ([], [])


async def test_audience_handoff_reply_tags_export_erase(
    hub: Hub, maya: Browser, clock: ManualClock
) -> None:
    w = await world_of(hub, clock)
    listing = await maya.get("/hub/audience")
    assert "Sam Lee" in listing.body_text
    assert "crisis" in listing.body_text
    assert "Morning mood" in listing.body_text
    assert "blocked" in listing.body_text  # the failed nudge, with a retry
    contact = await maya.get(f"/hub/audience/{w.contact_id}")
    assert "I want to kill myself" in contact.body_text
    assert "<svg" in contact.body_text
    await maya.follow(f"/hub/audience/{w.contact_id}/handoff", {"action": "take"})
    engine = Engine(hub.services.db, clock=clock)
    await say(engine, w.binding_id, "user-a", "are you a real person?")
    async with hub.services.db.sessions() as session:
        last = await session.scalar(select(Message).order_by(Message.id.desc()).limit(1))
        assert last is not None
        assert last.direction == "in"
        assert last.route == "handoff"
    page = await maya.follow(
        f"/hub/audience/{w.contact_id}/reply", {"text": "Hi Sam, it's Maya herself."}
    )
    assert "Sent to the outbox" in page.body_text
    async with hub.services.db.sessions() as session:
        row = await session.scalar(select(Outbox).order_by(Outbox.id.desc()).limit(1))
        assert row is not None
        assert row.kind == "reply"
        assert row.state == "pending"
        message = await session.get(Message, row.message_id)
        assert message is not None
        assert message.route == "coach"
    await maya.follow(f"/hub/audience/{w.contact_id}/handoff", {"action": "release"})
    async with hub.services.db.sessions() as session:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.contact_id == w.contact_id)
        )
        assert conversation is not None
        assert not conversation.handoff_active
        assert conversation.flagged_at is None
    await maya.follow(f"/hub/audience/{w.contact_id}/tags", {"tags": "VIP, Cohort 3"})
    assert "#cohort-3" in (await maya.get("/hub/audience")).body_text
    retry = await maya.follow(f"/hub/audience/outbox/{w.outbox_id}/retry")
    assert "Queued again" in retry.body_text
    export = await maya.client.get(f"/hub/audience/{w.contact_id}/export")
    data = json.loads(await export.text())
    assert data["contact"]["id"] == w.contact_id
    assert {
        "messages",
        "enrollments",
        "checkins",
        "outbox",
        "channel_identities",
        "contact_tags",
    } <= set(data["related"])
    assert any("kill myself" in str(r.get("inbound")) for r in data["related"]["inbound_receipts"])
    ids = [m["id"] for m in data["related"]["messages"]]
    assert len(ids) == len(set(ids))  # each row once
    await maya.follow(f"/hub/audience/{w.contact_id}/erase")
    async with hub.services.db.sessions() as session:
        for table in (
            "messages",
            "outbox",
            "enrollments",
            "checkins",
            "channel_identities",
            "inbound_receipts",
        ):
            from sqlalchemy import text

            count = await session.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
            assert count == 0, table


async def test_analytics_shows_charts_funnel_and_gaps(
    hub: Hub, maya: Browser, clock: ManualClock
) -> None:
    w = await world_of(hub, clock)
    engine = Engine(hub.services.db, clock=clock, answerer=_answerer(hub))
    await say(engine, w.binding_id, "user-b", "How do I file my taxes in Peru?", name="Kim")
    await say(engine, w.binding_id, "user-b", "How do I file my taxes in Peru?", name="Kim")
    page = await maya.get("/hub/analytics")
    assert page.status == 200
    assert page.body_text.count("<svg") >= 3
    assert "How do I file my taxes in Peru?" in page.body_text
    assert "enrolled" in page.body_text
    assert "completed" in page.body_text
    assert "blocked" in page.body_text  # nudge outcomes by reason
    overview = await maya.get("/hub/")
    assert "questions not answered" in overview.body_text  # repeated declines are flagged


def _answerer(hub: Hub) -> KnowledgeAnswerer:
    return KnowledgeAnswerer(hub.knowledge)


async def test_broadcast_in_each_local_time(hub: Hub, maya: Browser, clock: ManualClock) -> None:
    w = await world_of(hub, clock)
    preview = await maya.post("/hub/broadcasts/preview", {"program": w.program_slug})
    assert "<b>1</b>" in preview.body_text
    assert "Sam Lee" in preview.body_text
    page = await maya.follow(
        "/hub/broadcasts",
        {
            "text": "Live Q&A tonight!",
            "program": w.program_slug,
            "day": "2026-01-06",
            "at": "18:30",
        },
    )
    assert "Scheduled for 1 coachee" in page.body_text
    async with hub.services.db.sessions() as session:
        row = await session.scalar(select(Outbox).where(Outbox.kind == "broadcast"))
        assert row is not None
        creator = await session.get(Creator, w.creator.id)
        assert creator is not None
        # Maya's workspace is in Europe/Berlin (the contact has no zone of their own): 17:30 UTC.
        assert row.next_attempt_at.isoformat() == "2026-01-06T17:30:00+00:00"
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 1
    bad = await maya.post("/hub/broadcasts", {"text": "", "day": "2026-01-06", "at": "18:30"})
    assert bad.status == 400


async def test_team_invite_and_api_keys(hub: Hub, maya: Browser, clock: ManualClock) -> None:
    page = await maya.post("/hub/team/invite", {"email": "sam@example.com", "role": "collaborator"})
    link = re.search(r"http://hub.test(/hub/invite/[\w-]+)", page.body_text)
    assert link, page.body_text
    page = await maya.post("/hub/team/keys", {"name": "Zapier"})
    key = re.search(r"cbk_\w+_[\w-]+", page.body_text)
    assert key
    listed = await maya.get("/hub/team")
    assert key[0] not in listed.body_text  # shown once
    response = await maya.client.get(
        "/api/v1/programs", headers={"Authorization": f"Bearer {key[0]}"}
    )
    assert response.status == 200
    key_id = re.search(r"/hub/team/keys/(\d+)/revoke", listed.body_text)
    assert key_id
    await maya.follow(f"/hub/team/keys/{key_id[1]}/revoke")
    response = await maya.client.get(
        "/api/v1/programs", headers={"Authorization": f"Bearer {key[0]}"}
    )
    assert response.status == 401
    clock.advance(timedelta(seconds=1))


async def test_errors_are_pages_and_a_locked_index_says_why(hub: Hub, maya: Browser) -> None:
    from knowledge.errors import IndexLockedError

    missing = await maya.get("/hub/audience/424242")
    assert missing.status == 404
    assert "Not found" in missing.body_text
    assert 'class="sidebar"' in missing.body_text  # the hub's layout, not a bare text page

    async def locked() -> KnowledgeService:
        raise IndexLockedError("the vector index at var/chroma is in use by pid 7 (coachbot kb)")

    hub.services.knowledge = locked
    page = await maya.get("/hub/knowledge")
    assert page.status == 503
    assert "in use by pid 7" in page.body_text
