"""Fixtures of the scaled-mode tests: a fresh PostgreSQL database, a Redis of their own, a
Chroma server, the fake providers and the processes, once per test module."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import dbs
from tests.delivery.test_faults import OwnRedis
from tests.knowledge.test_chroma_server import chroma_url  # noqa: F401 (a fixture used here)
from tests.scale.cluster import Cluster, Providers, World, seed


@pytest.fixture(scope="module")
def scale_database(pg_server: str) -> Iterator[str]:
    url = dbs.create_pg_database(pg_server, prefix="coachbot_scale")
    try:
        dbs.migrate(url)
        yield url
    finally:
        dbs.drop_pg_database(pg_server, url)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[OwnRedis]:
    redis = OwnRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


@pytest.fixture(scope="module")
def world(scale_database: str) -> World:
    return asyncio.run(seed(scale_database))


def start_cluster(
    database_url: str,
    redis: OwnRedis,
    chroma: str,
    providers: Providers,
    directory: Path,
    **settings: str,
) -> Cluster:
    cluster = Cluster(database_url, redis, chroma, providers, directory, **settings)
    cluster.start()
    return cluster
