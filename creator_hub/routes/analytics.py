"""Analytics: active contacts per day, messages per channel, the program funnel with drop-off
per step, check-in trends, nudge outcomes and reply rate after nudges, and the questions the
material could not answer."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from creator_hub import charts
from creator_hub.app import hub
from creator_hub.context import creator_id
from creator_hub.render import page
from creator_hub.routes.common import now
from engine import analytics
from programs import store

DAYS = 30


async def show(request: web.Request) -> web.Response:
    cid = creator_id(request)
    end = now(request)
    since = end - timedelta(days=DAYS - 1)
    start_day = since.date()
    days = analytics.days_between(start_day, end.date())
    labels = [d.strftime("%d %b") for d in days]
    async with hub(request).db.sessions() as session:
        active = await analytics.active_per_day(
            session, cid, since.replace(hour=0, minute=0, second=0, microsecond=0)
        )
        channels = await analytics.messages_per_channel(session, cid, since)
        programs = await store.list_programs(session, cid)
        chosen = request.query.get("program") or (programs[0].slug if programs else "")
        funnel = await analytics.funnel(session, cid, chosen[:64]) if chosen else []
        trends = await analytics.checkin_trends(session, cid, start_day)
        outcomes = await analytics.nudge_outcomes(session, cid, since)
        replies = await analytics.reply_rate(session, cid, since)
        gaps = await analytics.unanswered_questions(session, cid, since)
    channel_names = sorted(channels)
    trend_charts = [
        (
            metric,
            charts.line(
                f"Average {metric} per day",
                [d.strftime("%d %b") for d in sorted(points)],
                [points[d] for d in sorted(points)],
            ),
        )
        for metric, points in sorted(trends.items())
    ]
    return page(
        request,
        "analytics.html",
        active="analytics",
        title="Analytics",
        days=DAYS,
        active_chart=charts.bars(
            "Active coachees per day", labels, [("active", [active.get(d, 0) for d in days])]
        ),
        channel_chart=charts.bars(
            "Messages per channel",
            channel_names,
            [
                ("from coachees", [channels[c]["in"] for c in channel_names]),
                ("from the bot", [channels[c]["out"] for c in channel_names]),
            ],
        ),
        funnel=funnel,
        programs=programs,
        chosen=chosen,
        funnel_chart=charts.bars(
            f"Program funnel: {chosen}",
            [f.step for f in funnel],
            [("reached", [f.reached for f in funnel])],
        ),
        trend_charts=trend_charts,
        outcomes=sorted(outcomes.items()),
        replies=sorted(replies.items()),
        gaps=gaps,
    )


def register(app: web.Application) -> None:
    app.router.add_get("/analytics", show)
