"""The composition root: turns settings into concrete parts (database, engine, later the LLM, the
vector store and the job queue). Only `config` decides which implementation is used."""

from __future__ import annotations

import os
import secrets
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from config.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config

    from bots.web.sender import WithWebSender
    from engine.answering import Answerer
    from engine.clock import Clock
    from engine.db import Database
    from engine.pipeline import Engine
    from engine.secrets import SecretBox
    from knowledge.service import KnowledgeService

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


def ensure_data_dir(settings: Settings) -> Path:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.data_dir


def secret_key(settings: Settings) -> str:
    """The configured key, or one generated once and kept (0600) in the data directory."""
    if settings.secret_key:
        return settings.secret_key
    path = ensure_data_dir(settings) / SECRET_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        key = secrets.token_urlsafe(48)
        fh.write(key + "\n")
    return key


def migrate(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to `revision` (blocking; call before the event loop starts)."""
    from alembic import command

    if not settings.database_url:
        ensure_data_dir(settings)
    command.upgrade(alembic_config(settings.effective_database_url), revision)


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    import migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.attributes["database_url"] = database_url
    return cfg


def build_database(settings: Settings) -> Database:
    from engine.db import Database

    if not settings.database_url:
        ensure_data_dir(settings)
    return Database(settings.effective_database_url, pool_size=settings.db_pool_size)


def build_engine(settings: Settings, db: Database, clock: Clock | None = None) -> Engine:
    from engine.pipeline import Engine

    return Engine(db, clock=clock, answerer=build_answerer(settings, db))


def build_knowledge(settings: Settings, db: Database) -> KnowledgeService:
    """The knowledge base: Chroma (a server when COACHBOT_CHROMA_URL is set, else a directory
    in the data dir that this process then owns), the embedder, chunking and limits. Blocking
    (imports chromadb): async callers build it in a worker thread."""
    from knowledge.chunking import ChunkingConfig
    from knowledge.embeddings import SentenceEmbedder
    from knowledge.extract import Limits
    from knowledge.service import KnowledgeConfig, KnowledgeService
    from knowledge.store import VectorStore

    if settings.chroma_url:
        store = VectorStore.remote(settings.chroma_url)
    else:
        store = VectorStore.persistent(ensure_data_dir(settings) / "chroma")
    embedder = SentenceEmbedder(
        settings.embedding_model,
        batch_size=settings.embedding_batch_size,
        threads=settings.embedding_threads,
        query_backend=settings.query_embedding_backend,
        cache_dir=ensure_data_dir(settings) / "models",
    )
    config = KnowledgeConfig(
        chunking=ChunkingConfig(size=settings.chunk_size, overlap=settings.chunk_overlap),
        limits=Limits(
            max_file_bytes=int(settings.max_upload_mb * 1_000_000),
            max_docx_uncompressed_bytes=int(settings.max_docx_uncompressed_mb * 1_000_000),
        ),
        top_k=settings.retrieval_k,
        min_relevance=settings.min_relevance,
    )
    return KnowledgeService(db, store, embedder, config)


def build_knowledge_answerer(settings: Settings, knowledge: KnowledgeService) -> Answerer:
    from engine.answering import KnowledgeAnswerer

    chat_model = None
    if settings.ollama_url:
        from engine.llm import ollama_model

        chat_model = ollama_model(settings.ollama_url, settings.llm_model, settings.llm_timeout)
    return KnowledgeAnswerer(knowledge, chat_model=chat_model, timeout=settings.llm_timeout)


def build_answerer(settings: Settings, db: Database) -> Answerer:
    """The free-question answerer. The knowledge base is opened on the first question, so
    starting `serve` or `chat` stays quick and takes no lock on the index until it is needed."""
    from engine.answering import LazyAnswerer

    def open_knowledge() -> Answerer:
        return build_knowledge_answerer(settings, process_knowledge(settings, db))

    return LazyAnswerer(open_knowledge)


_KNOWLEDGE: weakref.WeakKeyDictionary[Database, KnowledgeService] = weakref.WeakKeyDictionary()
_KNOWLEDGE_LOCK = threading.Lock()


def process_knowledge(settings: Settings, db: Database) -> KnowledgeService:
    """The knowledge base of this process for `db`, opened once and shared by the answerer and
    the creator hub: a local index has one owner, and a second open in the same process would
    lock the first out. Blocking (imports chromadb): call it in a worker thread."""
    with _KNOWLEDGE_LOCK:
        service = _KNOWLEDGE.get(db)
        if service is None:
            from knowledge import jobs

            service = build_knowledge(settings, db)
            jobs.install(service)
            _KNOWLEDGE[db] = service
        return service


def secret_box(settings: Settings) -> SecretBox:
    """Seals and opens channel secrets with a key derived from the app's secret key."""
    from engine.secrets import SecretBox

    return SecretBox(secret_key(settings))


def build_senders(settings: Settings, db: Database) -> WithWebSender:
    """The SenderFactory: a Telegram, WhatsApp or web widget sender for any stored binding. The
    web sender publishes to the visitor's sockets: in this process, or through Redis to the
    `serve` process holding them."""
    from bots.senders import ChannelSenders, ProviderUrls
    from bots.web.hub import LocalPublisher, Publisher, RedisPublisher
    from bots.web.sender import WebSender, WithWebSender

    urls = ProviderUrls(
        telegram_api=settings.telegram_api_url,
        twilio_api=settings.twilio_api_url,
        public=settings.public_url,
        timeout=settings.provider_timeout,
    )
    publisher: Publisher = (
        RedisPublisher(settings.redis_url) if settings.redis_url else LocalPublisher()
    )
    channels = ChannelSenders(db, secret_box(settings), urls)
    return WithWebSender(channels, WebSender(publisher), db)
