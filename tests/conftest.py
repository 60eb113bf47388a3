from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.clock import ManualClock
from engine.db import Database
from engine.models import ChannelBinding, Creator
from engine.pipeline import Engine
from tests import dbs, netguard
from tests.transcript import Chat

netguard.install()

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server for tests; skipped (locally) or failed (CI) when unreachable."""
    url, explicit = dbs.pg_admin_url()
    problem = dbs.pg_reachable(url)
    if problem:
        if explicit:
            pytest.fail(f"COACHBOT_TEST_DATABASE_URL={url} is unreachable: {problem}")
        pytest.skip(f"no PostgreSQL at {url} ({problem}); set COACHBOT_TEST_DATABASE_URL")
    return url


@pytest.fixture(scope="session")
def pg_database(pg_server: str) -> Iterator[str]:
    """A fresh database for this run, migrated to head, dropped at the end."""
    url = dbs.create_pg_database(pg_server)
    try:
        dbs.migrate(url)
        yield url
    finally:
        dbs.drop_pg_database(pg_server, url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dbs.sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        return dbs.sqlite_copy(sqlite_template, tmp_path)
    url: str = request.getfixturevalue("pg_database")
    asyncio.run(dbs.truncate_all(url))
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(db: Database, clock: ManualClock) -> Engine:
    return Engine(db, clock=clock)


@pytest.fixture
async def creator(db: Database, clock: ManualClock) -> Creator:
    from engine.creators import create_creator

    async with db.transaction() as session:
        return await create_creator(
            session,
            slug="maya",
            name="Maya Brooks",
            email="maya@example.com",
            password=None,
            bot_name="Coach Maya",
            now=clock.now(),
        )


@pytest.fixture
async def binding(db: Database, creator: Creator, clock: ManualClock) -> ChannelBinding:
    from engine.bindings import terminal_binding

    async with db.transaction() as session:
        fresh = await session.get(Creator, creator.id)
        assert fresh is not None
        return await terminal_binding(session, fresh, clock.now())


@pytest.fixture
def chat(engine: Engine, binding: ChannelBinding) -> Chat:
    return Chat(engine, binding.id)
