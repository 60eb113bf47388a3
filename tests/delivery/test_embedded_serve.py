"""Embedded mode end to end with the real `coachbot` processes: a program joined in `coachbot
chat` delivers its next step from `coachbot serve`, even when serve was stopped while the wait
ran out and started again later. The message is then shown on the next chat."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_cli import coachbot, env_for, free_port, get_json

QUICK = """\
version: 1
slug: quick
title: Quick start
steps:
  - message: Welcome aboard!
  - wait: 10s
  - message: "Day two: time to move, {{ contact.first_name }}!"
  - end: That's all for now.
"""


def start_serve(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "config.cli", "serve", "--port", str(port)],
        env=env_for(data_dir, COACHBOT_SCHEDULER_INTERVAL="0.2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(300):
        try:
            if get_json(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("coachbot serve did not start")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return stderr


def delivered(data_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "coachbot.db") as conn:
        return conn.execute(
            "SELECT m.text, o.state FROM outbox o JOIN messages m ON m.id = o.message_id ORDER BY o.id"
        ).fetchall()


@pytest.mark.slow
def test_a_wait_that_ends_while_serve_is_down_is_delivered_after_restart(tmp_path: Path) -> None:
    coachbot(tmp_path, "creator", "create", "coach", "--name", "Coach Lee", "--email",
             "lee@example.com", "--password-stdin", stdin="a long enough password\n")  # fmt: skip
    coachbot(tmp_path, "creator", "set", "coach", "--quiet-hours", "off")
    program = tmp_path / "quick.yaml"
    program.write_text(QUICK)
    coachbot(tmp_path, "program", "publish", str(program), "--creator", "coach")

    joined = coachbot(
        tmp_path, "chat", "--creator", "coach", "--as", "Sam", stdin="/join quick\n/quit\n"
    )
    assert "Welcome aboard!" in joined.stdout
    started = time.monotonic()

    first, _ = start_serve(tmp_path)
    stop(first)  # down before the wait ends (10 s: room for a slow start on a busy machine) …
    assert time.monotonic() - started < 10.0, "serve took the whole wait to start and stop"
    time.sleep(max(0.0, 11.0 - (time.monotonic() - started)))  # … and the wait ends meanwhile
    assert delivered(tmp_path) == []

    second, _ = start_serve(tmp_path)
    try:
        for _ in range(150):
            if len(delivered(tmp_path)) == 2:
                break
            time.sleep(0.1)
    finally:
        logs = stop(second)
    assert delivered(tmp_path) == [
        ("Day two: time to move, Sam!", "sent"),
        ("That's all for now.", "sent"),
    ], logs

    back = coachbot(tmp_path, "chat", "--creator", "coach", "--as", "Sam", stdin="/quit\n")
    assert "While you were away:" in back.stdout
    assert "Day two: time to move, Sam!" in back.stdout
    again = coachbot(tmp_path, "chat", "--creator", "coach", "--as", "Sam", stdin="hi\n/quit\n")
    assert "While you were away" not in again.stdout.split("hi")[-1]
