"""The coach's journey in a real browser (Debian's Chromium via Playwright) against a real
`coachbot serve`: sign up → upload material → test a question → create a program from an example
and publish it → talk to the bot in "Try your bot" → connect the widget → a visitor writes
through the widget on another site → the conversation shows in the audience view, where the
coach takes over and replies.

Screenshots of the main pages go to docs/ with COACHBOT_TEST_SCREENSHOTS=docs (how the committed
ones are made), else to the test's temporary directory, so a test run leaves the tree clean."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import env_for, free_port, get_json
from tests.web.site import CHROMIUM, CHROMIUM_ARGS, HostSite, host_page, require_chromium

pytestmark = pytest.mark.slow
TIMEOUT = 30_000  # ms: the first upload loads the embedding model
GUIDE = b"""# Sleep guide

## Wind-down routine

Dim the lights an hour before bed and put the phone in another room. A warm shower helps the
body cool down afterwards, which makes falling asleep easier.

## Caffeine

Caffeine stays in the body for many hours: have the last coffee before two in the afternoon.
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    data_dir = tmp_path_factory.mktemp("hub-serve")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "config.cli", "serve", "--port", str(port)],
        env=env_for(data_dir, COACHBOT_PUBLIC_URL=url, COACHBOT_SCHEDULER_INTERVAL="0.2"),
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
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, stderr[-3000:]


@pytest.fixture(scope="module")
def site() -> Iterator[HostSite]:
    host = HostSite()
    yield host
    host.close()


@pytest.fixture(scope="module")
def browser(served: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def shots(tmp_path: Path) -> Path:
    if os.environ.get("COACHBOT_TEST_SCREENSHOTS") == "docs":
        return Path(__file__).resolve().parents[2] / "docs"
    return tmp_path


def shoot(page: Any, path: Path) -> None:
    """A full-page screenshot from the top: scrolled down (an autofocused field does that), the
    sticky sidebar would be drawn where the screen was, in the middle of the picture."""
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)


def test_coach_journey(served: str, site: HostSite, browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    out = shots(tmp_path)
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(TIMEOUT)
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # Sign up.
    page.goto(f"{served}/hub/signup")
    page.get_by_label("Your name").fill("Maya Brooks")
    page.get_by_label("E-mail").fill("maya@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_label("Your bot's name").fill("Coach Maya")
    page.get_by_label("Timezone").fill("Europe/Berlin")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("heading", name="Welcome, Maya Brooks!")).to_be_visible()

    # Upload material (the drop zone's file picker) and watch it get indexed.
    page.get_by_role("link", name="Knowledge").first.click()
    page.locator("input[type=file]").set_input_files(
        [{"name": "sleep-guide.md", "mimeType": "text/markdown", "buffer": GUIDE}]
    )
    expect(page.locator("#documents")).to_contain_text("sleep-guide.md")
    expect(page.locator("#documents .badge.ok")).to_have_text("ready", timeout=90_000)

    # Test a question: the answer quotes the material and cites it.
    page.get_by_label("Question").fill("When should I have my last coffee?")
    page.get_by_role("button", name="Ask").click()
    # The first question may export the query encoder to ONNX (once per data dir): slow on a
    # busy machine, so it gets the indexing's patience.
    expect(page.locator(".answer")).to_contain_text("two in the afternoon", timeout=90_000)
    expect(page.locator("#answer .badge.info").first).to_contain_text("Sleep guide")
    shoot(page, out / "hub-knowledge.png")

    # A program from an example: validated live, simulated, published.
    page.get_by_role("link", name="Programs").first.click()
    page.locator(".card").filter(has_text="Sleep Reset").get_by_role("link").click()
    expect(page.locator("#check")).to_contain_text("valid")
    editor = page.locator("#source")
    editor.press("Control+End")
    editor.type("\n  - bogus: field\n")
    expect(page.locator("#check")).to_contain_text("problem")
    expect(page.locator("#check .msg").first).to_contain_text("line")
    page.goto(f"{served}/hub/programs/new?example=sleep-reset")
    expect(page.locator("#check")).to_contain_text("valid")
    page.get_by_role("button", name="Start over").click()
    expect(page.locator("#simulation .bubble").first).to_be_visible()
    page.get_by_role("button", name="Publish a new version").click()
    expect(page.locator(".flash")).to_contain_text("Published")
    page.get_by_role("button", name="Start over").click()  # the published version, simulated
    expect(page.locator("#simulation .bubble").first).to_be_visible()
    shoot(page, out / "hub-program.png")

    # Try the bot in the hub, as `coachbot chat` would: the real pipeline, commands included.
    page.get_by_role("link", name="Try your bot").first.click()
    page.get_by_label("Message").fill("/programs")
    page.get_by_label("Message").press("Enter")
    expect(page.locator("#try-log")).to_contain_text("sleep-reset")
    page.get_by_label("Message").fill("Why should I skip coffee in the afternoon?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#try-log .bubble.bot").last).to_contain_text("two in the afternoon")
    expect(page.get_by_label("Message")).to_have_value("")
    shoot(page, out / "hub-try.png")

    # Connect the widget for the coach's site, and put the snippet on a page there.
    origin = site.url("").rstrip("/")
    page.get_by_role("link", name="Channels").first.click()
    page.get_by_label("Allowed origins").fill(origin)
    page.get_by_label("Greeting").fill("Hi! Ask me about sleep.")
    page.get_by_role("button", name="Add the widget").click()
    snippet = page.locator("pre.snippet").filter(has_text="widget.js").first.inner_text()
    shoot(page, out / "hub-channels.png")
    assert f"{served}/widget.js" in snippet
    key = snippet.split('data-widget="')[1].split('"')[0]
    site.pages["/"] = host_page(f"{served}/widget.js", key, "Maya's Sleep School")

    visitor = browser.new_context(viewport={"width": 1100, "height": 760})
    visitor.set_default_timeout(TIMEOUT)
    home = visitor.new_page()
    home.goto(site.url("/"))
    home.locator("coachbot-widget .launcher").click()
    home.locator("coachbot-widget textarea").fill("Hello! When should I stop drinking coffee?")
    home.locator("coachbot-widget textarea").press("Enter")
    expect(
        home.locator("coachbot-widget .msg.bot .bubble").filter(has_text="afternoon")
    ).to_have_count(1)

    # The conversation in the audience view; the coach takes over and replies.
    page.get_by_role("link", name="Audience").first.click()
    page.locator("table a").first.click()
    expect(page.locator("#transcript")).to_contain_text("When should I stop drinking coffee?")
    page.get_by_role("button", name="Take over").click()
    expect(page.locator(".flash")).to_contain_text("bot stays silent")
    page.get_by_label("Reply as yourself").fill("Hi, it's Maya. Try a decaf after lunch!")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#transcript")).to_contain_text("Try a decaf after lunch")
    # The reply went through the outbox and the web sender to the visitor's open widget.
    expect(
        home.locator("coachbot-widget .msg.bot .bubble").filter(has_text="Try a decaf")
    ).to_have_count(1)
    visitor.close()
    page.reload()
    expect(page.locator("#transcript .bubble.coach")).to_contain_text("sent")
    shoot(page, out / "hub-contact.png")

    for name, path in (
        ("overview", "/hub/"),
        ("audience", "/hub/audience"),
        ("analytics", "/hub/analytics"),
    ):
        page.goto(served + path)
        shoot(page, out / f"hub-{name}.png")
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, storage_state=context.storage_state()
    )
    mobile = phone.new_page()
    mobile.goto(served + "/hub/audience")
    shoot(mobile, out / "hub-mobile.png")
    phone.close()
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
