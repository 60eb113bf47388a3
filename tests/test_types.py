from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from engine.types import Attachment, Channel, Choice, InboundMessage, OutboundMessage, Reply


def make(**fields: object) -> InboundMessage:
    base: dict[str, object] = {
        "channel": Channel.TELEGRAM,
        "binding_id": 3,
        "external_user_id": "12345",
        "external_message_id": "update-9",
        "text": "hi",
        "received_at": datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    }
    base.update(fields)
    return InboundMessage(**base)  # type: ignore[arg-type]


def test_inbound_is_frozen_and_round_trips_through_json() -> None:
    message = make(
        attachments=(Attachment(kind="image", url="file-id", mime_type="image/jpeg"),),
        choice_payload="yes",
        locale="de",
        sender_name="Lena",
        raw={"update_id": 9},
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.text = "changed"  # type: ignore[misc]
    again = InboundMessage.from_json(message.to_json(), raw=message.raw)
    assert again == message
    assert again.raw == {"update_id": 9}
    assert "raw" not in message.to_json()


def test_raw_payload_takes_no_part_in_equality() -> None:
    assert make(raw={"a": 1}) == make(raw={"b": 2})


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"external_user_id": ""}, "external_user_id"),
        ({"external_message_id": ""}, "external_message_id"),
        ({"received_at": datetime(2026, 3, 1, 8, 0)}, "timezone-aware"),
    ],
)
def test_inbound_rejects_incomplete_messages(fields: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make(**fields)


def test_reply_helpers() -> None:
    reply = Reply.text("one", "two", choices=(Choice("Yes", "y"), Choice("No", "n")))
    assert reply.texts == ["one", "two"]
    assert reply.messages[0].choices == ()
    assert reply.messages[1].payload_json() == {
        "choices": [{"label": "Yes", "payload": "y"}, {"label": "No", "payload": "n"}]
    }
    assert not Reply()
    assert Reply(messages=(OutboundMessage("x"),))
    with pytest.raises(ValueError, match="at least one"):
        Reply.text()


def test_engine_public_api_is_complete_and_lazy() -> None:
    import engine

    assert sorted(engine.__all__) == sorted(engine._EXPORTS)
    for name in engine.__all__:
        assert getattr(engine, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        engine.Nope  # noqa: B018
