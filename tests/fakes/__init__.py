"""Fake provider servers, real HTTP on loopback speaking the providers' wire formats, for tests
and load generators: `FakeTelegram` (Bot API) and `FakeTwilio` (REST Messages.json)."""

from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio

__all__ = ["FakeTelegram", "FakeTwilio"]
