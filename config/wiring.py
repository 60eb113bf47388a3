"""The composition root: turns settings into concrete parts (database, engine, later the LLM, the
vector store and the job queue). Only `config` decides which implementation is used."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from config.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config

    from engine.clock import Clock
    from engine.db import Database
    from engine.pipeline import Engine

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
    return Database(settings.effective_database_url)


def build_engine(settings: Settings, db: Database, clock: Clock | None = None) -> Engine:
    from engine.pipeline import Engine

    return Engine(db, clock=clock)
