"""Channels: connect Telegram (the token is checked with getMe and the webhook set), Twilio
WhatsApp (credentials, sender, template mapping), the web widget (appearance, allowed origins,
live preview, the snippet); each binding's health (last inbound, last error). Secrets are never
shown again: only masked. Connecting and removing are the owner's."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from creator_hub.app import hub
from creator_hub.context import creator_id, require_owner, signed_in
from creator_hub.render import page
from creator_hub.routes.common import form, int_param, redirect
from creator_hub.services import ChannelError
from engine.channel_bindings import BindingInfo
from engine.models import ChannelBinding, Creator
from engine.secrets import mask

TEMPLATE_HELP = (
    "one per line: KEY = ContentSid, e.g. default = HX0123… or sleep-reset:morning = HX…"
)


def _templates_text(config: dict[str, object]) -> str:
    templates = config.get("templates") or {}
    assert isinstance(templates, dict)
    return "\n".join(f"{k} = {v}" for k, v in sorted(templates.items()))


def parse_templates(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, sid = (part.strip() for part in line.partition("="))
        if (
            not sep
            or not key
            or not sid
            or len(key) > 200
            or not sid.startswith("HX")
            or len(sid) > 64
        ):
            raise ChannelError(f"template line {number}: write KEY = HX… (a Twilio ContentSid)")
        found[key] = sid
    return found


async def _bindings(request: web.Request) -> list[dict[str, object]]:
    services = hub(request)
    infos = await services.channels.bindings(creator_id(request))
    async with services.db.sessions() as session:
        rows = {b.id: b for b in [await session.get(ChannelBinding, i.id) for i in infos] if b}
    out = []
    for info in infos:
        if info.channel.value == "terminal":
            continue
        row = rows.get(info.id)
        out.append(
            {
                "info": info,
                "masked": {k: mask(v) for k, v in sorted(info.secrets.items())},
                "urls": services.channels.webhook_urls(info),
                "snippet": services.channels.widget_snippet(info.public_key)
                if info.channel.value == "web"
                else None,
                "templates": _templates_text(dict(info.config)),
                "last_inbound": row.last_inbound_at if row else None,
                "last_error": row.last_error if row else None,
                "last_error_at": row.last_error_at if row else None,
            }
        )
    return out


async def show(request: web.Request, *, status: int = 200, **extra: object) -> web.Response:
    context: dict[str, Any] = {"error": None, "widget_secret": None, "values": {}}
    context.update(extra)
    return page(
        request,
        "channels.html",
        status=status,
        active="channels",
        title="Channels",
        bindings=await _bindings(request),
        template_help=TEMPLATE_HELP,
        owner=signed_in(request).role == "owner",
        **context,
    )


async def index(request: web.Request) -> web.Response:
    return await show(request)


def _creator(request: web.Request) -> Creator:
    creator = signed_in(request).creator
    assert creator is not None
    return creator


async def telegram(request: web.Request) -> web.StreamResponse:
    require_owner(request)
    data = await form(request, limit=300)
    try:
        info = await hub(request).channels.connect_telegram(
            _creator(request), data.get("token", "")
        )
    except ChannelError as exc:
        return await show(request, status=400, error=str(exc))
    raise await redirect(
        request, "/hub/channels", f"Connected {info.name}: its webhook points here now."
    )


async def whatsapp(request: web.Request) -> web.StreamResponse:
    require_owner(request)
    data = await form(request, limit=300)
    try:
        info = await hub(request).channels.connect_whatsapp(
            _creator(request),
            account_sid=data.get("account_sid", ""),
            auth_token=data.get("auth_token", ""),
            sender=data.get("sender", ""),
            messaging_service=data.get("messaging_service") or None,
        )
    except ChannelError as exc:
        values = {k: v for k, v in data.items() if k != "auth_token"}
        return await show(request, status=400, error=str(exc), values=values)
    raise await redirect(
        request,
        "/hub/channels",
        f"Connected {info.name}. Set the two webhook URLs below in Twilio.",
    )


async def _owned(request: web.Request) -> BindingInfo:
    binding_id = int_param(request, "binding_id")
    for info in await hub(request).channels.bindings(creator_id(request)):
        if info.id == binding_id:
            return info
    raise web.HTTPNotFound()


async def templates(request: web.Request) -> web.StreamResponse:
    require_owner(request)
    info = await _owned(request)
    data = await form(request, limit=20_000)
    try:
        mapping = parse_templates(data.get("templates", ""))
    except ChannelError as exc:
        return await show(request, status=400, error=str(exc))
    await hub(request).channels.set_config(info.id, {**info.config, "templates": mapping})
    raise await redirect(
        request, "/hub/channels", f"Saved {len(mapping)} template(s) for {info.name}."
    )


def _widget_fields(data: dict[str, str]) -> dict[str, object]:
    return {
        "origins": [
            o.strip() for o in data.get("origins", "").replace(",", "\n").splitlines() if o.strip()
        ],
        "name": data.get("name") or None,
        "avatar": data.get("avatar") or None,
        "color": data.get("color") or None,
        "greeting": data.get("greeting") or None,
        "position": data.get("position") or "right",
    }


async def widget(request: web.Request) -> web.Response:
    require_owner(request)
    data = await form(request, limit=2000)
    connector = hub(request).channels
    try:
        config = connector.widget_config(**_widget_fields(data))
        info, secret = await connector.add_widget(_creator(request), config)
    except ChannelError as exc:
        return await show(request, status=400, error=str(exc), values=data)
    return await show(request, widget_secret=(info.id, secret))


async def widget_update(request: web.Request) -> web.StreamResponse:
    require_owner(request)
    info = await _owned(request)
    data = await form(request, limit=2000)
    connector = hub(request).channels
    try:
        config = connector.widget_config(**_widget_fields(data))
    except ChannelError as exc:
        return await show(request, status=400, error=str(exc))
    await connector.set_config(info.id, {**info.config, **config})
    raise await redirect(
        request, "/hub/channels", "Widget saved: pages pick it up on their next load."
    )


async def remove(request: web.Request) -> web.StreamResponse:
    require_owner(request)
    info = await _owned(request)
    await hub(request).channels.remove(info)
    raise await redirect(
        request, "/hub/channels", f"Removed {info.name}. Its contacts and history stay."
    )


def register(app: web.Application) -> None:
    app.router.add_get("/channels", index)
    app.router.add_post("/channels/telegram", telegram)
    app.router.add_post("/channels/whatsapp", whatsapp)
    app.router.add_post("/channels/widget", widget)
    app.router.add_post("/channels/{binding_id}/widget", widget_update)
    app.router.add_post("/channels/{binding_id}/templates", templates)
    app.router.add_post("/channels/{binding_id}/remove", remove)
