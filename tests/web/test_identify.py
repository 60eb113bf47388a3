"""`coachbot.identify({id, name, hash})`: refused with a wrong hash; with the right one the visitor
becomes the embedder's user, keeps what they wrote, joins that user's contact from any other
browser or channel, and never merges two known users."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bots.web.widgets import WIDGET_SECRET, identify_hash
from engine.channel_bindings import BindingInfo, update_binding
from engine.db import Database
from engine.models import ChannelBinding, ChannelIdentity, Contact
from engine.pipeline import Engine
from engine.secrets import SecretBox
from tests.transcript import Chat
from tests.web.conftest import WIDGET_SECRET_VALUE, AppClient, api, connect, new_token


def signed(user_id: str, name: str | None = None) -> dict[str, str]:
    body = {"id": user_id, "hash": identify_hash(WIDGET_SECRET_VALUE, user_id)}
    return body | ({"name": name} if name else {})


async def identify(
    client: AppClient, widget: BindingInfo, token: str | None, body: dict[str, str]
) -> tuple[int, dict[str, str]]:
    return await api(client, widget, "identify", body, token=token)


async def contact_of(db: Database, binding_id: int, visitor: str) -> int | None:
    async with db.sessions() as session:
        return await session.scalar(
            select(ChannelIdentity.contact_id).where(
                ChannelIdentity.binding_id == binding_id,
                ChannelIdentity.external_user_id == visitor,
            )
        )


async def test_a_wrong_hash_is_rejected_and_changes_nothing(
    client: AppClient, widget: BindingInfo, db: Database
) -> None:
    token = await new_token(client, widget)
    good = signed("42")
    for body in (
        {"id": "42", "hash": "0" * 64},
        {"id": "42"},
        {"id": "43", "hash": good["hash"]},  # another user's hash
        {"id": "42", "hash": good["hash"][:-1]},
        {"id": 42, "hash": good["hash"]},
        {"id": "", "hash": identify_hash(WIDGET_SECRET_VALUE, "")},
        {"id": "4\n2", "hash": identify_hash(WIDGET_SECRET_VALUE, "4\n2")},
    ):
        status, data = await identify(client, widget, token, body)  # type: ignore[arg-type]
        assert (status, data["error"]) == (403, "identify_rejected"), body
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ChannelIdentity)) == 0
    # the hash is case-insensitive hex, as any HMAC library prints it
    status, data = await identify(client, widget, token, good | {"hash": good["hash"].upper()})
    assert (status, data["visitor"]) == (200, "u:42")


async def test_identify_keeps_the_anonymous_conversation(
    client: AppClient, widget: BindingInfo, db: Database
) -> None:
    token = await new_token(client, widget)
    socket, _ = await connect(client, widget, token)
    await socket.reply_to("msg-00000001", "/help")
    status, data = await identify(client, widget, token, signed("42", "Sam Lee"))
    assert (status, data["visitor"]) == (200, "u:42")
    _, again = await connect(client, widget, data["token"])
    assert again["visitor"] == "u:42"
    assert [m["text"][:5] for m in again["messages"]] == ["/help", "Here'"]
    async with db.sessions() as session:
        identity = await session.scalar(select(ChannelIdentity))
        assert identity is not None
        assert identity.external_user_id == "u:42"  # renamed: the same contact carries on
        contact = await session.get(Contact, identity.contact_id)
        assert contact is not None
        assert (contact.display_name, contact.first_name) == ("Sam Lee", "Sam")
    # the anonymous token no longer reaches that conversation
    _, anonymous = await connect(client, widget, token)
    assert anonymous["messages"] == []


async def test_a_second_browser_joins_the_known_user_with_both_histories(
    client: AppClient, widget: BindingInfo, db: Database
) -> None:
    laptop = (await identify(client, widget, await new_token(client, widget), signed("42")))[1]
    socket, _ = await connect(client, widget, laptop["token"])
    await socket.reply_to("msg-0000000a", "/help")
    phone = await new_token(client, widget)
    socket, _ = await connect(client, widget, phone)
    await socket.reply_to("msg-0000000b", "/pick")  # before signing in on the phone
    status, data = await identify(client, widget, phone, signed("42"))
    assert status == 200
    _, ready = await connect(client, widget, data["token"])
    assert [m["text"][:5] for m in ready["messages"] if m["dir"] == "in"] == ["/help", "/pick"]
    async with db.sessions() as session:
        visitors = (await session.scalars(select(ChannelIdentity.external_user_id))).all()
        contacts = await session.scalar(select(func.count()).select_from(Contact))
    assert (visitors, contacts) == (["u:42"], 1)


async def test_two_known_users_are_never_merged(
    client: AppClient, widget: BindingInfo, db: Database
) -> None:
    first = (await identify(client, widget, await new_token(client, widget), signed("42")))[1]
    socket, _ = await connect(client, widget, first["token"])
    await socket.reply_to("msg-0000000a", "/help")
    status, second = await identify(client, widget, first["token"], signed("43"))
    assert (status, second["visitor"]) == (200, "u:43")
    _, ready = await connect(client, widget, second["token"])
    assert ready["messages"] == []
    assert await contact_of(db, widget.id, "u:42") != await contact_of(db, widget.id, "u:43")


async def test_the_known_user_continues_across_channels(
    client: AppClient,
    widget: BindingInfo,
    db: Database,
    web_engine: Engine,
    binding: ChannelBinding,
) -> None:
    """User 42 linked their web chat with another channel (/link); a new browser that signs in
    as 42 is that same coachee, with the other channel's history."""
    laptop = (await identify(client, widget, await new_token(client, widget), signed("42")))[1]
    socket, _ = await connect(client, widget, laptop["token"])
    (offer,) = await socket.reply_to("msg-0000000a", "/link")
    code = re.search(r"\*\*(\d{6})\*\*", offer["text"])
    assert code is not None
    terminal = Chat(web_engine, binding.id, user_id="sam-terminal")
    await terminal.say(f"/link {code[1]}")
    assert "now one" in (await terminal.say("/link yes"))[0]
    terminal_contact = await contact_of(db, binding.id, "sam-terminal")

    phone = await new_token(client, widget)
    status, _ = await identify(client, widget, phone, signed("42"))
    assert status == 200
    assert await contact_of(db, widget.id, "u:42") == terminal_contact


async def test_a_new_widget_secret_signs_identified_visitors_out(
    client: AppClient, widget: BindingInfo, db: Database, box: SecretBox
) -> None:
    data = (await identify(client, widget, await new_token(client, widget), signed("42")))[1]
    assert (await api(client, widget, "config", token=data["token"]))[0] == 200
    await update_binding(db, box, widget.id, secrets={WIDGET_SECRET: "a rotated secret"})
    status, error = await api(client, widget, "config", token=data["token"])
    assert (status, error["error"]) == (401, "bad_token")
    status, _ = await identify(client, widget, None, signed("42"))  # the old secret's hash
    assert status == 403
