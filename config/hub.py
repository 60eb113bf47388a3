"""Mounting the creator hub (/hub) and its REST API (/api/v1) on the web app, with what they need
from the rest of the system: the shared knowledge base, the answerer, the channel connector and
the app's background tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiohttp import web

from config.settings import Settings
from engine.db import Database
from engine.pipeline import Engine

if TYPE_CHECKING:
    from creator_hub.services import HubServices, Index, Spawn
    from engine.answering import KnowledgeAnswerer
    from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)


def hub_services(
    settings: Settings, db: Database, engine: Engine, app: web.Application
) -> HubServices:
    from config.channel_connect import Connector
    from config.channel_routes import BACKGROUND
    from creator_hub.services import HubServices

    async def knowledge() -> KnowledgeService:
        from config.wiring import process_knowledge

        return await asyncio.to_thread(process_knowledge, settings, db)

    def answerer(service: KnowledgeService) -> KnowledgeAnswerer:
        from config.wiring import build_knowledge_answerer

        return build_knowledge_answerer(settings, service)  # type: ignore[return-value]

    def spawn(coro: Coroutine[Any, Any, None], name: str) -> None:
        app[BACKGROUND].spawn(coro, name=name)

    return HubServices(
        index=_queued_indexing(settings, spawn),
        db=db,
        clock=engine.clock,
        public_url=settings.public_url,
        knowledge=knowledge,
        answerer=answerer,
        channels=Connector(settings, db),
        spawn=spawn,
        engine=engine,
        max_upload_bytes=int(settings.max_upload_mb * 1_000_000),
    )


def _queued_indexing(settings: Settings, spawn: Spawn) -> Index | None:
    """In scaled mode (Redis and a Chroma server) uploads are indexed by `coachbot worker`,
    like `coachbot kb ingest` ones; with a local index this process owns it and indexes."""
    if not (settings.redis_url and settings.chroma_url):
        return None
    from config.jobs import RQQueue
    from creator_hub.routes.knowledge import index_later
    from knowledge.jobs import JOB

    queue = RQQueue(settings.redis_url)

    async def enqueue(service: KnowledgeService, ids: list[int]) -> None:
        try:
            await queue.enqueue(JOB, ids)
        except Exception:  # Redis away: this process can write to the Chroma server too
            log.warning("could not queue indexing; indexing here", exc_info=True)
            spawn(index_later(service, ids), f"index documents {ids}")

    return enqueue


def mount_hub(app: web.Application, settings: Settings, db: Database, engine: Engine) -> None:
    from creator_hub.api import create_api
    from creator_hub.app import create_hub

    services = hub_services(settings, db, engine, app)

    async def to_hub(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/hub/")

    app.router.add_get("/hub", to_hub)
    app.add_subapp("/hub", create_hub(services))
    app.add_subapp("/api/v1", create_api(services))
