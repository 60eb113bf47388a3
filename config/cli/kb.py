"""`coachbot kb …`: a creator's knowledge base: ingest, list, remove, reindex, reconcile, search."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from config.cli.base import AppContext, fail, pass_app

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

    from engine.db import Database
    from knowledge.service import KnowledgeService

T = TypeVar("T")
DOCUMENT_SUFFIXES = {".pdf", ".docx", ".md", ".markdown", ".txt", ".text", ".html", ".htm"}
creator_option = click.option(
    "--creator", "slug", required=True, help="Slug of the creator whose knowledge base to use."
)


def run_knowledge(
    app: AppContext, slug: str, work: Callable[[KnowledgeService, int], Awaitable[T]]
) -> T:
    """Run `work(knowledge, creator_id)` with the knowledge base open, then close it."""
    app.start(quiet=True)
    from config.wiring import build_knowledge
    from engine.creators import CreatorError, get_creator
    from knowledge.errors import KnowledgeError

    async def runner(db: Database) -> T:
        try:
            async with db.sessions() as session:
                creator_id = (await get_creator(session, slug)).id
        except CreatorError as exc:
            raise fail(str(exc)) from None
        try:
            knowledge = build_knowledge(app.settings, db)
        except KnowledgeError as exc:
            raise fail(str(exc)) from None
        try:
            return await work(knowledge, creator_id)
        except KnowledgeError as exc:
            raise fail(str(exc)) from None
        finally:
            knowledge.close()

    return app.run_with_db(runner)


@click.group("kb")
def kb_group() -> None:
    """A creator's knowledge base: the material the bot answers from."""


def collect(paths: tuple[str, ...]) -> list[tuple[Path, str]]:
    """(file, source name) pairs: files as given (named by their file name), folders searched
    for documents (named by their path inside the folder)."""
    found: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                relative = file.relative_to(path)
                hidden = any(part.startswith(".") for part in relative.parts)
                if file.is_file() and not hidden and file.suffix.lower() in DOCUMENT_SUFFIXES:
                    found.append((file, relative.as_posix()))
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise click.BadParameter(f"{raw} is neither a file nor a folder", param_hint="PATH")
    return found


@kb_group.command("ingest")
@creator_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@pass_app
def ingest(app: AppContext, slug: str, paths: tuple[str, ...]) -> None:
    """Add or update documents (PDF, DOCX, Markdown, text, HTML) from files or folders.
    Unchanged documents are recognized and not embedded again."""
    files = collect(paths)
    if not files:
        raise fail("no documents found (looked for " + ", ".join(sorted(DOCUMENT_SUFFIXES)) + ")")

    async def work(knowledge: KnowledgeService, creator_id: int) -> list[tuple[str, Any]]:
        unreadable: list[tuple[str, Any]] = []

        def show(name: str | None) -> str | None:
            return name[-40:] if name else None

        bar: ProgressBar[str | None]
        with click.progressbar(
            length=len(files), label="Indexing", file=sys.stderr, item_show_func=show
        ) as bar:

            def read() -> Iterator[tuple[str, bytes]]:
                for file, name in files:
                    try:
                        data = file.read_bytes()
                    except OSError as exc:
                        unreadable.append((name, str(exc)))
                        bar.update(1, name)
                        continue
                    yield name, data

            results = await knowledge.ingest_many(
                creator_id, read(), progress=lambda r: bar.update(1, r.source_name)
            )
        return [(r.source_name, r) for r in results] + unreadable

    results = run_knowledge(app, slug, work)
    counts = {"ready": 0, "unchanged": 0, "failed": 0}
    chunks = embedded = 0
    failures: list[tuple[str, str]] = []
    for name, result in results:
        if isinstance(result, str) or result.status == "failed":
            counts["failed"] += 1
            failures.append((name, result if isinstance(result, str) else result.error or ""))
            continue
        counts["ready" if result.status == "ready" else "unchanged"] += 1
        chunks += result.chunks
        embedded += result.embedded
    click.echo(f"{'documents':<12}{len(results)}")
    click.echo(f"{'  indexed':<12}{counts['ready']}")
    click.echo(f"{'  unchanged':<12}{counts['unchanged']}")
    click.echo(f"{'  failed':<12}{counts['failed']}")
    click.echo(f"{'chunks':<12}{chunks}")
    click.echo(f"{'embedded':<12}{embedded}")
    for name, error in failures:
        click.echo(f"failed: {name}: {error}", err=True)
    if failures:
        sys.exit(1)


@kb_group.command("list")
@creator_option
@pass_app
def list_(app: AppContext, slug: str) -> None:
    """List the documents, their status and chunk counts."""

    async def work(knowledge: KnowledgeService, creator_id: int) -> Any:
        return await knowledge.documents(creator_id)

    docs = run_knowledge(app, slug, work)
    if not docs:
        click.echo(f"no documents yet: `coachbot kb ingest --creator {slug} PATH` adds some")
        return
    rows = [("ID", "STATUS", "CHUNKS", "DOCUMENT", "TITLE")]
    rows += [(str(d.id), d.status, str(d.chunks), d.source_name, d.title) for d in docs]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        cells = [f"{v:<{w}}" for v, w in zip(row[:4], widths, strict=True)]
        click.echo("  ".join([*cells, row[4]]))
    for d in docs:
        if d.error:
            click.echo(f"{d.source_name}: {d.error}", err=True)


