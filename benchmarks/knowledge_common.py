"""Shared set-up of the knowledge benchmarks: a throwaway data directory with a migrated SQLite
database, a creator, and a KnowledgeService on a persistent Chroma index in that directory."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from config.wiring import alembic_config
from engine.clock import SystemClock
from engine.creators import create_creator
from engine.db import Database
from knowledge.embeddings import SentenceEmbedder
from knowledge.service import KnowledgeConfig, KnowledgeService
from knowledge.store import VectorStore


async def fresh_service(
    embedder: SentenceEmbedder, config: KnowledgeConfig | None = None
) -> tuple[KnowledgeService, int, Path]:
    from alembic import command

    directory = Path(tempfile.mkdtemp(prefix="coachbot-bench-"))
    url = f"sqlite:///{directory / 'bench.db'}"
    command.upgrade(alembic_config(url), "head")
    db = Database(url)
    async with db.transaction() as session:
        creator = await create_creator(
            session,
            slug=f"bench-{uuid.uuid4().hex[:6]}",
            name="Maya Brooks",
            email=f"{uuid.uuid4().hex[:8]}@bench.invalid",
            password=None,
            now=SystemClock().now(),
        )
    store = VectorStore.persistent(directory / "chroma")
    return KnowledgeService(db, store, embedder, config), creator.id, directory
