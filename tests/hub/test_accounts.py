"""Accounts: sign-up, sign-in and sign-out, session cookies (HttpOnly, SameSite=Lax, Secure over
https, a new session on every sign-in), throttling (the 6th rapid failed sign-in is refused even
with the right password), password reset through the log, invitations and roles."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from creator_hub.models import Account, HubSession
from engine.clock import ManualClock
from tests.hub.conftest import PASSWORD, Browser, Hub, sign_up


async def signed_out(hub: Hub) -> Browser:
    client = TestClient(TestServer(hub.app, host="127.0.0.1"))
    await client.start_server()
    browser = Browser(client)
    await browser.get("/hub/login")
    return browser


async def test_pages_need_a_session(hub: Hub) -> None:
    browser = await signed_out(hub)
    try:
        for path in ("/hub/", "/hub/knowledge", "/hub/audience", "/hub/team"):
            response = await browser.client.get(path, allow_redirects=False)
            assert response.status == 302
            assert response.headers["Location"].startswith("/hub/login")
        partial = await browser.client.get(
            "/hub/knowledge/documents", headers={"HX-Request": "true"}
        )
        assert partial.status == 401
        assert partial.headers["HX-Redirect"] == "/hub/login"
    finally:
        await browser.client.close()


async def test_session_cookie_flags_and_a_new_session_on_sign_in(hub: Hub, maya: Browser) -> None:
    first = maya.client.session.cookie_jar.filter_cookies(maya.client.make_url("/hub/"))[
        "coachbot_hub"
    ].value
    await maya.follow("/hub/logout")
    assert (await maya.client.get("/hub/", allow_redirects=False)).status == 302
    async with hub.services.db.sessions() as session:
        assert (
            await session.scalars(select(HubSession))
        ).all() == []  # the row went, not just the cookie
    await maya.get("/hub/login")
    response = await maya.client.post(
        "/hub/login",
        data={"csrf": maya.csrf, "email": "maya@example.com", "password": PASSWORD},
        allow_redirects=False,
        headers={"X-Forwarded-Proto": "https"},
    )
    assert response.status == 303
    cookie = response.cookies["coachbot_hub"]
    assert cookie.value != first
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"]
    header = response.headers.getall("Set-Cookie")
    assert any("HttpOnly" in h and "SameSite=Lax" in h and "Secure" in h for h in header)


async def test_sixth_rapid_failed_sign_in_is_refused(
    hub: Hub, maya: Browser, clock: ManualClock
) -> None:
    browser = await signed_out(hub)
    try:
        for attempt in range(5):
            page = await browser.post(
                "/hub/login", {"email": "maya@example.com", "password": f"wrong-{attempt}"}
            )
            assert page.status == 401
            assert "wrong e-mail or password" in page.body_text
        page = await browser.post("/hub/login", {"email": "maya@example.com", "password": PASSWORD})
        assert page.status == 429
        assert "locked" in page.body_text
        # The lock is the account's, not the browser's: a fresh one is refused as well.
        other = await signed_out(hub)
        try:
            page = await other.post(
                "/hub/login", {"email": "maya@example.com", "password": PASSWORD}
            )
            assert page.status == 429
        finally:
            await other.client.close()
        clock.advance(timedelta(minutes=16))
        page = await browser.post("/hub/login", {"email": "Maya@Example.com", "password": PASSWORD})
        assert page.status == 303
    finally:
        await browser.client.close()


async def test_unknown_address_and_spread_out_failures(
    hub: Hub, maya: Browser, clock: ManualClock
) -> None:
    browser = await signed_out(hub)
    try:
        page = await browser.post(
            "/hub/login", {"email": "nobody@example.com", "password": PASSWORD}
        )
        assert page.status == 401
        assert "wrong e-mail or password" in page.body_text
        for attempt in range(8):  # slow failures never lock: the window starts over
            clock.advance(timedelta(minutes=4))
            page = await browser.post(
                "/hub/login", {"email": "maya@example.com", "password": f"no-{attempt}"}
            )
            assert page.status == 401
            clock.advance(timedelta(minutes=12))
        page = await browser.post("/hub/login", {"email": "maya@example.com", "password": PASSWORD})
        assert page.status == 303
    finally:
        await browser.client.close()


async def test_password_reset_link_in_the_log(
    hub: Hub, maya: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    browser = await signed_out(hub)
    try:
        for attempt in range(6):
            await browser.post(
                "/hub/login", {"email": "maya@example.com", "password": f"bad-{attempt}"}
            )
        with caplog.at_level(logging.WARNING, logger="coachbot.hub"):
            page = await browser.post("/hub/reset", {"email": "maya@example.com"})
            unknown = await browser.post("/hub/reset", {"email": "ghost@example.com"})
        assert (
            page.body_text.count("If an account exists")
            == unknown.body_text.count("If an account exists")
            == 1
        )
        links = re.findall(r"http://hub.test(/hub/reset/[\w-]+)", caplog.text)
        assert len(links) == 1
        form = await browser.get(links[0])
        assert form.status == 200
        weak = await browser.post(links[0], {"password": "short"})
        assert weak.status == 400
        assert "at least 10 characters" in weak.body_text
        done = await browser.post(links[0], {"password": "a brand new passphrase"})
        assert done.status == 303  # signed in, and the lock is lifted
        await browser.get("/hub/")  # the signed-in page's CSRF token
        again = await browser.post(links[0], {"password": "another new passphrase"})
        assert again.status == 400
        assert "expired" in again.body_text
        old = await browser.post("/hub/login", {"email": "maya@example.com", "password": PASSWORD})
        assert old.status == 401
    finally:
        await browser.client.close()
    # Every earlier session of the account was ended by the reset.
    assert (await maya.client.get("/hub/", allow_redirects=False)).status == 302


async def test_invite_a_collaborator(hub: Hub, maya: Browser) -> None:
    page = await maya.post("/hub/team/invite", {"email": "sam@example.com", "role": "collaborator"})
    link = re.search(r"http://hub.test(/hub/invite/[\w-]+)", page.body_text)
    assert link
    browser = await signed_out(hub)
    try:
        invite = await browser.get(link[1])
        assert "Join Coach Maya" in invite.body_text
        page = await browser.post(link[1], {"name": "Sam Coach", "password": "sams own passphrase"})
        assert page.status == 303
        home = await browser.get("/hub/")
        assert "Coach Maya" in home.body_text
        assert "collaborator" in home.body_text
        team = await browser.get("/hub/team")
        assert "Create invitation link" not in team.body_text
        refused = await browser.post(
            "/hub/team/invite", {"email": "x@example.com", "role": "owner"}
        )
        assert refused.status == 403
        refused = await browser.post("/hub/channels/telegram", {"token": "123:abc"})
        assert refused.status == 403
        used = await browser.get(link[1])
        assert used.status == 400  # single use
    finally:
        await browser.client.close()


async def test_an_account_in_two_workspaces_switches(hub: Hub, maya: Browser) -> None:
    other = await sign_up(hub, "lena@example.com", name="Lena Fischer", workspace="Lena's Bot")
    try:
        page = await other.post(
            "/hub/team/invite", {"email": "maya@example.com", "role": "collaborator"}
        )
        link = re.search(r"http://hub.test(/hub/invite/[\w-]+)", page.body_text)
        assert link
        joined = await maya.post(link[1], {})
        assert joined.status == 303
        home = await maya.get("/hub/")
        assert "Lena&#39;s Bot" in home.body_text
        listing = await maya.get("/hub/workspaces")
        ids = re.findall(r'name="creator_id" value="(\d+)"', listing.body_text)
        assert len(ids) == 2
        for creator_id in ids:
            switched = await maya.follow("/hub/workspaces", {"creator_id": creator_id})
            assert switched.status == 200
        async with hub.services.db.sessions() as session:
            lena = await session.scalar(select(Account).where(Account.email == "lena@example.com"))
        assert lena is not None
        stranger = await maya.post("/hub/workspaces", {"creator_id": "999999"})
        assert stranger.status == 404
    finally:
        await other.client.close()


async def test_signup_keeps_input_on_errors(hub: Hub, maya: Browser) -> None:
    browser = await signed_out(hub)
    try:
        await browser.get("/hub/signup")
        page = await browser.post(
            "/hub/signup",
            {
                "name": "Kim",
                "email": "maya@example.com",
                "password": PASSWORD,
                "workspace": "Kim's coach",
            },
        )
        assert page.status == 400
        assert "already exists" in page.body_text
        assert "Kim&#39;s coach" in page.body_text
        page = await browser.post(
            "/hub/signup",
            {"name": "Kim", "email": "kim@example.com", "password": "short", "workspace": "K"},
        )
        assert page.status == 400
        assert "at least 10 characters" in page.body_text
    finally:
        await browser.client.close()