@kb_group.command("rm")
@creator_option
@click.argument("doc")
@pass_app
def rm(app: AppContext, slug: str, doc: str) -> None:
    """Remove document DOC (its id or its name) with its chunks and vectors."""

    async def work(knowledge: KnowledgeService, creator_id: int) -> str:
        return await knowledge.delete(creator_id, doc)

    click.echo(f"removed {run_knowledge(app, slug, work)}")


@kb_group.command("retry")
@creator_option
@click.argument("doc")
@pass_app
def retry(app: AppContext, slug: str, doc: str) -> None:
    """Index document DOC (its id or its name) again now: one that failed, or one left queued
    by a background job that never ran. `kb list` shows each document's status and error."""

    async def work(knowledge: KnowledgeService, creator_id: int) -> Any:
        return await knowledge.retry(creator_id, doc)

    result = run_knowledge(app, slug, work)
    detail = result.error or f"{result.chunks} chunks, {result.embedded} embedded"
    click.echo(f"{result.status:<10}{result.source_name}: {detail}")
    if result.status == "failed":
        sys.exit(1)


@kb_group.command("reindex")
@creator_option
@click.option("--failed", "failed_only", is_flag=True, help="Only retry the failed documents.")
@pass_app
def reindex(app: AppContext, slug: str, failed_only: bool) -> None:
    """Run every document through the pipeline again (after changing chunking settings or the
    embedding model); unchanged chunks keep their vectors."""

    async def work(knowledge: KnowledgeService, creator_id: int) -> Any:
        return await knowledge.reindex(creator_id, failed_only=failed_only)

    results = run_knowledge(app, slug, work)
    for r in results:
        detail = r.error or f"{r.chunks} chunks, {r.embedded} embedded"
        click.echo(f"{r.status:<10}{r.source_name}: {detail}")
    click.echo(f"{len(results)} documents reindexed")


@kb_group.command("reconcile")
@creator_option
@click.option("--check", is_flag=True, help="Only compare; do not repair.")
@pass_app
def reconcile_cmd(app: AppContext, slug: str, check: bool) -> None:
    """Compare the vector index with the chunks in SQL, and repair the index from SQL."""

    async def work(knowledge: KnowledgeService, creator_id: int) -> Any:
        return await knowledge.reconcile(creator_id, repair=not check)

    report = run_knowledge(app, slug, work)
    click.echo(f"chunks in SQL:    {report.sql_chunks}")
    click.echo(f"vectors in index: {report.vectors_before}")
    click.echo(f"missing vectors:  {report.missing}")
    click.echo(f"orphan vectors:   {report.orphans}")
    if report.repaired and (report.missing or report.orphans):
        click.echo(f"repaired: the index now holds {report.vectors_after} vectors")
    if report.equal:
        click.echo(f"equal: {report.sql_chunks} chunks = {report.vectors_after} vectors")
    else:
        click.echo("NOT equal" + ("" if check else " after repair"), err=True)
        sys.exit(1)


def read_queries(path: str) -> list[tuple[Any, str]]:
    """One query per line, or JSONL objects with `id` and `question`."""
    queries: list[tuple[Any, str]] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            item = json.loads(line)
            queries.append((item.get("id", number), str(item["question"])))
        else:
            queries.append((number, line))
    return queries


@kb_group.command("search")
@creator_option
@click.argument("query", required=False)
@click.option("--queries", "queries_file", type=click.Path(exists=True, dir_okay=False),
              help="A file of queries: one per line, or JSONL with id and question.")  # fmt: skip
@click.option("--k", "k", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query.")
@pass_app
def search(
    app: AppContext, slug: str, query: str | None, queries_file: str | None, k: int, as_json: bool
) -> None:
    """Show the passages retrieval finds for QUERY (or for each query in --queries)."""
    if (query is None) == (queries_file is None):
        raise click.UsageError("give a QUERY or --queries FILE (not both)")
    queries = read_queries(queries_file) if queries_file else [(None, query or "")]

    async def work(knowledge: KnowledgeService, creator_id: int) -> list[dict[str, Any]]:
        out = []
        for query_id, text in queries:
            result = await knowledge.search(creator_id, text, k)
            results = [
                {
                    "doc": h.doc,
                    "title": h.title,
                    "heading": h.heading,
                    "text": h.text,
                    "rank": h.rank,
                }
                for h in result.hits
            ]
            out.append({"id": query_id, "query": text, "results": results})
        return out

    for item in run_knowledge(app, slug, work):
        if as_json:
            click.echo(json.dumps(item, ensure_ascii=False))
            continue
        click.echo(f"# {item['query']}")
        for r in item["results"]:
            where = " > ".join(p for p in (r["title"], r["heading"]) if p)
            click.echo(f"{r['rank']}. {r['doc']} — {where}")
            click.echo(click.wrap_text(r["text"], initial_indent="   ", subsequent_indent="   "))
