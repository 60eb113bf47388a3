"""WhatsApp through Twilio end to end: signed webhooks on our routes, replies through twilio's
REST client against a fake Twilio on loopback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bots.whatsapp.client import make_client
from bots.whatsapp.sender import WhatsAppSender
from bots.whatsapp.signature import is_valid
from engine.channel_bindings import BindingInfo, update_binding
from engine.channel_models import DeliveryEvent
from engine.db import Database
from engine.delivery import (
    OutsideWindow,
    PermanentFailure,
    Recipient,
    RecipientBlocked,
    RetryLater,
    TemplateRef,
)
from engine.models import ChannelIdentity, InboundReceipt, Message
from engine.secrets import SecretBox
from engine.types import Channel, Choice, OutboundMessage
from tests.channels.conftest import (
    LONG_TEXT,
    PUBLIC_URL,
    TW_FROM,
    TW_SID,
    TW_TOKEN,
    AppClient,
    settle,
)
from tests.fakes import FakeTwilio
from tests.fakes.twilio import inbound_form, signed_post

PAYLOADS = Path(__file__).parent / "payloads"
SAM = "whatsapp:+15550001111"


def payload(name: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((PAYLOADS / f"{name}.json").read_text())
    return data


async def post(
    client: AppClient,
    binding: BindingInfo,
    form: dict[str, Any],
    *,
    status: bool = False,
    token: str = TW_TOKEN,
    signed_url: str | None = None,
    tamper: dict[str, str] | None = None,
) -> int:
    path = f"/webhooks/twilio/{binding.public_key}" + ("/status" if status else "")
    body, headers = signed_post(token, signed_url or PUBLIC_URL + path, form)
    if tamper is not None:
        body, _ = signed_post(token, PUBLIC_URL + path, {**form, **tamper})
    response = await client.post(path, data=body, headers=headers)
    return response.status


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.sessions() as session:
        receipts = await session.scalar(select(func.count()).select_from(InboundReceipt))
        inbound = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        )
        outbound = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "out")
        )
    return receipts or 0, inbound or 0, outbound or 0


@pytest.mark.parametrize(
    ("vector", "signature"),
    [
        ("+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("+12349013030", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
    ],
)
def test_twilios_published_signature_vectors(vector: str, signature: str) -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": vector,
        "Digits": "1234",
        "From": vector,
        "To": "+18005551212",
    }
    assert is_valid("12345", url, params, signature)
    assert not is_valid("12345", url, {**params, "Digits": "1235"}, signature)
    assert not is_valid("12345", url.replace("https", "http"), params, signature)
    assert not is_valid("54321", url, params, signature)


async def test_text_is_answered_and_statuses_are_recorded_once(
    client: AppClient, wa_binding: BindingInfo, fake_twilio: FakeTwilio, db: Database
) -> None:
    assert await post(client, wa_binding, payload("twilio_text")) == 200
    await settle(client)
    (sent,) = fake_twilio.messages
    assert (sent.to, sent.sender) == (SAM, TW_FROM)
    assert sent.params["StatusCallback"] == [
        f"{PUBLIC_URL}/webhooks/twilio/{wa_binding.public_key}/status"
    ]
    status = {**payload("twilio_status"), "MessageSid": sent.sid, "SmsSid": sent.sid}
    for _ in range(3):
        assert await post(client, wa_binding, status, status=True) == 204
    read = {**status, "MessageStatus": "read", "SmsStatus": "read"}
    assert await post(client, wa_binding, read, status=True) == 204
    assert await post(client, wa_binding, status, status=True) == 204  # late: no step back
    async with db.sessions() as session:
        message = await session.scalar(select(Message).where(Message.direction == "out"))
        assert message is not None
        assert message.provider_message_id == sent.sid
        assert message.status == "read"
        events = await session.scalar(select(func.count()).select_from(DeliveryEvent))
        assert events == 2


async def test_a_new_auth_token_works_at_once_and_the_old_one_stops(
    client: AppClient, wa_binding: BindingInfo, box: SecretBox, db: Database
) -> None:
    """A coach who rotates the Twilio auth token: the binding the webhook remembers for a few
    seconds has the old one, and a signature made with the new one looks the binding up again
    rather than being refused."""
    first = {**payload("twilio_text"), "MessageSid": "SM" + "1" * 32}
    assert await post(client, wa_binding, first) == 200
    new_token = "a-rotated-auth-token"
    await update_binding(db, box, wa_binding.id, secrets={"auth_token": new_token})
    second = {**payload("twilio_text"), "MessageSid": "SM" + "2" * 32}
    assert await post(client, wa_binding, second, token=new_token) == 200
    third = {**payload("twilio_text"), "MessageSid": "SM" + "3" * 32}
    assert await post(client, wa_binding, third) == 403  # signed with the old token
    await settle(client)
    assert (await counts(db))[0] == 2


@pytest.mark.parametrize("name", ["twilio_text", "twilio_media"])
async def test_replays_store_one_message_and_send_one_reply(
    name: str, client: AppClient, wa_binding: BindingInfo, fake_twilio: FakeTwilio, db: Database
) -> None:
    form = payload(name)
    for _ in range(5):
        assert await post(client, wa_binding, form) == 200
    statuses = await asyncio.gather(*(post(client, wa_binding, form) for _ in range(10)))
    assert set(statuses) == {200}
    await settle(client)
    receipts, inbound, outbound = await counts(db)
    assert (receipts, inbound) == (1, 1)
    assert len(fake_twilio.messages) == outbound >= 1


async def test_media_becomes_attachments(
    client: AppClient, wa_binding: BindingInfo, db: Database
) -> None:
    assert await post(client, wa_binding, payload("twilio_media")) == 200
    await settle(client)
    async with db.sessions() as session:
        message = await session.scalar(select(Message).where(Message.direction == "in"))
    assert message is not None
    assert message.text == "my bedroom"
    (attachment,) = message.payload["attachments"]
    assert attachment["kind"] == "image"
    assert attachment["mime_type"] == "image/jpeg"
    assert attachment["url"].endswith("/Media/ME1a1b2c3d4e5f60718293a4b5c6d7e8f9")


@pytest.mark.parametrize(
    "forgery",
    [
        {"token": "wrong-token"},
        {"tamper": {"Body": "STOP"}},
        {"signed_url": "http://127.0.0.1:8080/webhooks/twilio/KEY"},
        {"signed_url": PUBLIC_URL + "/webhooks/twilio/other-key"},
    ],
)
async def test_forged_requests_get_403_and_store_nothing(
    forgery: dict[str, Any],
    client: AppClient,
    wa_binding: BindingInfo,
    fake_twilio: FakeTwilio,
    db: Database,
) -> None:
    if "signed_url" in forgery:
        forgery = {"signed_url": forgery["signed_url"].replace("KEY", wa_binding.public_key)}
    assert await post(client, wa_binding, payload("twilio_text"), **forgery) == 403
    assert await post(client, wa_binding, payload("twilio_status"), status=True, **forgery) == 403
    unsigned = await client.post(
        f"/webhooks/twilio/{wa_binding.public_key}", data=payload("twilio_text")
    )
    assert unsigned.status == 403
    await settle(client)
    assert await counts(db) == (0, 0, 0)
    assert fake_twilio.requests == 0


async def test_a_long_reply_is_split_at_1600(
    client: AppClient, wa_binding: BindingInfo, fake_twilio: FakeTwilio
) -> None:
    assert await post(client, wa_binding, inbound_form("SM" + "1" * 32, SAM, "/long")) == 200
    await settle(client)
    bodies = fake_twilio.bodies(SAM)
    assert len(bodies) >= 7
    assert all(len(b) <= 1600 for b in bodies)
    joined = " ".join(bodies)
    assert joined.count("*Step") == LONG_TEXT.count("**Step")
    assert all(b.count("*") % 2 == 0 for b in bodies)  # no bold left open across parts


async def test_errors_are_named(fake_twilio: FakeTwilio) -> None:
    client, transport = make_client(TW_SID, TW_TOKEN, fake_twilio.url, timeout=2.0)
    sender = WhatsAppSender(client, transport, sender=TW_FROM)
    to = Recipient(1, Channel.WHATSAPP, SAM)
    message = OutboundMessage("Time for your check-in!")
    try:
        for code, error in [
            (63016, OutsideWindow),
            (21610, RecipientBlocked),
            (63014, RecipientBlocked),
            (63018, RetryLater),
            (21617, PermanentFailure),
            (21658, PermanentFailure),
        ]:
            fake_twilio.fail_next(code)
            with pytest.raises(error) as caught:
                await sender.send(to, message)
            assert caught.value.code == str(code)
        fake_twilio.fail_next(20500, status=503)
        with pytest.raises(RetryLater):
            await sender.send(to, message)
        result = await sender.send(to, message, template=TemplateRef("HX" + "0" * 32, {"1": "Sam"}))
        (sent,) = [m for m in fake_twilio.messages if m.sid == result.provider_message_ids[0]]
        assert sent.params["ContentSid"] == ["HX" + "0" * 32]
        assert json.loads(sent.params["ContentVariables"][0]) == {"1": "Sam"}
        assert sent.body is None
        choices = OutboundMessage("Pick one", choices=(Choice("Yes", "y"), Choice("No", "n")))
        await sender.send(to, choices)
        assert fake_twilio.messages[-1].body == (
            "Pick one\n\n1. Yes\n2. No\n\nReply with the number of your choice."
        )
    finally:
        await sender.close()


async def test_opt_out_at_the_carrier_marks_the_number_unreachable(
    client: AppClient, wa_binding: BindingInfo, fake_twilio: FakeTwilio, db: Database
) -> None:
    assert await post(client, wa_binding, payload("twilio_text")) == 200
    await settle(client)
    sid = fake_twilio.messages[0].sid
    failed = {
        **payload("twilio_status"),
        "MessageSid": sid,
        "MessageStatus": "failed",
        "ErrorCode": "63014",
    }
    assert await post(client, wa_binding, failed, status=True) == 204
    async with db.sessions() as session:
        identity = await session.scalar(select(ChannelIdentity))
        message = await session.scalar(select(Message).where(Message.direction == "out"))
    assert identity is not None
    assert identity.unreachable_at is not None
    assert message is not None
    assert message.status == "failed"
    assert "63014" in (message.error or "")


def test_the_first_reply_imports_nothing_on_the_event_loop() -> None:
    """twilio imports ~100 modules on the first `client.api` access (a second and more without
    cached bytecode); the sender's module does that at start-up, so the first reply of a serve
    does not stall every turn on its event loop."""
    probe = (
        "import sys\n"
        "import bots.whatsapp.sender\n"
        "from twilio.rest import Client\n"
        "before = set(sys.modules)\n"
        "client = Client('AC' + '0' * 32, 'token')\n"
        "client.api.v2010.accounts(client.account_sid).messages\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
