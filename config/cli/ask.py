"""`coachbot ask`: ask a creator's bot one question, answered from their material."""

from __future__ import annotations

import json

import click

from config.cli.base import AppContext, fail, pass_app


@click.command("ask")
@click.option("--creator", "slug", required=True, help="Slug of the creator to ask.")
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print answer, grounded and citations.")
@pass_app
def ask(app: AppContext, slug: str, question: str, as_json: bool) -> None:
    """Answer QUESTION from the creator's material, with its sources. Declines, with grounded
    false, when the material does not cover it."""
    app.start(quiet=True)
    from config.wiring import build_knowledge, build_knowledge_answerer
    from engine.answering import Answer, KnowledgeAnswerer
    from engine.creators import CreatorError, get_creator
    from engine.db import Database
    from engine.markup import to_plain
    from knowledge.errors import KnowledgeError

    async def work(db: Database) -> Answer:
        try:
            async with db.sessions() as session:
                creator = await get_creator(session, slug)
            knowledge = build_knowledge(app.settings, db)
        except (CreatorError, KnowledgeError) as exc:
            raise fail(str(exc)) from None
        try:
            answerer = build_knowledge_answerer(app.settings, knowledge)
            assert isinstance(answerer, KnowledgeAnswerer)
            return await answerer.respond(creator, question)
        finally:
            knowledge.close()

    answer = app.run_with_db(work)
    text = to_plain(answer.text)
    if as_json:
        citations = [{"doc": c.doc, "title": c.title} for c in answer.citations]
        payload = {"answer": text, "grounded": answer.grounded, "citations": citations}
        click.echo(json.dumps(payload, ensure_ascii=False))
    else:
        click.echo(text)
