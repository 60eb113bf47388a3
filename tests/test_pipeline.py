"""The turn pipeline as transcripts, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from engine.db import Database
from engine.models import ChannelBinding, Contact, Conversation, InboundReceipt, Message
from engine.pipeline import Engine
from engine.types import Attachment
from tests.transcript import Chat


async def test_help_start_and_unknown_commands(chat: Chat) -> None:
    await chat.dialog(
        """
        > /start
        < Hi Sam! I'm Coach Maya, Maya Brooks's coaching assistant. Type /help to see what I can do.
        > /help
        < Here's what I can do:...- /start: say hello...- /help: show this list...- /reset: ...STOP...
        > /frobnicate now
        < I don't know the command `/frobnicate`. Type /help to see what I can do.
        > /START@CoachMayaBot
        < Hi Sam! I'm Coach Maya...
        """
    )


async def test_free_question_is_answered_honestly_not_invented(chat: Chat) -> None:
    await chat.dialog(
        """
        > What should I eat before a long run?
        < I can't answer questions yet: Maya Brooks hasn't given me any material to answer from, and I won't make things up...
        """
    )


async def test_crisis_statement_gets_helpline_and_flags_conversation(
    chat: Chat, db: Database
) -> None:
    await chat.dialog(
        """
        > I want to hurt myself
        < I'm really sorry you're feeling this way...I've also let Maya Brooks know.
        < You can talk to someone right now...988...116 123...
        """
    )
    async with db.sessions() as session:
        conversation = (await session.scalars(select(Conversation))).one()
        assert conversation.flag_reason == "crisis"
        assert conversation.flagged_at is not None
        routes = (await session.scalars(select(Message.route).order_by(Message.id))).all()
    assert routes == ["crisis", "crisis", "crisis"]  # the inbound and both replies


async def test_crisis_beats_commands_and_handoff(chat: Chat, db: Database) -> None:
    await chat.say("/start")
    async with db.transaction() as session:
        conversation = (await session.scalars(select(Conversation))).one()
        conversation.handoff_active = True
    assert await chat.say("hello?") == []  # a human has the conversation: the bot is silent
    replies = await chat.say("/help i want to kill myself")
    assert len(replies) == 2
    assert "988" in replies[1]


async def test_creator_crisis_message_and_helpline_are_used(
    chat: Chat, db: Database, binding: ChannelBinding
) -> None:
    from engine.models import Creator

    async with db.transaction() as session:
        creator = await session.get(Creator, binding.creator_id)
        assert creator is not None
        creator.crisis_message = "{first_name}, please reach out to someone now."
        creator.helpline = "In Germany call the Telefonseelsorge: 0800 111 0 111."
    await chat.dialog(
        """
        > i dont want to live anymore
        < Sam, please reach out to someone now.
        < In Germany call the Telefonseelsorge: 0800 111 0 111.
        """
    )


async def test_opt_out_and_back_in(chat: Chat, db: Database) -> None:
    await chat.dialog(
        """
        > I can't stop snacking at night
        < I can't answer questions yet...
        > Stop!
        < Done. Coach Maya won't send you any more reminders or check-ins...Send START anytime...
        > What time is it?
        < I can't answer questions yet...
        > start
        < Welcome back! Coach Maya will send your reminders and check-ins again...
        """
    )
    async with db.sessions() as session:
        contact = (await session.scalars(select(Contact))).one()
        assert contact.opted_out_at is None
        routes = (
            await session.scalars(
                select(Message.route).where(Message.direction == "in").order_by(Message.id)
            )
        ).all()
    assert routes == ["free_question", "opt_out", "free_question", "opt_in"]


async def test_start_keyword_without_opt_out_is_not_intercepted(chat: Chat) -> None:
    replies = await chat.say("START")
    assert "Welcome back" not in replies[0]


async def test_reset_closes_the_conversation_and_starts_a_new_one(chat: Chat, db: Database) -> None:
    await chat.say("/start")
    await chat.dialog("> /reset\n< Fresh start! ...")
    await chat.say("/help")
    async with db.sessions() as session:
        conversations = (
            await session.scalars(select(Conversation).order_by(Conversation.id))
        ).all()
        assert [c.status for c in conversations] == ["closed", "open"]
        in_new = await session.scalar(
            select(func.count()).where(Message.conversation_id == conversations[1].id)
        )
    assert in_new == 3  # the /reset reply, /help and its reply


async def test_a_known_senders_turn_commits_without_an_orm_flush(chat: Chat) -> None:
    """Arrival stamps the contact, identity and conversation with Core statements; nothing is
    left for the ORM to flush at commit (a flush that writes nothing still costs a turn 3% of
    a serve's time)."""
    await chat.say("/start")
    flushed: list[list[str]] = []

    def record(session: Session, *_: Any) -> None:
        flushed.append([type(o).__name__ for o in (*session.new, *session.dirty)])

    event.listen(Session, "before_flush", record)
    try:
        await chat.dialog(
            """
            > /help
            < Here's what I can do:...
            """
        )
    finally:
        event.remove(Session, "before_flush", record)
    assert flushed == []


async def test_attachment_without_text(chat: Chat) -> None:
    reply = await chat.send(None, attachments=(Attachment(kind="image", url="file-1"),))
    assert "can't look at photos" in reply.texts[0]


async def test_messages_are_stored_with_contact_conversation_and_receipt(
    chat: Chat, engine: Engine, db: Database
) -> None:
    reply = await chat.send("/start")
    message_id = reply.messages[0].message_id
    assert message_id is not None
    await engine.mark_sent(message_id, "provider-42")
    async with db.sessions() as session:
        contact = (await session.scalars(select(Contact))).one()
        assert (contact.display_name, contact.first_name) == ("Sam", "Sam")
        inbound, outbound = (await session.scalars(select(Message).order_by(Message.id))).all()
        receipt = (await session.scalars(select(InboundReceipt))).one()
    assert (inbound.direction, inbound.text, inbound.receipt_id) == ("in", "/start", receipt.id)
    assert (outbound.direction, outbound.reply_to_id) == ("out", inbound.id)
    assert (outbound.status, outbound.provider_message_id) == ("sent", "provider-42")
    assert receipt.status == "processed"
    # Only an outbound message can be marked sent: an inbound id changes nothing.
    await engine.mark_sent_many([(inbound.id, "provider-43")])
    async with db.sessions() as session:
        again = await session.get(Message, inbound.id)
    assert again is not None
    assert (again.status, again.provider_message_id) == ("received", None)
    assert receipt.processed_at is not None


async def test_two_people_are_two_contacts(
    engine: Engine, binding: ChannelBinding, db: Database
) -> None:
    await Chat(engine, binding.id, user_id="a", name="Ana").say("/start")
    replies = await Chat(engine, binding.id, user_id="b", name="Ben Okafor").say("/start")
    assert replies[0].startswith("Hi Ben!")
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Contact)) == 2


