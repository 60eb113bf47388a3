"""Persona and policies: the bot's name, tone and instructions, greeting, crisis message and
helpline, timezone, quiet hours, daily proactive cap, inactivity nudge, streak reminder, the
creator's own opt-out and opt-in words (on top of the default ones, shown as fixed); the
deployment's language-model settings (read-only: they are the same for every creator)."""

from __future__ import annotations

from aiohttp import web

from creator_hub.app import hub
from creator_hub.context import creator_id, signed_in
from creator_hub.render import page
from creator_hub.routes.common import form, redirect
from engine.creator_settings import FieldError, update_settings
from engine.creators import CreatorError
from engine.keywords import MAX_CUSTOM_WORDS, MAX_WORD_LENGTH, OPT_IN_WORDS, OPT_OUT_WORDS
from engine.persona import DEFAULT_CRISIS_MESSAGE, DEFAULT_GREETING, DEFAULT_HELPLINE

FIELDS = (
    "bot_name",
    "persona",
    "greeting",
    "crisis_message",
    "helpline",
    "timezone",
    "quiet_hours_start",
    "quiet_hours_end",
    "quiet_off",
    "daily_proactive_cap",
    "inactivity_days",
    "inactivity_message",
    "streak_reminder_at",
    "opt_out_words",
    "opt_in_words",
)


def _show(
    request: web.Request,
    *,
    status: int = 200,
    error: str | None = None,
    field_errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> web.Response:
    creator = signed_in(request).creator
    assert creator is not None
    current = values or {
        "bot_name": creator.bot_name,
        "persona": creator.persona,
        "greeting": creator.greeting,
        "crisis_message": creator.crisis_message or "",
        "helpline": creator.helpline or "",
        "timezone": creator.timezone,
        "quiet_hours_start": creator.quiet_hours_start,
        "quiet_hours_end": creator.quiet_hours_end,
        "quiet_off": "1" if creator.quiet_hours_start == creator.quiet_hours_end else "",
        "daily_proactive_cap": str(creator.daily_proactive_cap),
        "inactivity_days": str(creator.inactivity_days or ""),
        "inactivity_message": creator.inactivity_message or "",
        "streak_reminder_at": creator.streak_reminder_at or "",
        "opt_out_words": "\n".join(creator.opt_out_words or ()),
        "opt_in_words": "\n".join(creator.opt_in_words or ()),
    }
    return page(
        request,
        "settings.html",
        status=status,
        error=error,
        field_errors=field_errors or {},
        active="settings",
        title="Persona & policies",
        v=current,
        defaults={
            "greeting": DEFAULT_GREETING,
            "crisis": DEFAULT_CRISIS_MESSAGE,
            "helpline": DEFAULT_HELPLINE,
        },
        opt_out=sorted(OPT_OUT_WORDS),
        opt_in=sorted(OPT_IN_WORDS),
        word_limits={"count": MAX_CUSTOM_WORDS, "length": MAX_WORD_LENGTH},
    )


async def show(request: web.Request) -> web.Response:
    return _show(request)


async def save(request: web.Request) -> web.StreamResponse:
    data = await form(request, limit=5000)
    fields = {k: data.get(k, "") for k in FIELDS}
    try:
        async with hub(request).db.transaction() as session:
            await update_settings(session, creator_id(request), fields)
    except FieldError as exc:
        return _show(
            request,
            status=400,
            error="Not saved: see the note under the field.",
            field_errors={exc.field: str(exc)},
            values=fields,
        )
    except CreatorError as exc:
        return _show(request, status=400, error=str(exc), values=fields)
    raise await redirect(
        request, "/hub/settings", "Saved. The bot uses the new settings from its next message."
    )


def register(app: web.Application) -> None:
    app.router.add_get("/settings", show)
    app.router.add_post("/settings", save)
