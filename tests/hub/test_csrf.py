"""CSRF on every state-changing route of the hub, walked from the router: signed in, a request
without the token, with another session's token, or from a foreign Origin is refused (403) and
changes nothing; signed out, the sign-in forms need their double-submit cookie's token. The API's
state-changing calls, walked from its router too, take no session cookie at all (only the
`Authorization` header, which another site cannot make a browser send), so a signed-in
browser's cookie gets 401 there. Every page carries the CSP and the other security headers,
errors included."""

from __future__ import annotations

from sqlalchemy import func, select, text

from creator_hub.models import Account, HubSession
from engine.clock import ManualClock
from tests.hub.conftest import PASSWORD, Browser, Hub, creator_of, sign_up
from tests.hub.test_accounts import signed_out
from tests.hub.test_isolation import FORM, fill
from tests.hub.world import populate, schema


async def counts(hub: Hub) -> dict[str, object]:
    """Rows in every table of the schema, and a few values a refused request could change."""
    out: dict[str, object] = {}
    tables = await schema(hub.services.db)
    async with hub.services.db.sessions() as session:
        for table in tables:
            out[table] = await session.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
        out["handoff"] = await session.scalar(
            text("SELECT count(*) FROM conversations WHERE handoff_active")
        )
        out["settings"] = await session.scalar(
            text(
                "SELECT bot_name || persona || daily_proactive_cap FROM creators ORDER BY id LIMIT 1"
            )
        )
        out["words"] = await session.scalar(
            text("SELECT opt_out_words FROM creators ORDER BY id LIMIT 1")
        )
        out["outbox"] = await session.scalar(
            text("SELECT count(*) FROM outbox WHERE state = 'pending'")
        )
    return out


async def test_every_state_changing_route_needs_the_token(
    hub: Hub, maya: Browser, clock: ManualClock
) -> None:
    w = await populate(
        hub.services.db,
        clock,
        hub.knowledge,
        await creator_of(hub.services.db, "maya@example.com"),
        "a",
    )
    other = await sign_up(hub, "lena@example.com", name="Lena", workspace="Lena's Bot")
    await maya.get("/hub/")
    before = await counts(hub)
    walked = 0
    try:
        for route in hub.hub_app.router.routes():
            if route.method in ("GET", "HEAD", "OPTIONS"):
                continue
            template = route.resource.canonical if route.resource else ""
            path = fill(template, w, 1)
            form = {
                **FORM,
                "creator_id": str(w.creator.id),
                "password": PASSWORD,
                "email": "maya@example.com",
            }
            attempts = [
                await maya.post(path, form, csrf=""),  # no token
                await maya.post(path, form, csrf=other.csrf),  # another session's token
                await maya.post(
                    path, form, headers={"Origin": "https://evil.example"}
                ),  # right token, foreign page
            ]
            for response in attempts:
                assert response.status == 403, (path, response.status, response.body_text[:300])
                assert "Content-Security-Policy" in response.headers
            walked += 1
        assert walked >= 25
        api_walked = 0
        for route in hub.api_app.router.routes():
            if route.method in ("GET", "HEAD", "OPTIONS"):
                continue
            path = fill(route.resource.canonical if route.resource else "", w, 1)
            for headers in ({}, {"Origin": "https://evil.example"}):
                refused = await maya.client.request(
                    route.method,
                    path,
                    json={"contact_id": w.contact_id, "program": w.program_slug, "text": "hi"},
                    headers={"X-CSRF-Token": maya.csrf, **headers},
                )
                assert refused.status == 401, (route.method, path, refused.status)
            api_walked += 1
        assert api_walked >= 8
        assert await counts(hub) == before
        # …and the same requests with the right token do work (the walk is not vacuous).
        ok = await maya.post(f"/hub/audience/{w.contact_id}/tags", {"tags": "vip"})
        assert ok.status == 303
        logout = await maya.post("/hub/logout", csrf="")
        assert logout.status == 403
        assert (await maya.client.get("/hub/", allow_redirects=False)).status == 200
    finally:
        await other.client.close()


async def test_signed_out_forms_need_the_cookie_token(hub: Hub, maya: Browser) -> None:
    browser = await signed_out(hub)
    try:
        for path, data in (
            ("/hub/login", {"email": "maya@example.com", "password": PASSWORD}),
            (
                "/hub/signup",
                {"name": "Eve", "email": "eve@example.com", "password": PASSWORD, "workspace": "E"},
            ),
            ("/hub/reset", {"email": "maya@example.com"}),
        ):
            assert (await browser.post(path, data, csrf="")).status == 403
            assert (await browser.post(path, data, csrf="forged-value")).status == 403
        async with hub.services.db.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Account)) == 1
            assert await session.scalar(select(func.count()).select_from(HubSession)) == 1
        ok = await browser.post("/hub/login", {"email": "maya@example.com", "password": PASSWORD})
        assert ok.status == 303
        cookie = browser.client.session.cookie_jar.filter_cookies(
            browser.client.make_url("/hub/login")
        )
        assert "coachbot_hub_csrf" in cookie
    finally:
        await browser.client.close()