async def test_a_failing_turn_apologizes_and_records_the_error(
    chat: Chat, engine: Engine, db: Database
) -> None:
    from engine.commands import Command
    from engine.types import Reply

    async def broken(turn: object, args: str) -> Reply:
        raise RuntimeError("boom")

    engine.commands.commands["help"] = Command("help", "show this list", broken)
    assert await chat.say("/help") == [
        "Sorry, something went wrong on my side and I couldn't answer that. Please try again."
    ]
    async with db.sessions() as session:
        receipt = (await session.scalars(select(InboundReceipt))).one()
        stored = await session.scalar(select(func.count()).select_from(Message))
    assert receipt.status == "failed"
    assert "boom" in (receipt.error or "")
    assert stored == 0  # the failed turn rolled back as a whole


async def test_a_binding_deleted_after_the_claim_ends_the_turn_cleanly(
    chat: Chat, engine: Engine, db: Database, binding: ChannelBinding
) -> None:
    """The coach removed the channel between the webhook's claim and the turn: its receipts go
    with it, and the turn stores and answers nothing rather than failing half-way."""
    receipt_id = await engine.claim(chat.inbound("hello"))
    assert receipt_id is not None
    async with db.transaction() as session:
        gone = await session.get(ChannelBinding, binding.id)
        assert gone is not None
        await session.delete(gone)
    reply = await engine.process(receipt_id)
    assert reply.texts == [
        "Sorry, something went wrong on my side and I couldn't answer that. Please try again."
    ]
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(InboundReceipt)) == 0
        assert await session.scalar(select(func.count()).select_from(Message)) == 0


async def test_a_message_taken_in_just_before_its_binding_was_disabled_is_kept_not_answered(
    chat: Chat, engine: Engine, db: Database, binding: ChannelBinding
) -> None:
    """Webhooks remember a binding for a few seconds, so one may still accept a message after
    the coach switched the channel off: the bot must stay silent, and the message kept."""
    receipt_id = await engine.claim(chat.inbound("are you there?"))
    assert receipt_id is not None
    async with db.transaction() as session:
        switched_off = await session.get(ChannelBinding, binding.id)
        assert switched_off is not None
        switched_off.enabled = False
    reply = await engine.process(receipt_id)
    assert reply.messages == ()
    assert not reply.duplicate
    async with db.sessions() as session:
        receipt = await session.get(InboundReceipt, receipt_id)
        assert receipt is not None
        assert receipt.status == "processed"
        assert receipt.inbound["text"] == "are you there?"
        assert await session.scalar(select(func.count()).select_from(Message)) == 0
