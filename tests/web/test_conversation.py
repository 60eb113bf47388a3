"""A widget conversation over the real routes: config, socket, turns, choices, dedupe, history,
the HTTP fallback, and two visitors kept apart."""

from __future__ import annotations

from sqlalchemy import select

from engine.channel_bindings import BindingInfo
from engine.db import Database
from engine.models import ChannelIdentity, InboundReceipt, Message
from tests.web.conftest import AppClient, api, connect, counts, new_token, settle


async def test_config_gives_the_look_and_a_new_visitor(
    client: AppClient, widget: BindingInfo
) -> None:
    status, data = await api(client, widget, "config")
    assert status == 200
    assert data["widget"]["name"] == "Coach Maya"
    assert data["widget"]["color"] == "#0f766e"
    assert "Coach Maya" in data["widget"]["greeting"]
    assert data["visitor"].startswith("v:")
    assert data["unread"] == 0
    # the same token again is the same visitor
    status, again = await api(client, widget, "config", token=data["token"])
    assert (status, again["visitor"]) == (200, data["visitor"])


async def test_a_message_is_claimed_answered_and_stored_as_sent(
    client: AppClient, widget: BindingInfo, db: Database
) -> None:
    socket, ready = await connect(client, widget, await new_token(client, widget))
    assert ready["type"] == "ready"
    assert (ready["unread"], ready["messages"]) == (0, [])
    replies = await socket.reply_to("msg-00000001", "/help")
    assert len(replies) == 1
    assert replies[0]["text"].startswith("Here's what I can do")
    assert replies[0]["turn"] == "msg-00000001"
    assert {"ack", "typing", "message"} <= {f["type"] for f in socket.seen}
    await settle(client)
    async with db.sessions() as session:
        receipt = await session.scalar(select(InboundReceipt))
        assert receipt is not None
        assert receipt.external_message_id == f"{ready['visitor']}:msg-00000001"
        out = await session.scalar(select(Message).where(Message.direction == "out"))
        assert out is not None
        assert (out.status, out.provider_message_id) == ("sent", f"web:{out.id}")
        assert out.channel == "web"


async def test_a_resent_message_is_a_duplicate_and_changes_nothing(
    client: AppClient, widget: BindingInfo, db: Database
) -> None:
    token = await new_token(client, widget)
    socket, _ = await connect(client, widget, token)
    await socket.reply_to("msg-00000001", "/help")
    before = await counts(db)
    (dup,) = await socket.reply_to("msg-00000001", "/help")
    assert dup == {"type": "ack", "id": "msg-00000001", "status": "duplicate"}
    # and over HTTP too (the fallback resends with the same id)
    status, data = await api(
        client, widget, "send", {"id": "msg-00000001", "text": "/help"}, token=token
    )
    assert (status, data) == (200, {"status": "duplicate", "messages": []})
    await settle(client)
    assert await counts(db) == before == (1, 1, 1)


async def test_choices_are_buttons_and_a_pick_sends_its_payload(
    client: AppClient, widget: BindingInfo
) -> None:
    socket, _ = await connect(client, widget, await new_token(client, widget))
    (offer,) = await socket.reply_to("msg-00000001", "/pick")
    assert offer["text"] == "Which **one**?"
    assert offer["choices"] == [
        {"label": "Morning run", "payload": "/echo morning"},
        {"label": "Evening walk", "payload": "/echo evening"},
    ]
    (picked,) = await socket.reply_to("msg-00000002", choice="/echo evening")
    # a payload that was offered comes back as the choice (a command payload is its text)
    assert picked["text"] == "text=/echo evening choice=/echo evening"
    (forged,) = await socket.reply_to("msg-00000003", choice="/echo")
    assert forged["text"] == "text=/echo choice=None"  # never offered: plain text


async def test_reload_restores_the_whole_conversation(
    client: AppClient, widget: BindingInfo
) -> None:
    token = await new_token(client, widget)
    socket, _ = await connect(client, widget, token)
    await socket.reply_to("msg-00000001", "/help")
    await socket.reply_to("msg-00000002", "/pick")
    await socket.ws.close()
    _, ready = await connect(client, widget, token)  # a reload: same token, new socket
    shown = [(m["dir"], m["text"][:12], m.get("cid")) for m in ready["messages"]]
    assert shown == [
        ("in", "/help", "msg-00000001"),
        ("out", "Here's what ", None),
        ("in", "/pick", "msg-00000002"),
        ("out", "Which **one*", None),
    ]
    assert ready["messages"][-1]["choices"][0]["payload"] == "/echo morning"
    ids = [m["id"] for m in ready["messages"]]
    assert ids == sorted(ids)
    # paging back through older messages over HTTP
    status, page = await api(client, widget, "history", {"before": ids[2], "limit": 1}, token=token)
    assert status == 200
    assert [m["id"] for m in page["messages"]] == [ids[1]]
    assert page["more"] is True


async def test_the_http_fallback_sends_and_returns_the_replies(
    client: AppClient, widget: BindingInfo, db: Database
) -> None:
    token = await new_token(client, widget)
    status, data = await api(
        client, widget, "send", {"id": "msg-00000001", "text": "/pick"}, token=token
    )
    assert status == 200
    assert data["status"] == "ok"
    (reply,) = data["messages"]
    assert reply["choices"][1]["label"] == "Evening walk"
    await settle(client)
    assert await counts(db) == (1, 1, 1)


async def test_two_tokens_are_two_visitors_with_their_own_history(
    client: AppClient, widget: BindingInfo, db: Database
) -> None:
    first, second = await new_token(client, widget), await new_token(client, widget)
    a, ready_a = await connect(client, widget, first)
    _, ready_b = await connect(client, widget, second)
    assert ready_a["visitor"] != ready_b["visitor"]
    await a.reply_to("msg-0000000a", "/help")
    _, reload_b = await connect(client, widget, second)
    assert reload_b["messages"] == []
    async with db.sessions() as session:
        identities = (await session.scalars(select(ChannelIdentity))).all()
    assert [i.external_user_id for i in identities] == [ready_a["visitor"]]


async def test_a_visitors_other_tabs_see_the_message_and_the_replies(
    client: AppClient, widget: BindingInfo
) -> None:
    token = await new_token(client, widget)
    tab1, _ = await connect(client, widget, token)
    tab2, _ = await connect(client, widget, token)
    await tab1.reply_to("msg-00000001", "/help")
    seen = [await tab2.next("message"), await tab2.next("message")]
    assert {(m["message"]["dir"], m["message"].get("cid")) for m in seen} == {
        ("in", "msg-00000001"),
        ("out", None),
    }
