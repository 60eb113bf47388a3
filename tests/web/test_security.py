"""What the widget refuses: forged and foreign visitor tokens, foreign origins (handshake and
HTTP), oversized messages, floods; and malformed frames of any shape, which never crash the
server or store anything."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.web.frames import MAX_TEXT_BYTES
from bots.web.tokens import Visitor, VisitorTokens
from config.settings import Settings
from config.web import create_app
from engine.channel_bindings import BindingInfo
from engine.clock import ManualClock
from engine.db import Database
from engine.models import Creator
from engine.pipeline import Engine
from engine.secrets import SecretBox
from tests.web.conftest import (
    ORIGIN,
    OTHER_ORIGIN,
    SECRET_KEY,
    AppClient,
    api,
    connect,
    counts,
    make_widget,
    new_token,
    settle,
)


def forged_tokens(widget: BindingInfo, good: str) -> list[str]:
    version, body, mac = good.split(".")
    other_key = VisitorTokens("another deployment's key")
    return [
        "",
        "garbage",
        f"{version}.{body}.{'A' * len(mac)}",  # a made-up signature
        f"{version}.{body[:-2]}xx.{mac}",  # an altered payload
        other_key.issue(widget.public_key, Visitor("v:someone")),  # signed with another key
        VisitorTokens(SECRET_KEY).issue(widget.public_key, Visitor("u:42", "wrong-secret-id")),
    ]


async def test_forged_tokens_are_refused_on_the_socket_and_over_http(
    client: AppClient, widget: BindingInfo, db: Database
) -> None:
    for token in forged_tokens(widget, await new_token(client, widget)):
        socket, first = await connect(client, widget, token)
        assert first["code"] == "bad_token"
        closing = await socket.ws.receive()
        assert (closing.type, socket.ws.close_code) == (aiohttp.WSMsgType.CLOSE, 4401)
        for action in ("history", "send", "read", "config"):
            status, data = await api(
                client, widget, action, {"id": "msg-00000001", "text": "hi"}, token=token or "x"
            )
            assert (status, data["error"]) == (401, "bad_token"), action
    assert await counts(db) == (0, 0, 0)


async def test_a_token_of_one_widget_is_refused_by_another(
    client: AppClient,
    widget: BindingInfo,
    db: Database,
    box: SecretBox,
    creator: Creator,
    clock: ManualClock,
) -> None:
    other = await make_widget(db, box, creator, clock)
    token = await new_token(client, widget)
    _, first = await connect(client, other, token)
    assert first["code"] == "bad_token"
    status, data = await api(
        client, other, "send", {"id": "msg-00000001", "text": "hi"}, token=token
    )
    assert (status, data["error"]) == (401, "bad_token")
    assert await counts(db) == (0, 0, 0)


async def test_a_foreign_origin_is_refused_at_the_handshake_and_on_every_call(
    client: AppClient, widget: BindingInfo, db: Database
) -> None:
    token = await new_token(client, widget)
    for origin in (OTHER_ORIGIN, ORIGIN + ":8443", ORIGIN.replace("https", "http"), "null"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(f"/widget/ws/{widget.public_key}", headers={"Origin": origin})
        assert refused.value.status == 403
        for action in ("config", "history", "send", "read", "identify"):
            body = {"id": "msg-00000001", "text": "hi"}
            response = await client.post(
                f"/widget/api/{widget.public_key}/{action}",
                data=json.dumps(body),
                headers={"Origin": origin, "Authorization": f"Bearer {token}"},
            )
            assert response.status == 403, (origin, action)
            assert "Access-Control-Allow-Origin" not in response.headers
        preflight = await client.options(
            f"/widget/api/{widget.public_key}/send", headers={"Origin": origin}
        )
        assert preflight.status == 403
    # no Origin at all (not a browser, or a same-origin GET) is refused too
    status, _ = await api(client, widget, "config", origin=None)
    assert status == 403
    assert await counts(db) == (0, 0, 0)


async def test_an_allowed_origin_gets_cors_headers_and_a_preflight(
    client: AppClient, widget: BindingInfo
) -> None:
    preflight = await client.options(
        f"/widget/api/{widget.public_key}/send",
        headers={"Origin": ORIGIN, "Access-Control-Request-Headers": "authorization"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    response = await client.post(
        f"/widget/api/{widget.public_key}/config", data="{}", headers={"Origin": ORIGIN}
    )
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Vary"] == "Origin"


@pytest.mark.parametrize("text", ["x" * (MAX_TEXT_BYTES + 1), "€" * 1366])
async def test_an_oversized_message_gets_a_clear_error_and_nothing_is_stored(
    client: AppClient, widget: BindingInfo, db: Database, text: str
) -> None:
    token = await new_token(client, widget)
    socket, _ = await connect(client, widget, token)
    (error,) = await socket.reply_to("msg-00000001", text)
    assert error["code"] == "too_long"
    assert error["id"] == "msg-00000001"
    assert "4096 bytes" in error["message"]
    status, data = await api(
        client, widget, "send", {"id": "msg-00000002", "text": text}, token=token
    )
    assert (status, data["error"]) == (413, "too_long")
    # the socket is still open and a message at the limit goes through
    replies = await socket.reply_to("msg-00000003", "y" * MAX_TEXT_BYTES)
    assert replies
    assert replies[0]["dir"] == "out"
    await settle(client)
    assert await counts(db) == (1, 1, 1)


@pytest.fixture
async def strict_client(
    settings: Settings, db: Database, web_engine: Engine
) -> AsyncIterator[AppClient]:
    strict = replace(settings, widget_rate_per_minute=1.0, widget_rate_burst=2)
    client = TestClient(TestServer(create_app(strict, db, web_engine), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def test_a_flood_is_rate_limited_per_visitor_and_nothing_more_is_stored(
    strict_client: AppClient, widget: BindingInfo, db: Database
) -> None:
    token = await new_token(strict_client, widget)
    socket, _ = await connect(strict_client, widget, token)
    await socket.reply_to("msg-00000001", "/help")
    await socket.reply_to("msg-00000002", "/help")
    (error,) = await socket.reply_to("msg-00000003", "/help")
    assert error["code"] == "rate_limited"
    assert error["retry_after"] > 0
    status, data = await api(
        strict_client, widget, "send", {"id": "msg-00000004", "text": "/help"}, token=token
    )
    assert (status, data["error"]) == (429, "rate_limited")
    # another visitor has their own allowance
    other, _ = await connect(strict_client, widget, await new_token(strict_client, widget))
    assert (await other.reply_to("msg-00000005", "/help"))[0]["dir"] == "out"
    await settle(strict_client)
    assert await counts(db) == (3, 3, 3)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
malformed_sends = st.fixed_dictionaries(
    {"type": st.just("send")},
    optional={
        "id": st.one_of(st.text(max_size=80), st.integers(), st.none()),
        "text": st.one_of(st.just(""), st.just("   "), st.integers(), st.lists(st.text())),
        "choice": st.one_of(st.just(""), st.integers(), st.booleans()),
    },
)
frames_ = st.one_of(
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    st.text(max_size=64),
    json_values.map(json.dumps),
    malformed_sends.map(json.dumps),
    st.just("[" * 5000),  # deep nesting
    st.just('{"type": "send", "id": "msg-00000001", "text": "\\ud800"}'),  # a lone surrogate
    st.just('{"type": "read", "up_to": 99999999999999999999999}'),
)


def stores(raw: str) -> bool:
    """Whether a frame is a valid send on the socket or over HTTP (the only kind that stores)."""
    from bots.web.frames import FrameError, Send, decode, parse_frame, parse_send

    try:
        return isinstance(parse_frame(raw), Send)
    except FrameError:
        pass
    try:
        parse_send(decode(raw))
    except FrameError:
        return False
    return True


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raws=st.lists(frames_, min_size=1, max_size=5))
async def test_malformed_frames_never_crash_and_store_nothing(
    client: AppClient, widget: BindingInfo, db: Database, raws: list[str]
) -> None:
    token = await new_token(client, widget)
    before = await counts(db)
    socket, _ = await connect(client, widget, token)
    for raw in raws:
        await socket.send(raw)
        response = await client.post(
            f"/widget/api/{widget.public_key}/send",
            data=raw.encode("utf-8", "surrogatepass"),
            headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"},
        )
        assert response.status < 500, raw
        for action in ("history", "read", "identify", "config"):
            other = await client.post(
                f"/widget/api/{widget.public_key}/{action}",
                data=raw.encode("utf-8", "surrogatepass"),
                headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"},
            )
            assert other.status < 500, (action, raw)
    await socket.send({"type": "ping"})  # still alive, still answering
    assert (await socket.next("pong"))["type"] == "pong"
    await socket.ws.close()
    await settle(client)
    if not any(stores(raw) for raw in raws):
        assert await counts(db) == before


async def test_frames_the_server_cannot_use_get_an_error_frame(
    client: AppClient, widget: BindingInfo
) -> None:
    socket, _ = await connect(client, widget, await new_token(client, widget))
    cases: list[tuple[Any, str]] = [
        ("not json", "bad_frame"),
        ({"type": "dance"}, "bad_frame"),
        ({"type": "send", "id": "short", "text": "hi"}, "bad_id"),
        ({"type": "send", "id": "msg-00000001", "text": "   "}, "empty"),
        ({"type": "read", "up_to": -1}, "bad_frame"),
        ("x" * 20_000, "too_large"),
    ]
    for frame, code in cases:
        await socket.send(frame)
        if code == "too_large":  # over the socket's frame limit: aiohttp closes with 1009
            closing = await socket.ws.receive()
            assert closing.type == aiohttp.WSMsgType.CLOSE
            assert socket.ws.close_code == 1009
            break
        assert (await socket.next("error"))["code"] == code
