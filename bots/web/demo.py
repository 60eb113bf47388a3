"""The embed snippet, and `/widget/demo`: a sample host page with the demo creator's widget, so
that `coachbot demo && coachbot serve` shows the widget working at once."""

from __future__ import annotations

import html

from sqlalchemy import select

from engine.db import Database
from engine.models import ChannelBinding, Creator
from engine.types import Channel

DEMO_SLUG = "demo"


def snippet(public_url: str, public_key: str) -> str:
    src = html.escape(public_url.rstrip("/") + "/widget.js")
    return f'<script src="{src}" data-widget="{html.escape(public_key)}" async></script>'


def identify_snippet() -> str:
    """For a signed-in user: call identify before (or after) the script loads."""
    return (
        "<script>window.coachbot=window.coachbot||{q:[],identify:function(u){this.q.push("
        '["identify",u])},reset:function(){this.q.push(["reset"])}};\n'
        '  coachbot.identify({id: "USER_ID", name: "USER_NAME", hash: "HMAC_FROM_YOUR_SERVER"});'
        "</script>"
    )


async def demo_widget(db: Database) -> tuple[str, list[str]] | None:
    """The public key and allowed origins of the demo creator's widget, if there is one."""
    async with db.sessions() as session:
        binding = await session.scalar(
            select(ChannelBinding)
            .join(Creator, Creator.id == ChannelBinding.creator_id)
            .where(
                Creator.slug == DEMO_SLUG,
                ChannelBinding.channel == Channel.WEB.value,
                ChannelBinding.enabled.is_(True),
            )
            .order_by(ChannelBinding.id)
            .limit(1)
        )
        if binding is None:
            return None
        return binding.public_key, list((binding.config or {}).get("origins") or [])


_STYLE = """
body{margin:0;font:16px/1.6 system-ui,sans-serif;color:#1f2937;background:#f8fafc}
header{background:linear-gradient(135deg,#1e3a8a,#2563eb);color:#fff;padding:4rem 2rem}
header h1{margin:0 0 .5rem;font-size:2.4rem}main{max-width:46rem;margin:2rem auto;padding:0 2rem}
.card{background:#fff;border-radius:12px;padding:1.5rem;box-shadow:0 1px 3px #0002;margin:1rem 0}
code{background:#eef2ff;padding:.1rem .3rem;border-radius:4px}
"""


def demo_page(key: str | None, origin: str, origins: list[str]) -> str:
    """The page; without a usable widget it says what to do instead of showing nothing."""
    if key is None:
        body = "<p>No demo widget yet: run <code>coachbot demo</code>, then reload.</p>"
        script = ""
    elif origin not in origins:
        allowed = ", ".join(html.escape(o) for o in origins) or "(none)"
        body = (
            f"<p>The demo widget only runs on {allowed}; this page is {html.escape(origin)}. "
            "Open it at one of those addresses, or set <code>COACHBOT_PUBLIC_URL</code> and run "
            "<code>coachbot demo</code> again.</p>"
        )
        script = ""
    else:
        body = (
            "<p>The chat button in the corner is Coach Maya's widget, added to this page with "
            "one line:</p><p><code>" + html.escape(snippet("", key)) + "</code></p>"
            "<p>Try <code>/help</code>, <code>/programs</code> or <code>/join sleep-reset</code>. "
            "Reload the page: the conversation is still there.</p>"
        )
        script = f'<script src="/widget.js" data-widget="{html.escape(key)}" async></script>'
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>Run with Maya: coaching</title><style>{_STYLE}</style>"
        "<header><h1>Run with Maya</h1><p>Small habits, steady miles, better sleep.</p></header>"
        f"<main><div class=card><h2>Talk to Coach Maya</h2>{body}</div>"
        "<div class=card><h2>About</h2><p>A sample page standing in for any website: the widget "
        "lives in its own Shadow DOM, so the page's styles and the widget's never mix.</p></div>"
        f"</main>{script}</html>"
    )
