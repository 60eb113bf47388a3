"""The widget in a real browser (headless Chromium via Playwright) on a host page served from
another origin than `coachbot serve`: open, send, receive, choices, reload, a proactive message
live through the real outbox, the unread badge after being away, foreign origins, visitors,
identify, hostile host CSS, keyboard use, the HTTP fallback and reconnecting."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from bots.web.widgets import identify_hash
from tests.web.site import (
    AGGRESSIVE_CSS,
    CHROMIUM,
    CHROMIUM_ARGS,
    HostSite,
    Served,
    host_page,
    require_chromium,
    serve,
)

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Screenshots go to a temporary directory, or to docs/ with COACHBOT_TEST_SCREENSHOTS=docs (how
# the ones in docs/ are made), so that running the tests leaves the work tree clean.
SHOTS_TO_DOCS = os.environ.get("COACHBOT_TEST_SCREENSHOTS") == "docs"
TIMEOUT = 15_000  # ms a browser expectation waits for what the server does on its own time


@pytest.fixture(scope="module")
def site() -> Iterator[HostSite]:
    host = HostSite()
    yield host
    host.close()


@pytest.fixture(scope="module")
def served(site: HostSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_chromium()
    for running in serve(tmp_path_factory.mktemp("widget-serve"), site.url("").rstrip("/")):
        src = f"{running.url}/widget.js"
        site.pages["/"] = host_page(src, running.key, "Acme Running Club")
        site.pages["/aggressive"] = host_page(src, running.key, "Hostile page", AGGRESSIVE_CSS)
        yield running


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return DOCS if SHOTS_TO_DOCS else tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(TIMEOUT)
    yield ctx
    ctx.close()


def widget(page: Any, selector: str) -> Any:
    return page.locator(f"coachbot-widget {selector}")  # Playwright's CSS pierces shadow roots


def open_chat(page: Any) -> None:
    widget(page, ".launcher").click()
    expect(widget(page, ".panel")).to_be_visible()


def say(page: Any, text: str) -> None:
    widget(page, "textarea").fill(text)
    widget(page, "textarea").press("Enter")


def bot_says(page: Any, text: str) -> None:
    expect(widget(page, ".msg.bot:not(.draft) .bubble").filter(has_text=text)).to_have_count(
        1, timeout=TIMEOUT
    )


def visitor_of(page: Any, key: str) -> str:
    token = page.evaluate(f"localStorage.getItem('coachbot:{key}')")
    body = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["v"])


def test_open_send_receive_reload_restores_and_no_token_in_urls(
    context: Any, site: HostSite, served: Served
) -> None:
    page = context.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda ws: urls.append(ws.url))
    page.goto(site.url("/"))
    expect(widget(page, ".launcher")).to_be_visible()
    expect(widget(page, ".panel")).to_be_hidden()
    open_chat(page)
    expect(widget(page, ".msg.greeting")).to_contain_text("Coach Maya")
    say(page, "/help")
    expect(widget(page, ".msg.me")).to_have_text(re.compile("/help"))
    bot_says(page, "Here's what I can do")
    expect(widget(page, ".bubble strong").first).to_be_visible()  # Markdown as DOM nodes

    page.reload()
    open_chat(page)
    expect(widget(page, ".msg.me")).to_have_count(1)
    bot_says(page, "Here's what I can do")
    token = page.evaluate(f"localStorage.getItem('coachbot:{served.key}')")
    assert token.startswith("v1.")
    assert urls
    assert not [u for u in urls if token in u or "token" in u.lower()]
    assert any("/widget/ws/" in u for u in urls)


def test_reload_restores_a_long_conversation_in_order(
    context: Any, site: HostSite, served: Served
) -> None:
    page = context.new_page()
    page.goto(site.url("/"))
    open_chat(page)
    say(page, "/help")
    bot_says(page, "Here's what I can do")
    ((contact, conversation, binding),) = served.query(
        "SELECT m.contact_id, m.conversation_id, m.binding_id FROM messages m JOIN"
        " channel_identities i ON i.contact_id = m.contact_id WHERE i.external_user_id = ?"
        " AND m.direction = 'out'",
        visitor_of(page, served.key),
    )
    with served.db() as conn:  # a long history: more than the socket's first page
        conn.executemany(
            "INSERT INTO messages (conversation_id, contact_id, direction, channel, binding_id,"
            " text, payload, route, status, created_at) VALUES (?, ?, 'out', 'web', ?, ?, '{}',"
            " 'nudge', 'sent', '2026-01-05 09:00:00.000000')",
            [(conversation, contact, binding, f"Note {n:03}") for n in range(130)],
        )
    page.reload()
    open_chat(page)
    notes = widget(page, ".msg.bot .bubble").filter(has_text=re.compile(r"^Note \d+$"))
    expect(notes).to_have_count(130)
    texts = widget(page, ".msg .bubble").all_inner_texts()
    assert texts.index("/help") < texts.index("Note 000") < texts.index("Note 129")
    assert [t for t in texts if t.startswith("Note")] == [f"Note {n:03}" for n in range(130)]


def test_choices_are_buttons_and_a_proactive_message_arrives_live(
    context: Any, site: HostSite, served: Served
) -> None:
    page = context.new_page()
    page.goto(site.url("/"))
    open_chat(page)
    say(page, "/join quick")
    bot_says(page, "Morning or evening?")
    choices = widget(page, ".choice")
    expect(choices).to_have_text(["Morning", "Evening"])
    choices.filter(has_text="Evening").click()
    expect(widget(page, ".msg.me").last).to_have_text(re.compile("Evening"))
    bot_says(page, "Evenings it is.")
    expect(widget(page, ".choice")).to_have_count(0)  # answered: the buttons go
    # Four seconds later the program's next step goes through the scheduler, the outbox and the
    # web sender to this open page, without a reload.
    bot_says(page, "Day two: time to move!")
    expect(widget(page, ".bubble strong").filter(has_text="move")).to_have_count(1)
    rows = served.query(
        "SELECT o.state, m.provider_message_id FROM outbox o JOIN messages m ON m.id = o.message_id"
        " WHERE m.text LIKE 'Day two%' AND m.contact_id = (SELECT contact_id FROM"
        " channel_identities WHERE external_user_id = ?)",
        visitor_of(page, served.key),
    )
    assert [(state, pid.startswith("web:")) for state, pid in rows] == [("sent", True)]
    expect(widget(page, ".badge")).to_be_hidden()  # seen in the open panel


def test_messages_sent_while_away_show_as_an_unread_badge(
    context: Any, site: HostSite, served: Served
) -> None:
    page = context.new_page()
    page.goto(site.url("/"))
    open_chat(page)
    say(page, "/join quick")
    bot_says(page, "Morning or evening?")
    widget(page, ".choice").filter(has_text="Morning").click()
    bot_says(page, "Mornings it is.")
    visitor = visitor_of(page, served.key)
    seen = served.wait_for(
        "SELECT read_up_to FROM web_visitors w JOIN channel_identities i ON i.id = w.identity_id"
        " WHERE i.external_user_id = ? AND read_up_to >= (SELECT max(m.id) FROM messages m"
        " WHERE m.contact_id = i.contact_id AND m.text = 'Mornings it is.')",
        visitor,
    )
    assert seen  # the panel was open: what was shown is read
    page.close()  # away before the program's next step

    sent = served.wait_for(
        "SELECT count(*) FROM outbox o JOIN channel_identities i ON i.contact_id = o.contact_id"
        " WHERE i.external_user_id = ? AND o.state = 'sent' HAVING count(*) = 2",
        visitor,
    )
    assert sent == [(2,)]  # "Day two" and the end message, delivered to the inbox

    page = context.new_page()  # the next visit: same browser, same visitor
    page.goto(site.url("/"))
    expect(widget(page, ".badge")).to_have_text("2")
    expect(widget(page, ".launcher")).to_have_attribute("aria-label", re.compile("2 unread"))
    open_chat(page)
    bot_says(page, "Day two: time to move!")
    bot_says(page, "That's all for now.")
    expect(widget(page, ".badge")).to_be_hidden()
    page.reload()  # read on the server, not just on this page
    expect(widget(page, ".launcher")).to_be_visible()
    expect(widget(page, ".badge")).to_be_hidden()


def test_a_disallowed_origin_gets_no_widget(context: Any, site: HostSite, served: Served) -> None:
    page = context.new_page()
    # The same page under another origin (localhost is not 127.0.0.1 to a browser).
    with page.expect_console_message(lambda m: "not available" in m.text):
        page.goto(site.url("/", host="localhost"))
    assert page.locator("coachbot-widget").count() == 0
    # and the socket is refused at the handshake, even when opened by hand
    outcome = page.evaluate(
        """url => new Promise(resolve => {
            const ws = new WebSocket(url);
            ws.onopen = () => resolve("open");
            ws.onclose = () => resolve("refused");
        })""",
        f"{served.url.replace('http', 'ws')}/widget/ws/{served.key}",
    )
    assert outcome == "refused"


def test_two_browser_contexts_are_two_visitors(
    browser: Any, site: HostSite, served: Served
) -> None:
    pages = []
    for word in ("/help", "/programs"):
        ctx = browser.new_context()
        ctx.set_default_timeout(TIMEOUT)
        page = ctx.new_page()
        page.goto(site.url("/"))
        open_chat(page)
        say(page, word)
        expect(widget(page, ".msg.bot:not(.greeting)")).not_to_have_count(0)
        pages.append(page)
    for page, word in zip(pages, ("/help", "/programs"), strict=True):
        page.reload()
        open_chat(page)
        expect(widget(page, ".msg.me .bubble")).to_have_text([word])
    assert visitor_of(pages[0], served.key) != visitor_of(pages[1], served.key)
    for page in pages:
        page.context.close()


def test_identify_with_a_wrong_hash_is_rejected_and_reset_starts_anew(
    context: Any, site: HostSite, served: Served
) -> None:
    page = context.new_page()
    page.goto(site.url("/"))
    open_chat(page)
    say(page, "/help")
    bot_says(page, "Here's what I can do")
    before = visitor_of(page, served.key)
    wrong = page.evaluate("coachbot.identify({id: '42', name: 'Sam', hash: '0'.repeat(64)})")
    assert wrong is False
    assert visitor_of(page, served.key) == before
    right = identify_hash(served.secret, "42")
    assert page.evaluate(f"coachbot.identify({{id: '42', name: 'Sam', hash: '{right}'}})")
    assert visitor_of(page, served.key) == "u:42"
    bot_says(page, "Here's what I can do")  # what they wrote before signing in is theirs
    page.evaluate("coachbot.reset()")
    assert visitor_of(page, served.key).startswith("v:")
    expect(widget(page, ".msg.me")).to_have_count(0)


def test_host_css_cannot_break_the_widget(
    browser: Any, site: HostSite, served: Served, shots: Path
) -> None:
    boxes = {}
    for path in ("/", "/aggressive"):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(TIMEOUT)
        page = context.new_page()
        page.goto(site.url(path))
        open_chat(page)
        say(page, "/help")
        bot_says(page, "Here's what I can do")
        parts = (".launcher", ".panel", "header", "textarea", ".send", ".close")
        for part in parts:
            expect(widget(page, part)).to_be_visible()
        boxes[path] = {part: widget(page, part).bounding_box() for part in parts}
        font = widget(page, "textarea").evaluate("e => getComputedStyle(e).fontSize")
        assert font == "15px"
        if path == "/aggressive":
            page.screenshot(path=str(shots / "widget-aggressive-css.png"))
        context.close()
    assert boxes["/"] == boxes["/aggressive"]


def test_keyboard_and_screen_reader_use(context: Any, site: HostSite, served: Served) -> None:
    page = context.new_page()
    page.goto(site.url("/"))
    expect(widget(page, ".launcher")).to_have_attribute("aria-label", re.compile("Open chat"))
    expect(widget(page, ".panel")).to_have_attribute("role", "dialog")
    expect(widget(page, ".log")).to_have_attribute("role", "log")
    widget(page, ".launcher").focus()
    page.keyboard.press("Enter")
    expect(widget(page, ".panel")).to_be_visible()
    expect(widget(page, ".launcher")).to_have_attribute("aria-expanded", "true")
    expect(widget(page, "textarea")).to_be_focused()
    inside = "e => e.shadowRoot.activeElement && e.shadowRoot.querySelector('.panel')" \
        ".contains(e.shadowRoot.activeElement)"  # fmt: skip
    for _ in range(8):  # focus cycles inside the open dialog
        page.keyboard.press("Tab")
        assert page.locator("coachbot-widget").evaluate(inside)
    for _ in range(3):
        page.keyboard.press("Shift+Tab")
        assert page.locator("coachbot-widget").evaluate(inside)
    page.keyboard.press("Escape")
    expect(widget(page, ".panel")).to_be_hidden()
    expect(widget(page, ".launcher")).to_be_focused()


def test_the_http_fallback_and_reconnecting_with_backoff(
    context: Any, site: HostSite, served: Served
) -> None:
    attempts: list[str] = []
    blocked = [True]

    def gate(ws: Any) -> None:  # a proxy that drops WebSockets, until it no longer does
        attempts.append(ws.url)
        if blocked[0]:
            ws.close()
        else:
            ws.connect_to_server()

    page = context.new_page()
    sends: list[str] = []
    page.on("request", lambda r: sends.append(r.url) if r.url.endswith("/send") else None)
    page.route_web_socket(re.compile(r"/widget/ws/"), gate)
    page.goto(site.url("/"))
    open_chat(page)
    say(page, "/help")  # no socket: sent over HTTP, the reply comes back in the response
    bot_says(page, "Here's what I can do")
    assert len(sends) == 1
    while len(attempts) < 2:  # the widget keeps retrying (with growing, jittered delays)
        page.wait_for_timeout(100)
    expect(widget(page, ".status")).to_have_text("Reconnecting…")
    blocked[0] = False
    context.set_offline(True)  # the browser's "online" event makes it retry at once
    context.set_offline(False)
    expect(widget(page, ".status")).to_have_text("")  # connected: `ready` came
    say(page, "/programs")
    bot_says(page, "Quick start")
    assert len(sends) == 1  # this one went over the socket


def test_screenshots_of_the_open_widget(
    browser: Any, site: HostSite, served: Served, shots: Path
) -> None:
    for name, viewport, scheme in (
        ("widget-desktop.png", {"width": 1280, "height": 800}, "light"),
        ("widget-mobile.png", {"width": 390, "height": 844}, "light"),
        ("widget-dark.png", {"width": 1280, "height": 800}, "dark"),
    ):
        ctx = browser.new_context(viewport=viewport, color_scheme=scheme)
        ctx.set_default_timeout(TIMEOUT)
        page = ctx.new_page()
        page.goto(f"{served.url}/widget/demo")  # the demo page `coachbot demo` set up
        open_chat(page)
        say(page, "/join quick")
        bot_says(page, "Morning or evening?")
        expect(widget(page, ".choice")).to_have_count(2)
        if viewport["width"] < 480:  # the mobile layout: the panel fills the screen
            box = widget(page, ".panel").bounding_box()
            assert (box["width"], box["height"]) == (390, 844)
        page.screenshot(path=str(shots / name))
        assert (shots / name).stat().st_size > 10_000
        ctx.close()


def test_the_markdown_renderer_matches_the_server(
    context: Any, site: HostSite, served: Served
) -> None:
    import random

    from engine import markup

    samples = [
        "**bold** and *italic* and _under_ and `code` and snake_case_word",
        "***both*** *a**b**c* **a*b*c** __x__ ``a`b`` ` x ` \\*not\\*",
        "[site](https://example.com) [bad](javascript:alert(1)) [t](tel:+1) [](mailto:a@b.c)",
        "[a [b](https://x.y)](https://z.w) [x](https://a.b/(c)d)",
        "- one\n- two\n  more\n\n3. three\n4) four\n\npara\nline",
        "<b>not html</b> &amp; <script>alert(1)</script>",
        "* not a list*\n*item",
    ]
    rng = random.Random(7)
    alphabet = "**__``[]()\\-. \n\tab1:/httpsx"
    samples += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(400)
    ]
    page = context.new_page()
    page.goto(site.url("/"))
    page.wait_for_function("() => window.coachbot && window.coachbot._parse")
    ours = page.evaluate("texts => texts.map(t => window.coachbot._parse(t))", samples)
    for text, got in zip(samples, ours, strict=True):
        assert got == blocks_json(markup.parse(text)), text
    # and nothing from a message becomes markup of the page
    open_chat(page)
    # (a command, so the turn stays quick: free text would open the knowledge base)
    say(page, '/x <img src=x onerror="window.pwned=1"> [x](javascript:window.pwned=1)')
    expect(widget(page, ".msg.me")).to_contain_text("<img src=x")
    expect(widget(page, ".msg.bot:not(.greeting)")).not_to_have_count(0)
    assert widget(page, ".msg.me img").count() == 0
    assert widget(page, ".msg.me a").count() == 0
    assert page.evaluate("window.pwned") is None


def blocks_json(blocks: tuple[Any, ...]) -> list[Any]:
    from engine import markup

    def inline(nodes: tuple[Any, ...]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            match node:
                case markup.Text(text):
                    out.append(text)
                case markup.Bold(kids):
                    out.append({"t": "b", "c": inline(kids)})
                case markup.Italic(kids):
                    out.append({"t": "i", "c": inline(kids)})
                case markup.Code(text):
                    out.append({"t": "code", "text": text})
                case markup.Link(label, url):
                    out.append({"t": "a", "url": url, "c": inline(label)})
                case markup.LineBreak():
                    out.append({"t": "br"})
        return out

    result: list[Any] = []
    for block in blocks:
        if isinstance(block, markup.Paragraph):
            result.append({"t": "p", "c": inline(block.children)})
        else:
            kind = "ol" if block.ordered else "ul"
            items = [inline(item) for item in block.items]
            result.append({"t": kind, "start": block.start, "items": items})
    return result
