"""The setting of the browser tests: a real `coachbot serve` (embedded mode, its own data
directory, set up with the real CLI), host pages served from another origin, and Debian's
Chromium driven by Playwright (never `playwright install`: no browser download)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import coachbot, env_for, free_port, get_json

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
]

QUICK_PROGRAM = """\
version: 1
slug: quick
title: Quick start
steps:
  - message: Welcome aboard!
  - id: pick
    message: Morning or evening?
    choices:
      - {label: Morning, value: morning, goto: am}
      - {label: Evening, value: evening, goto: pm}
  - id: am
    message: Mornings it is.
    next: later
  - id: pm
    message: Evenings it is.
    next: later
  - id: later
    wait: 4s
  - message: "Day two: time to **move**!"
  - end: That's all for now.
"""

AGGRESSIVE_CSS = """
* { all: unset !important; }
button { display: none !important; }
div, section, span, textarea, p { display: none !important; color: red !important; }
html, body { display: block !important; background: #fde68a !important; font: 40px serif; }
"""


def require_chromium() -> None:
    """Skip where Chromium is genuinely missing; in CI (.ci/run installs it) fail instead."""
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def host_page(widget_src: str, key: str, title: str, css: str = "", extra: str = "") -> str:
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<style>body{{font-family:system-ui;margin:2rem}}{css}</style>"
        f"<h1>{title}</h1><p>A page of an embedder's site.</p>{extra}"
        f'<script src="{widget_src}" data-widget="{key}" async></script></html>'
    )


class HostSite:
    """Pages of the embedder's site (path → HTML), on their own port: their own origin."""

    def __init__(self) -> None:
        self.port = free_port()
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = pages.get(self.path.split("?")[0])
                body = (page or "not found").encode()
                self.send_response(200 if page else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Served:
    data_dir: Path
    url: str  # coachbot serve's base URL
    key: str  # the site's widget
    secret: str  # its widget secret (for identify hashes)
    process: subprocess.Popen[str]

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.data_dir / "coachbot.db")

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self.db() as conn:
            return conn.execute(sql, args).fetchall()

    def wait_for(self, sql: str, *args: Any, timeout: float = 30.0) -> list[tuple[Any, ...]]:
        """Poll until the query returns rows (what the scheduler does runs on its own clock)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.query(sql, *args)
            if rows:
                return rows
            time.sleep(0.1)
        raise AssertionError(f"nothing for {sql!r} {args}")


def serve(data_dir: Path, site_origin: str) -> Iterator[Served]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"COACHBOT_PUBLIC_URL": url, "COACHBOT_SCHEDULER_INTERVAL": "0.2"}

    def cli(*args: str) -> str:
        return coachbot(data_dir, *args, COACHBOT_PUBLIC_URL=url).stdout

    cli("demo")
    cli("creator", "set", "demo", "--quiet-hours", "off")
    program = data_dir / "quick.yaml"
    program.write_text(QUICK_PROGRAM)
    cli("program", "publish", str(program), "--creator", "demo")
    added = cli("channel", "add", "web", "--creator", "demo", "--origin", site_origin,
                "--color", "#7c3aed")  # fmt: skip
    key = re.search(r'data-widget="([^"]+)"', added)
    secret = re.search(r"shown once\): (\S+)", added)
    assert key, added
    assert secret, added
    process = subprocess.Popen(
        [sys.executable, "-m", "config.cli", "serve", "--port", str(port)],
        env=env_for(data_dir, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(300):
            try:
                if get_json(f"{url}/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("coachbot serve did not start")
        yield Served(data_dir, url, key[1], secret[1], process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, stderr[-3000:]
