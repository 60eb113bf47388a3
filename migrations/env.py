"""Alembic environment: runs migrations through our async drivers, in batch mode on SQLite, and
under an advisory lock on PostgreSQL so that several processes starting at once migrate once."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from engine.db import async_url
from migrations.models import target_metadata

# Any constant: the key of the PostgreSQL advisory lock that serializes migrations.
MIGRATION_LOCK_KEY = 0x636F6163  # "coac"


def database_url() -> str:
    url = context.config.attributes.get("database_url")
    if url:
        return str(url)
    from config.settings import load_settings

    return load_settings().effective_database_url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Render our portable types by name so migrations stay readable and dialect-neutral.
    from engine.db import BigId, Json, UTCDateTime

    if type_ == "type":
        if isinstance(obj, UTCDateTime):
            return "engine.db.UTCDateTime()"
        if obj is BigId:
            return "engine.db.BigId"
        if obj is Json:
            return "engine.db.Json"
    return False


def configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
    )


def run_sync(connection: Connection) -> None:
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        # A session-level lock: it outlives the transaction below and is released explicitly.
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()
    try:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if postgres:
            if connection.in_transaction():
                connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()


async def run_online() -> None:
    engine = create_async_engine(async_url(database_url()), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_sync)
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=str(async_url(database_url())),
        target_metadata=target_metadata,
        literal_binds=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if context.is_offline_mode():
    run_offline()
elif connection is not None:
    run_sync(connection)
else:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run_online())
    else:
        # Called from async code (a test, an async command): run on a loop of our own in a
        # worker thread rather than fail with "asyncio.run() cannot be called from a running loop".
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
            executor.submit(asyncio.run, run_online()).result()
