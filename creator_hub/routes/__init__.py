"""The hub's pages, one module per area; each has `register(app)`."""

from __future__ import annotations

import importlib

from aiohttp import web

AREAS = (
    "auth",
    "overview",
    "knowledge",
    "trybot",
    "programs",
    "channels",
    "settings",
    "audience",
    "analytics",
    "broadcasts",
    "team",
)


def add_routes(app: web.Application) -> None:
    for area in AREAS:
        importlib.import_module(f"creator_hub.routes.{area}").register(app)
