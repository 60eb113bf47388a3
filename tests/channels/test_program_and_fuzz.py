"""A program conversation over each channel (buttons on Telegram, numbers on WhatsApp), and
malformed or forged bodies thrown at both webhooks: always 4xx, never 5xx, nothing stored."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engine.channel_bindings import BindingInfo
from engine.clock import ManualClock
from engine.db import Database
from engine.models import Creator, InboundReceipt, Message
from programs import store
from tests.channels.conftest import PUBLIC_URL, TG_SECRET, AppClient, settle, tg_text_update
from tests.fakes import FakeTelegram, FakeTwilio
from tests.fakes.telegram import visible_text
from tests.fakes.twilio import inbound_form, signed_post

PROGRAM = """\
version: 1
slug: focus
title: Focus Week
steps:
  - message: "Welcome to **Focus Week**, {{ contact.first_name }}!"
  - id: mood
    kind: question
    text: How focused do you feel?
    choices: [Very, Somewhat, Not at all]
    store: focus
  - message: "Noted: {{ focus }}."
  - id: minutes
    kind: question
    text: How many minutes can you focus today?
    answer: number
    store: minutes
  - end: "Great, {{ minutes | int }} minutes it is."
"""
SAM = "whatsapp:+15550001111"


async def publish(db: Database, creator: Creator, clock: ManualClock) -> None:
    async with db.transaction() as session:
        await store.publish(session, creator.id, PROGRAM, clock.now())


async def test_a_program_over_telegram_with_buttons(
    client: AppClient,
    tg_binding: BindingInfo,
    fake_telegram: FakeTelegram,
    db: Database,
    creator: Creator,
    clock: ManualClock,
) -> None:
    await publish(db, creator, clock)
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    url = f"/webhooks/telegram/{tg_binding.public_key}"

    async def say(update: dict[str, Any]) -> list[str]:
        before = len(fake_telegram.sent_texts())
        assert (await client.post(url, json=update, headers=headers)).status == 200
        await settle(client)
        return [visible_text(t) for t in fake_telegram.sent_texts()[before:]]

    assert await say(tg_text_update(1, "/join focus")) == [
        "Welcome to Focus Week, Sam!",
        "How focused do you feel?",
    ]
    keyboard = fake_telegram.calls_of("sendMessage")[-1].params["reply_markup"]
    button = keyboard["inline_keyboard"][1][0]
    assert button["text"] == "Somewhat"
    press = {
        "update_id": 2,
        "callback_query": {
            "id": "cb-1",
            "chat_instance": "1",
            "data": button["callback_data"],
            "from": {"id": 4242, "is_bot": False, "first_name": "Sam"},
            "message": {
                "message_id": 5,
                "date": 1767603600,
                "text": "How focused do you feel?",
                "chat": {"id": 4242, "type": "private"},
                "reply_markup": keyboard,
            },
        },
    }
    assert await say(press) == ["Noted: Somewhat.", "How many minutes can you focus today?"]
    assert fake_telegram.calls_of("answerCallbackQuery")[0].params["callback_query_id"] == "cb-1"
    assert await say(tg_text_update(3, "25")) == ["Great, 25 minutes it is."]


async def test_a_program_over_whatsapp_with_numbers(
    client: AppClient,
    wa_binding: BindingInfo,
    fake_twilio: FakeTwilio,
    db: Database,
    creator: Creator,
    clock: ManualClock,
) -> None:
    await publish(db, creator, clock)
    path = f"/webhooks/twilio/{wa_binding.public_key}"
    counter = iter(range(1, 100))

    async def say(text: str) -> list[str]:
        before = len(fake_twilio.messages)
        form = inbound_form(f"SM{next(counter):032x}", SAM, text)
        body, headers = signed_post("authtoken-1", PUBLIC_URL + path, form)
        assert (await client.post(path, data=body, headers=headers)).status == 200
        await settle(client)
        return [m.body or "" for m in fake_twilio.messages[before:]]

    assert await say("/join focus") == [
        "Welcome to *Focus Week*, Sam!",
        "How focused do you feel?\n\n1. Very\n2. Somewhat\n3. Not at all\n\n"
        "Reply with the number of your choice.",
    ]
    assert await say("2") == ["Noted: Somewhat.", "How many minutes can you focus today?"]
    assert await say("25") == ["Great, 25 minutes it is."]  # a number, not a choice: no menu


async def stored(db: Database) -> int:
    async with db.sessions() as session:
        receipts = await session.scalar(select(func.count()).select_from(InboundReceipt))
        messages = await session.scalar(select(func.count()).select_from(Message))
    return (receipts or 0) + (messages or 0)


bodies = st.one_of(
    st.binary(max_size=300),
    st.recursive(
        st.one_of(
            st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
        ),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=20,
    ).map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda uid, msg: json.dumps({"update_id": uid, "message": msg}).encode(),
        st.integers(),
        st.dictionaries(
            st.sampled_from(["chat", "from", "text", "date", "photo"]),
            st.one_of(st.text(max_size=5), st.integers(), st.none()),
            max_size=5,
        ),
    ),
)
forms = st.dictionaries(
    st.sampled_from(
        [
            "MessageSid",
            "From",
            "Body",
            "NumMedia",
            "MediaUrl0",
            "ButtonPayload",
            "MessageStatus",
            "ErrorCode",
            "To",
        ]
    )
    | st.text(max_size=8),
    st.text(max_size=30),
    max_size=8,
)


@settings(
    max_examples=700,  # x3 requests (Telegram, Twilio, Twilio status) x2 databases: 4,200
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies, form=forms, secret=st.sampled_from(["", "wrong", TG_SECRET]), sign=st.booleans()
)
async def test_malformed_and_forged_bodies_get_4xx_and_store_nothing(
    client: AppClient,
    tg_binding: BindingInfo,
    wa_binding: BindingInfo,
    db: Database,
    body: bytes,
    form: dict[str, str],
    secret: str,
    sign: bool,
) -> None:
    response = await client.post(
        f"/webhooks/telegram/{tg_binding.public_key}",
        data=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"},
    )
    assert 400 <= response.status < 500 or (secret == TG_SECRET and response.status == 200)
    for path in (
        f"/webhooks/twilio/{wa_binding.public_key}",
        f"/webhooks/twilio/{wa_binding.public_key}/status",
    ):
        data, headers = signed_post("authtoken-1" if sign else "forged", PUBLIC_URL + path, form)
        if sign:  # signed by Twilio, then changed in transit
            changed = {**form, "Body": form.get("Body", "") + "!"}
            data = signed_post("authtoken-1", PUBLIC_URL + path, changed)[0]
        response = await client.post(path, data=data, headers=headers)
        assert 400 <= response.status < 500, (path, form, response.status)
    if secret != TG_SECRET:
        assert await stored(db) == 0
