"""Test databases: a migrated SQLite template copied per test, and one fresh PostgreSQL database
per run (created on the server named by COACHBOT_TEST_DATABASE_URL), truncated per test."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def migrate(url: str, revision: str = "head") -> None:
    from alembic import command

    from config.wiring import alembic_config

    command.upgrade(alembic_config(url), revision)


def pg_admin_url() -> tuple[str, bool]:
    """(server URL, whether it was asked for explicitly)."""
    explicit = os.environ.get("COACHBOT_TEST_DATABASE_URL")
    return (explicit or DEFAULT_PG_URL), bool(explicit)


async def _pg_exec(admin_url: str, *statements: str) -> None:
    import asyncpg

    url = make_url(admin_url)
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def pg_reachable(admin_url: str) -> str | None:
    """None if the server answers, else the reason."""
    try:
        asyncio.run(_pg_exec(admin_url, "SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def create_pg_database(admin_url: str, prefix: str = "coachbot_test") -> str:
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_exec(admin_url, f'CREATE DATABASE "{name}"'))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    asyncio.run(_pg_exec(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    migrate(f"sqlite:///{path}")
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    target = directory / f"test-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


async def truncate_all(db_url: str) -> None:
    """Empty every table of a PostgreSQL test database (keeping the schema and alembic_version)."""
    from migrations.models import target_metadata

    tables = ", ".join(f'"{t.name}"' for t in target_metadata.sorted_tables)
    await _pg_exec(db_url, f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
