"""The API's handlers: check the input, call the service, shape the JSON."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from creator_hub.api import ApiError, body, creator, services
from creator_hub.api.openapi import document
from creator_hub.views import (
    contact_json,
    document_json,
    enrollment_json,
    message_json,
    problems_json,
)
from engine import audience, gdpr, handoff
from engine.creators import own_keywords
from engine.enrollment import EnrollmentError, enroll, leave
from knowledge.errors import DocumentNotFoundError, KnowledgeError
from knowledge.service import KnowledgeService
from programs import models as pm
from programs import store
from programs.parse import ProgramInvalid
from programs.validate import check_program

MAX_SOURCE = 200_000


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ApiError(400, f"`{name}` must be a non-empty string")
    if len(value) > limit:
        raise ApiError(400, f"`{name}` can have at most {limit} characters")
    return value


def _int(raw: Any, name: str, low: int = 1, high: int = 2**62) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ApiError(400, f"`{name}` must be an integer")
    if isinstance(raw, str):
        if not raw.isdigit() or len(raw) > 18:
            raise ApiError(400, f"`{name}` must be an integer")
        raw = int(raw)
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(400, f"`{name}` must be between {low} and {high}")
    return value


def _path_id(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "no such resource")
    return int(raw)


async def _knowledge(request: web.Request) -> KnowledgeService:
    try:
        return await services(request).knowledge()
    except KnowledgeError as exc:
        raise ApiError(503, str(exc)) from None


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(services(request).public_url))


# -- knowledge -----------------------------------------------------------------------------------


async def list_documents(request: web.Request) -> web.Response:
    service = await _knowledge(request)
    docs = await service.documents(creator(request).id)
    return web.json_response({"documents": [document_json(d) for d in docs]})


async def add_document(request: web.Request) -> web.Response:
    hub = services(request)
    data = await body(request, max_bytes=hub.max_upload_bytes + 10_000)
    name = _text(data, "name", 300)
    content = _text(data, "content", hub.max_upload_bytes)
    if "/" in name or "\\" in name:
        raise ApiError(400, "`name` is a file name, without folders")
    service = await _knowledge(request)
    try:
        document_id, unchanged = await service.submit(creator(request).id, name, content.encode())
    except KnowledgeError as exc:
        raise ApiError(422, str(exc)) from None
    if not unchanged:
        await hub.index_documents(service, [document_id])
    return web.json_response(
        {"id": document_id, "status": "ready" if unchanged else "queued"}, status=202
    )


async def delete_document(request: web.Request) -> web.Response:
    document_id = _path_id(request, "document_id")
    service = await _knowledge(request)
    if document_id not in {d.id for d in await service.documents(creator(request).id)}:
        raise ApiError(404, "no such document")
    try:
        await service.delete(creator(request).id, str(document_id))
    except DocumentNotFoundError:
        raise ApiError(404, "no such document") from None
    return web.Response(status=204)


async def search(request: web.Request) -> web.Response:
    data = await body(request)
    query = _text(data, "query", 1000)
    k = _int(data.get("k", 5), "k", 1, 20)
    service = await _knowledge(request)
    result = await service.search(creator(request).id, query, k)
    return web.json_response(
        {
            "results": [
                {
                    "doc": h.doc,
                    "title": h.title,
                    "heading": h.heading,
                    "text": h.text,
                    "rank": h.rank,
                }
                for h in result.hits
            ]
        }
    )


async def ask(request: web.Request) -> web.Response:
    data = await body(request)
    question = _text(data, "question", 1000)
    hub = services(request)
    service = await _knowledge(request)
    answer = await hub.answerer(service).respond(creator(request), question)
    return web.json_response(
        {
            "answer": answer.text,
            "grounded": answer.grounded,
            "citations": [{"doc": c.doc, "title": c.title} for c in answer.citations],
        }
    )


# -- programs ------------------------------------------------------------------------------------


async def list_programs(request: web.Request) -> web.Response:
    async with services(request).db.sessions() as session:
        found = await store.list_programs(session, creator(request).id)
    return web.json_response({"programs": [vars(p) for p in found]})


async def validate(request: web.Request) -> web.Response:
    data = await body(request)
    source = _text(data, "source", MAX_SOURCE)
    program, problems = check_program(source, own_keywords(creator(request)))
    return web.json_response({"valid": program is not None, "problems": problems_json(problems)})


async def publish(request: web.Request) -> web.Response:
    data = await body(request)
    source = _text(data, "source", MAX_SOURCE)
    hub = services(request)
    try:
        async with hub.db.transaction() as session:
            owner = creator(request)
            published = await store.publish(
                session, owner.id, source, hub.clock.now(), own_keywords(owner)
            )
            result = {
                "slug": published.program.slug,
                "version": published.version.version,
                "created": published.created,
            }
    except ProgramInvalid as exc:
        raise ApiError(
            422, "the program has problems", problems=problems_json(exc.problems)
        ) from None
    return web.json_response(result, status=201 if result["created"] else 200)


async def get_program(request: web.Request) -> web.Response:
    slug = request.match_info["slug"]
    async with services(request).db.sessions() as session:
        program = await store.find_program(session, creator(request).id, slug[:64])
        version = await store.latest_version(session, program.id) if program else None
    if program is None or version is None:
        raise ApiError(404, "no such program")
    return web.json_response(
        {
            "slug": program.slug,
            "title": program.title,
            "version": version.version,
            "source": version.source,
        }
    )


# -- contacts and messages -------------------------------------------------------------------------


async def list_contacts(request: web.Request) -> web.Response:
    limit = _int(request.query.get("limit", "50"), "limit", 1, 200)
    offset = _int(request.query.get("offset", "0"), "offset", 0, 10**9)
    hub = services(request)
    async with hub.db.sessions() as session:
        rows = await audience.list_contacts(
            session, creator(request).id, today=hub.clock.now().date(), limit=limit, offset=offset
        )
    return web.json_response({"contacts": [contact_json(r) for r in rows]})


async def get_contact(request: web.Request) -> web.Response:
    contact_id = _path_id(request, "contact_id")
    hub = services(request)
    async with hub.db.sessions() as session:
        await _contact(session, request, contact_id)
        rows = await audience.list_contacts(
            session,
            creator(request).id,
            today=hub.clock.now().date(),
            limit=1,
            contact_id=contact_id,
        )
    return web.json_response(contact_json(rows[0]))


async def _contact(session: Any, request: web.Request, contact_id: int) -> Any:
    try:
        return await audience.get_contact(session, creator(request).id, contact_id)
    except audience.NotFound:
        raise ApiError(404, "no such contact") from None


async def export_contact(request: web.Request) -> web.Response:
    contact_id = _path_id(request, "contact_id")
    async with services(request).db.sessions() as session:
        await _contact(session, request, contact_id)
        data = await gdpr.export_contact(session, creator(request).id, contact_id)
    return web.json_response(data)


async def erase_contact(request: web.Request) -> web.Response:
    contact_id = _path_id(request, "contact_id")
    async with services(request).db.transaction() as session:
        await _contact(session, request, contact_id)
        counts = await gdpr.erase_contact(session, creator(request).id, contact_id)
    return web.json_response({"erased": counts})


async def list_messages(request: web.Request) -> web.Response:
    contact_id = _path_id(request, "contact_id")
    async with services(request).db.sessions() as session:
        await _contact(session, request, contact_id)
        messages = await audience.transcript(session, creator(request).id, contact_id)
    return web.json_response({"messages": [message_json(m) for m in messages]})


async def send_message(request: web.Request) -> web.Response:
    contact_id = _path_id(request, "contact_id")
    data = await body(request)
    text = _text(data, "text", handoff.MAX_REPLY)
    hub = services(request)
    try:
        async with hub.db.transaction() as session:
            await _contact(session, request, contact_id)
            ids = await handoff.coach_reply(
                session, creator(request).id, contact_id, text, hub.clock.now()
            )
    except handoff.HandoffError as exc:
        raise ApiError(409, str(exc)) from None
    return web.json_response({"queued": len(ids)}, status=202)


# -- enrollments -----------------------------------------------------------------------------------


async def list_enrollments(request: web.Request) -> web.Response:
    slug = request.query.get("program", "")[:64]
    async with services(request).db.sessions() as session:
        query = (
            select(pm.Enrollment, pm.Program.slug)
            .join(pm.Program, pm.Program.id == pm.Enrollment.program_id)
            .where(pm.Program.creator_id == creator(request).id)
            .order_by(pm.Enrollment.id)
            .limit(500)
        )
        if slug:
            query = query.where(pm.Program.slug == slug)
        rows = (await session.execute(query)).all()
    return web.json_response({"enrollments": [enrollment_json(e, s) for e, s in rows]})


async def create_enrollment(request: web.Request) -> web.Response:
    data = await body(request)
    contact_id = _int(data.get("contact_id"), "contact_id")
    slug = _text(data, "program", 64)
    hub = services(request)
    try:
        async with hub.db.transaction() as session:
            contact = await _contact(session, request, contact_id)
            owner = await session.get(type(creator(request)), creator(request).id)
            assert owner is not None
            enrollment, _ = await enroll(
                session, owner, contact, slug, hub.clock.now(), deliver=False
            )
            result = enrollment_json(enrollment, slug)
    except EnrollmentError as exc:
        raise ApiError(409, str(exc)) from None
    return web.json_response(result, status=201)


async def leave_enrollment(request: web.Request) -> web.Response:
    enrollment_id = _path_id(request, "enrollment_id")
    hub = services(request)
    async with hub.db.transaction() as session:
        row = await session.get(pm.Enrollment, enrollment_id)
        program = await session.get(pm.Program, row.program_id) if row else None
        if row is None or program is None or program.creator_id != creator(request).id:
            raise ApiError(404, "no such enrollment")
        contact = await _contact(session, request, row.contact_id)
        current = await store.current_enrollment(session, contact.id)
        if current is None or current.id != row.id:
            raise ApiError(409, "this enrollment is not running")
        await leave(session, contact, hub.clock.now())
        result = enrollment_json(row, program.slug)
    return web.json_response(result)


def register(app: web.Application) -> None:
    r = app.router
    r.add_get("/openapi.json", openapi)
    r.add_get("/knowledge/documents", list_documents)
    r.add_post("/knowledge/documents", add_document)
    r.add_delete("/knowledge/documents/{document_id}", delete_document)
    r.add_post("/knowledge/search", search)
    r.add_post("/knowledge/ask", ask)
    r.add_get("/programs", list_programs)
    r.add_post("/programs", publish)
    r.add_post("/programs/validate", validate)
    r.add_get("/programs/{slug}", get_program)
    r.add_get("/contacts", list_contacts)
    r.add_get("/contacts/{contact_id}", get_contact)
    r.add_delete("/contacts/{contact_id}", erase_contact)
    r.add_get("/contacts/{contact_id}/export", export_contact)
    r.add_get("/contacts/{contact_id}/messages", list_messages)
    r.add_post("/contacts/{contact_id}/messages", send_message)
    r.add_get("/enrollments", list_enrollments)
    r.add_post("/enrollments", create_enrollment)
    r.add_post("/enrollments/{enrollment_id}/leave", leave_enrollment)
