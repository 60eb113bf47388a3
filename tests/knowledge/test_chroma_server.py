"""The scaled mode's vector store: a real Chroma server (`chroma run`, from the chromadb package)
on a loopback port, reached with HttpClient, in process and from the CLI."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.db import Database
from engine.models import Creator
from knowledge.service import KnowledgeService
from knowledge.store import VectorStore
from tests.knowledge.conftest import CountingEmbedder
from tests.test_cli import coachbot

NOTES = {
    "sleep": "# Sleep\n\nAim for seven to nine hours of sleep. Keep a fixed wake time.",
    "protein": "# Protein\n\nEat a palm-sized portion of protein with each meal.",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chroma_binary() -> str | None:
    beside = Path(sys.executable).parent / "chroma"
    return str(beside) if beside.exists() else shutil.which("chroma")


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = _chroma_binary()
    if binary is None:
        pytest.skip("the `chroma` command (installed with the chromadb package) is missing")
    port = _free_port()
    directory = tmp_path_factory.mktemp("chroma-server")
    log = (directory / "server.log").open("wb")
    process = subprocess.Popen(
        [binary, "run", "--path", str(directory / "data"), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):  # noqa: S310
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    output = (directory / "server.log").read_text(errors="replace")
                    pytest.fail(f"chroma run did not start:\n{output[-2000:]}")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


async def test_ingest_search_isolation_and_reconcile_on_a_chroma_server(
    chroma_url: str,
    db: Database,
    creator: Creator,
    other_creator: Creator,
    embedder: CountingEmbedder,
) -> None:
    store = VectorStore.remote(chroma_url)
    for who in (creator, other_creator):
        store.drop(who.id)  # the server outlives one test: start from empty collections
    kb = KnowledgeService(db, store, embedder)
    # A second client at the same time, as a worker process would be: no lock, no owner.
    second = KnowledgeService(db, VectorStore.remote(chroma_url), embedder)
    try:
        for name, text in NOTES.items():
            assert (await kb.ingest(creator.id, f"maya-{name}.md", text.encode())).embedded == 1
            lena = text.replace(".", ", says Lena.", 1)
            await second.ingest(other_creator.id, f"lena-{name}.md", lena.encode())
        for who, prefix in ((creator, "maya-"), (other_creator, "lena-")):
            for service in (kb, second):
                hits = (await service.search(who.id, "how much protein with a meal", k=5)).hits
                assert hits
                assert hits[0].doc == f"{prefix}protein.md"
                assert all(h.doc.startswith(prefix) for h in hits)
        assert store.count(creator.id) == 2

        await kb.delete(creator.id, "maya-sleep.md")
        assert store.count(creator.id) == 1
        store.collection(creator.id).upsert(
            ids=["999999"], embeddings=[[0.0] * 383 + [1.0]], metadatas=[{"document_id": 0}]
        )  # an orphan vector, as a crash between the vector write and the commit leaves
        report = await second.reconcile(creator.id)
        assert (report.orphans, report.missing) == (1, 0)
        assert report.equal
        assert report.vectors_after == report.sql_chunks == 1
    finally:
        kb.close()
        second.close()


def test_closing_a_server_store_closes_its_connections(chroma_url: str) -> None:
    store = VectorStore.remote(chroma_url)
    assert store.client.heartbeat() > 0  # a request: the pool holds a connection now
    sessions = [store.client._server._session, store.client._admin_client._server._session]
    assert not any(session.is_closed for session in sessions)
    store.close()
    assert all(session.is_closed for session in sessions)


def test_cli_ingest_reconcile_and_ask_use_the_server(chroma_url: str, tmp_path: Path) -> None:
    store = VectorStore.remote(chroma_url)
    store.drop(1)  # the demo creator of a fresh data directory: start from an empty collection
    store.close()
    assert "4 sample documents" in coachbot(tmp_path, "demo", COACHBOT_CHROMA_URL=chroma_url).stdout
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "stretching.md").write_text("# Stretching\n\nHold each stretch for thirty seconds.")
    ingest = coachbot(
        tmp_path, "kb", "ingest", "--creator", "demo", str(docs), COACHBOT_CHROMA_URL=chroma_url
    )
    assert "indexed   1" in ingest.stdout
    report = coachbot(
        tmp_path, "kb", "reconcile", "--creator", "demo", COACHBOT_CHROMA_URL=chroma_url
    ).stdout
    assert "equal:" in report
    answer = json.loads(
        coachbot(tmp_path, "ask", "--creator", "demo", "how long to hold a stretch?", "--json",
                 COACHBOT_CHROMA_URL=chroma_url).stdout
    )  # fmt: skip
    assert answer["grounded"] is True
    assert answer["citations"][0]["doc"] == "stretching.md"
    # Nothing was written to a local index: the server is the only store.
    assert not list(tmp_path.rglob("chroma.sqlite3"))
    assert not list(tmp_path.rglob("coachbot.lock"))


def test_the_rq_job_indexes_queued_uploads_into_the_server(
    chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`config.jobs.index_documents` is what `coachbot worker` runs for the job; here it is
    called as RQ would call it, in a process with scaled-mode settings."""
    import asyncio

    from config import jobs as rq_jobs
    from config.settings import load_settings
    from config.wiring import build_database, build_knowledge
    from engine.creators import get_creator

    store = VectorStore.remote(chroma_url)
    store.drop(1)
    store.close()
    coachbot(tmp_path, "demo", COACHBOT_CHROMA_URL=chroma_url)
    for key in [k for k in os.environ if k.startswith("COACHBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("COACHBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COACHBOT_CHROMA_URL", chroma_url)
    monkeypatch.setenv("COACHBOT_REDIS_URL", "redis://127.0.0.1:6379/15")  # never connected to

    async def upload() -> int:
        settings = load_settings()
        db = build_database(settings)
        knowledge = build_knowledge(settings, db)
        try:
            async with db.sessions() as session:
                creator = await get_creator(session, "demo")
            text = b"# Stretching\n\nHold each stretch for thirty seconds."
            document_id, unchanged = await knowledge.submit(creator.id, "stretching.md", text)
            assert not unchanged
            return document_id
        finally:
            knowledge.close()
            await db.dispose()

    document_id = asyncio.run(upload())
    assert "queued" in coachbot(tmp_path, "kb", "list", "--creator", "demo",
                                COACHBOT_CHROMA_URL=chroma_url).stdout  # fmt: skip
    assert rq_jobs.index_documents([document_id]) == {"ready": 1}
    assert rq_jobs.index_documents([document_id]) == {"unchanged": 1}  # a retried job
    listing = coachbot(tmp_path, "kb", "list", "--creator", "demo", COACHBOT_CHROMA_URL=chroma_url)
    assert "queued" not in listing.stdout
    report = coachbot(tmp_path, "kb", "reconcile", "--creator", "demo",
                      COACHBOT_CHROMA_URL=chroma_url).stdout  # fmt: skip
    assert "equal: 17 chunks = 17 vectors" in report
