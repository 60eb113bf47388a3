"""Programs: the list, a YAML editor with live validation (problems under their lines) and an
outline, a simulator (the program as a chat on a fast-forward clock), publishing, and who is
enrolled where."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import select

from creator_hub.app import hub
from creator_hub.context import creator_id, signed_in
from creator_hub.program_views import BLANK, annotate, examples, outline, simulate
from creator_hub.render import page
from creator_hub.routes.common import form, now, redirect
from engine.audience import display
from engine.creators import own_keywords
from engine.models import Contact
from programs import models as pm
from programs import store
from programs.parse import ProgramInvalid
from programs.validate import check_program

MAX_SOURCE = 200_000


async def index(request: web.Request) -> web.Response:
    async with hub(request).db.sessions() as session:
        found = await store.list_programs(session, creator_id(request))
    return page(
        request,
        "programs.html",
        active="programs",
        title="Programs",
        programs=found,
        examples=list(examples()),
    )


def _editor(
    request: web.Request,
    source: str,
    *,
    slug: str | None,
    status: int = 200,
    error: str | None = None,
    enrollments: Sequence[object] | None = None,
    version: int | None = None,
) -> web.Response:
    program, problems = check_program(source, _own_words(request))
    return page(
        request,
        "program_edit.html",
        status=status,
        active="programs",
        title=f"Program {slug}" if slug else "New program",
        slug=slug,
        source=source,
        lines=annotate(source, problems),
        problems=problems,
        steps=outline(program) if program else [],
        error=error,
        enrollments=enrollments or [],
        version=version,
        start=now(request).strftime("%Y-%m-%dT%H:%M"),
    )


async def new(request: web.Request) -> web.Response:
    name = request.query.get("example", "")
    source = examples().get(name, BLANK) if name else BLANK
    return _editor(request, source, slug=None)


async def detail(request: web.Request) -> web.Response:
    slug = request.match_info["slug"][:64]
    async with hub(request).db.sessions() as session:
        program = await store.find_program(session, creator_id(request), slug)
        if program is None:
            raise web.HTTPNotFound(text="no such program")
        version = await store.latest_version(session, program.id)
        assert version is not None
        rows = await session.execute(
            select(pm.Enrollment, Contact, pm.ProgramVersion.version)
            .join(Contact, Contact.id == pm.Enrollment.contact_id)
            .join(pm.ProgramVersion, pm.ProgramVersion.id == pm.Enrollment.version_id)
            .where(pm.Enrollment.program_id == program.id)
            .order_by(pm.Enrollment.updated_at.desc())
            .limit(500)
        )
        enrollments = [
            {
                "contact_id": c.id,
                "name": display(c),
                "status": e.status,
                "step": e.cursor,
                "version": v,
                "since": e.started_at,
                "updated": e.updated_at,
            }
            for e, c, v in rows
        ]
    return _editor(
        request, version.source, slug=slug, enrollments=enrollments, version=version.version
    )


async def validate(request: web.Request) -> web.Response:
    data = await form(request, limit=MAX_SOURCE)
    source = data.get("source", "")
    program, problems = check_program(source, _own_words(request))
    return page(
        request,
        "_program_check.html",
        lines=annotate(source, problems),
        problems=problems,
        steps=outline(program) if program else [],
    )


async def run_simulation(request: web.Request) -> web.Response:
    data = await form(request, limit=MAX_SOURCE)
    answers = [a for a in data.get("answers", "").split("\n") if a.strip()]
    if data.get("reply", "").strip():
        answers.append(data["reply"].strip()[:500])
    try:
        start = datetime.fromisoformat(data.get("start", "")).replace(tzinfo=UTC)
    except ValueError:
        start = now(request)
    result = simulate(data.get("source", ""), answers[:200], data.get("tz", "UTC")[:64], start)
    return page(request, "_simulation.html", sim=result, answers="\n".join(answers))


async def publish(request: web.Request) -> web.StreamResponse:
    data = await form(request, limit=MAX_SOURCE)
    source = data.get("source", "")
    try:
        async with hub(request).db.transaction() as session:
            published = await store.publish(
                session, creator_id(request), source, now(request), _own_words(request)
            )
    except ProgramInvalid as exc:
        return _editor(
            request,
            source,
            slug=None,
            status=400,
            error=f"Not published: fix the {len(exc.problems)} problem(s) below first.",
        )
    slug = published.program.slug
    message = (
        f"Published {published.program.title} as version {published.version.version}."
        if published.created
        else "Nothing changed since the latest version."
    )
    raise await redirect(request, f"/hub/programs/{slug}", message)


def _own_words(request: web.Request) -> list[str]:
    creator = signed_in(request).creator
    return own_keywords(creator) if creator is not None else []


def register(app: web.Application) -> None:
    app.router.add_get("/programs", index)
    app.router.add_get("/programs/new", new)
    app.router.add_post("/programs/validate", validate)
    app.router.add_post("/programs/simulate", run_simulation)
    app.router.add_post("/programs/publish", publish)
    app.router.add_get("/programs/{slug}", detail)
