"""The real `coachbot` command, run as a subprocess on a fresh data directory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HEAVY_MODULES = (
    *("sqlalchemy", "aiohttp", "alembic", "asyncpg", "aiosqlite", "redis", "argon2"),
    # the knowledge base's
    *("torch", "sentence_transformers", "chromadb", "langchain_core", "langchain_ollama"),
    *("numpy", "bm25s", "pypdf", "docx", "lxml", "jinja2"),
)


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOT_")}
    env.update(COACHBOT_DATA_DIR=str(data_dir), COACHBOT_LOG_FORMAT="json", **extra)
    return env


def coachbot(
    data_dir: Path, *args: str, stdin: str = "", check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "config.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env_for(data_dir, **env),
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"coachbot {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_help_imports_nothing_heavy() -> None:
    """`coachbot --help` must stay instant: none of the heavy libraries may load for it."""
    code = (
        "import sys; from click.testing import CliRunner; from config.cli import main;"
        "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output;"
        f"print([m for m in {HEAVY_MODULES!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_demo_then_chat_answers_help_and_crisis(tmp_path: Path) -> None:
    out = coachbot(tmp_path, "demo").stdout
    assert "created demo creator 'demo'" in out
    assert "program: sleep-reset (version 1); nobody is enrolled" in out
    assert "already exists" in coachbot(tmp_path, "demo").stdout  # idempotent
    transcript = coachbot(
        tmp_path,
        "chat",
        "--creator",
        "demo",
        "--as",
        "Sam",
        stdin="/help\nI want to hurt myself\n/quit\n",
    ).stdout
    assert "Chatting with Coach Maya (Maya Brooks) as Sam" in transcript
    assert "Coach Maya: Here's what I can do:" in transcript
    assert "/reset" in transcript
    crisis = transcript.split("I want to hurt myself")[-1] if "I want" in transcript else transcript
    assert "I'm really sorry you're feeling this way" in crisis
    assert "988" in crisis


def test_demo_program_runs_in_chat_and_each_reply_shows_once(tmp_path: Path) -> None:
    coachbot(tmp_path, "demo")
    transcript = coachbot(
        tmp_path,
        "chat",
        "--creator",
        "demo",
        "--as",
        "Sam",
        stdin="/programs\n/join sleep-reset\n23:00\n/quit\n",
    ).stdout
    assert "7-Day Sleep Reset: /join sleep-reset" in transcript
    assert "Welcome to your 7-Day Sleep Reset" in transcript
    assert transcript.count("What time do you usually get into bed") == 1
    assert transcript.count("what time does your alarm go off") == 1


def test_creator_set_opt_out_words_then_chat(tmp_path: Path) -> None:
    coachbot(tmp_path, "demo")
    words = "pause coaching, Unsubscribe me!, STOP"
    done = coachbot(tmp_path, "creator", "set", "demo", "--opt-out-words", words).stdout
    assert "updated demo: opt_out_words" in done
    bad = coachbot(
        tmp_path, "creator", "set", "demo", "--opt-out-words", "resume", check=False
    )  # a default opt-in word
    assert bad.returncode == 1
    assert "opt-out words: “resume” is already an opt-in word" in bad.stderr
    clash = coachbot(
        tmp_path, "creator", "set", "demo", "--opt-in-words", "pause coaching", check=False
    )  # the creator's own opt-out word, as stored
    assert clash.returncode == 1
    assert "“pause coaching” is already an opt-out word" in clash.stderr
    transcript = coachbot(
        tmp_path, "chat", "--creator", "demo", "--as", "Sam",
        stdin="Pause coaching!\n/quit\n",
    ).stdout  # fmt: skip
    assert "Coach Maya won't send you any more reminders or check-ins" in transcript


def test_chat_choices_and_unknown_creator(tmp_path: Path) -> None:
    result = coachbot(tmp_path, "chat", "--creator", "nobody", stdin="/quit\n", check=False)
    assert result.returncode == 1
    assert "no creator 'nobody'" in result.stderr


def test_creator_create_and_list(tmp_path: Path) -> None:
    created = coachbot(
        tmp_path,
        "creator",
        "create",
        "lena-lifts",
        "--name",
        "Lena Fischer",
        "--email",
        "Lena@Example.com",
        "--timezone",
        "Europe/Berlin",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert "created creator lena-lifts (bot: Lena Fischer's coach bot)" in created.stdout
    listing = coachbot(tmp_path, "creator", "list").stdout
    assert "lena-lifts" in listing
    assert "lena@example.com" in listing

    again = coachbot(
        tmp_path,
        "creator",
        "create",
        "lena-lifts",
        "--name",
        "X",
        "--email",
        "x@example.com",
        "--password-stdin",
        stdin="another long password\n",
        check=False,
    )
    assert again.returncode == 1
    assert "a creator with slug 'lena-lifts' already exists" in again.stderr

    for args, message in [
        (["Bad Slug"], "invalid slug"),
        (["ok-slug", "--timezone", "Mars/Olympus"], "unknown timezone"),
    ]:
        bad = coachbot(
            tmp_path,
            "creator",
            "create",
            args[0],
            "--name",
            "N",
            "--email",
            "n@example.com",
            *args[1:],
            "--password-stdin",
            stdin="long enough password\n",
            check=False,
        )
        assert bad.returncode == 1
        assert message in bad.stderr
    short = coachbot(
        tmp_path,
        "creator",
        "create",
        "shorty",
        "--name",
        "N",
        "--email",
        "s@example.com",
        "--password-stdin",
        stdin="short\n",
        check=False,
    )
    assert "at least 10 characters" in short.stderr


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    out = coachbot(
        tmp_path,
        "config",
        "show",
        COACHBOT_SECRET_KEY="topsecretvalue",
        COACHBOT_REDIS_URL="redis://:pw123456@127.0.0.1:6379/0",
    ).stdout
    assert "topsecretvalue" not in out
    assert "pw123456" not in out
    assert "COACHBOT_SECRET_KEY" in out
    bad = coachbot(tmp_path, "config", "show", check=False, COACHBOT_PORT="http")
    assert bad.returncode == 2
    assert "COACHBOT_PORT" in bad.stderr


def test_db_commands(tmp_path: Path) -> None:
    assert "database at head" in coachbot(tmp_path, "db", "upgrade").stdout
    assert "no drift" in coachbot(tmp_path, "db", "check").stdout
    assert "(head)" in coachbot(tmp_path, "db", "current").stdout
    assert "database at base" in coachbot(tmp_path, "db", "downgrade", "base").stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_serve_answers_and_stops_gracefully(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "config.cli", "serve", "--port", str(port)],
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(200):
            try:
                status, body = get_json(f"http://127.0.0.1:{port}/healthz")
                break
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.1)
        else:
            pytest.fail("coachbot serve did not start")
        assert (status, body) == (200, {"status": "ok"})
        assert get_json(f"http://127.0.0.1:{port}/readyz")[0] == 200
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert f"coachbot serving on http://127.0.0.1:{port}" in stdout
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(entry["msg"] == "starting coachbot serve" for entry in logs)
    assert any("shutting down" in entry["msg"] for entry in logs)
