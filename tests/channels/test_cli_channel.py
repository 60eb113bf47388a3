"""`coachbot channel add|list|test|remove` and the Telegram webhook they set, against the fake
Bot API (run in a thread of its own: the CLI runs its own event loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from config.cli import main
from tests.fakes import FakeTelegram


@pytest.fixture
def threaded_telegram() -> Iterator[FakeTelegram]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: list[FakeTelegram] = []

    async def serve() -> None:
        fake = FakeTelegram()
        await fake.start()
        holder.append(fake)
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(10)
    ready.wait(10)
    yield holder[0]
    asyncio.run_coroutine_threadsafe(holder[0].stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_channel_commands(tmp_path: Path, threaded_telegram: FakeTelegram) -> None:
    env = {
        "COACHBOT_DATA_DIR": str(tmp_path),
        "COACHBOT_SECRET_KEY": "cli-test-key",
        "COACHBOT_PUBLIC_URL": "https://coach.example.com",
        "COACHBOT_TELEGRAM_API_URL": threaded_telegram.url,
        "COACHBOT_LOG_LEVEL": "WARNING",
    }
    runner = CliRunner(env=env)

    def run(*args: str, ok: bool = True) -> str:
        result = runner.invoke(
            main, list(args), input="long-enough-password\n", catch_exceptions=False
        )
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    run(
        "creator",
        "create",
        "maya",
        "--name",
        "Maya",
        "--email",
        "m@example.com",
        "--password-stdin",
    )
    assert "Telegram said" in run(
        "channel", "add", "telegram", "--creator", "maya", "--token", "999:BAD", ok=False
    )
    out = run("channel", "add", "telegram", "--creator", "maya", "--token", "123:TEST")
    assert "Connected @coach_bot as channel 1" in out
    hook = threaded_telegram.webhooks["123:TEST"]
    assert hook["url"].startswith("https://coach.example.com/webhooks/telegram/")
    assert len(hook["secret_token"]) >= 32
    listing = run("channel", "list", "--creator", "maya")
    assert "123:TEST" not in listing
    assert hook["secret_token"] not in listing
    assert "token=********" in listing
    assert "Sent:" in run("channel", "test", "--creator", "maya", "1", "--to", "4242")
    assert threaded_telegram.sent_texts("4242")
    run("channel", "add", "telegram", "--creator", "maya", "--token", "123:TEST")  # same row
    assert "Removed channel 1" in run("channel", "remove", "--creator", "maya", "1")
    assert "123:TEST" not in threaded_telegram.webhooks
    assert "removed" in run("channel", "list", "--creator", "maya")
