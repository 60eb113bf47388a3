"""Database plumbing shared by every package: the declarative Base, portable column types, and the
async engine for SQLite (embedded) and PostgreSQL (scaled).

SQLite notes: every transaction starts with BEGIN IMMEDIATE, so two writers queue on the busy
timeout instead of failing with "database is locked" when a reader upgrades; WAL lets readers run
beside the writer; foreign keys are switched on per connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names: Alembic's batch mode on SQLite and `alembic check` need them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 15_000
POOL_SIZE = 10  # sizes a process's PostgreSQL pool: up to twice this many connections (default)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# 64-bit ids on PostgreSQL; SQLite only auto-increments a column declared INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
Json = JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements on hot paths (no ORM work per statement)."""
    return Base.metadata.tables[model.__tablename__]


def dialect_name(session: AsyncSession | AsyncConnection) -> str:
    bind = session.get_bind() if isinstance(session, AsyncSession) else session
    return bind.dialect.name


# Each dialect's INSERT construct, which offers ON CONFLICT (SQLite and PostgreSQL alike).
UPSERT_INSERTS: dict[str, Callable[[Any], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def upsert_insert(session: AsyncSession | AsyncConnection, table: Any) -> Any:
    """The dialect's INSERT construct, which offers ON CONFLICT (SQLite and PostgreSQL alike)."""
    return UPSERT_INSERTS[dialect_name(session)](table)


def async_url(url: str | URL) -> URL:
    """Map a user-facing URL (postgresql://, sqlite:///) to the async driver we ship."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise ValueError(
        f"unsupported database {backend!r}: use postgresql://… or sqlite:///path (got {parsed!r})"
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that BEGIN below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str | URL, *, echo: bool = False, pool_size: int = POOL_SIZE) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        database = target.database or ""
        if database in ("", ":memory:"):
            raise ValueError("use a SQLite file, not an in-memory database (several connections)")
        engine = create_async_engine(target, echo=echo)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        target,
        echo=echo,
        # Twice the setting, kept open once opened, and no overflow: an overflow connection is
        # closed as soon as it is returned, so a busy serve (claims and markings beside the
        # turns) opened and closed one every 20-35 turns, and each new backend cost PostgreSQL
        # some 40 ms of CPU (a fork, cold catalog caches, every statement prepared again): a
        # tenth of a turn's CPU on the whole machine. The most connections a process holds is
        # the same as before.
        pool_size=2 * pool_size,
        max_overflow=0,
        # No pre-ping: it costs a round trip on every checkout, and a turn checks out several
        # times. A connection the server dropped fails its statement, is discarded, and the next
        # checkout gets a fresh one; recycling keeps idle connections from going stale.
        pool_recycle=1800,
        pool_timeout=10,
        connect_args={"timeout": 10, "command_timeout": 30},
    )


class Database:
    """The async engine and session factory one process uses."""

    def __init__(self, url: str | URL, *, echo: bool = False, pool_size: int = POOL_SIZE) -> None:
        self.pool_size = pool_size
        self.engine = create_engine(url, echo=echo, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one Core statement that is atomic on its own (an insert, an update):
        on PostgreSQL in autocommit, which saves the BEGIN and COMMIT round trips of a
        transaction (about half the CPU of a one-statement transaction here); on SQLite in a
        write transaction, as every write there."""
        if self.dialect == "postgresql":
            async with self._autocommit.connect() as conn:
                yield conn
        else:
            async with self.engine.begin() as conn:
                yield conn

    async def ping(self) -> None:
        """Raise if the database does not answer a trivial query."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
