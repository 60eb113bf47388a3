"""Knowledge: upload (several files, dragged in), the document list with live status, delete,
retry, re-index, and "test a question": the passages retrieval finds and the answer the bot
would give, with its citations.

Uploads are stored at once (`submit`: type and size are checked from the bytes, so a bad file
is refused with its reason and nothing is kept) and indexed in the background; the list polls
while anything is queued or indexing.
"""

from __future__ import annotations

import logging

from aiohttp import BodyPartReader, web

from creator_hub.app import hub
from creator_hub.context import creator_id, signed_in
from creator_hub.render import page
from creator_hub.routes.common import form, int_param, redirect
from knowledge.errors import DocumentNotFoundError, KnowledgeError
from knowledge.service import DocumentInfo, KnowledgeService

log = logging.getLogger("coachbot.hub")
MAX_FILES = 50
MAX_QUESTION = 1000


async def knowledge_of(request: web.Request) -> KnowledgeService:
    """The knowledge base, or a 503 saying why it cannot be opened (e.g. another process owns
    the local index)."""
    try:
        return await hub(request).knowledge()
    except KnowledgeError as exc:
        raise web.HTTPServiceUnavailable(text=str(exc)) from None


async def _documents(request: web.Request) -> list[DocumentInfo]:
    service = await knowledge_of(request)
    return list(await service.documents(creator_id(request)))


async def show(request: web.Request) -> web.Response:
    documents = await _documents(request)
    return page(
        request, "knowledge.html", active="knowledge", title="Knowledge", documents=documents
    )


async def document_list(request: web.Request) -> web.Response:
    documents = await _documents(request)
    return page(request, "_documents.html", documents=documents)


async def _read_files(
    request: web.Request, limit: int
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The uploaded files, read part by part with a size cap (never the whole body at once)."""
    files: list[tuple[str, bytes]] = []
    problems: list[str] = []
    if not request.content_type.startswith("multipart/"):
        raise web.HTTPBadRequest(text="upload files as multipart/form-data")
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not part.filename:
            continue
        if len(files) >= MAX_FILES:
            problems.append(
                f"{part.filename}: more than {MAX_FILES} files at once; upload the rest next"
            )
            continue
        name = part.filename.replace("\\", "/").rsplit("/", 1)[-1][:300] or "upload"
        data = bytearray()
        too_big = False
        while chunk := await part.read_chunk(256 * 1024):
            data += chunk
            if len(data) > limit:
                too_big = True
                break
        if too_big:
            problems.append(f"{name}: larger than {limit // 1_000_000} MB; nothing was stored")
            continue
        files.append((name, bytes(data)))
    return files, problems


async def upload(request: web.Request) -> web.StreamResponse:
    services = hub(request)
    files, problems = await _read_files(request, services.max_upload_bytes)
    service = await knowledge_of(request)
    cid = creator_id(request)
    queued: list[int] = []
    unchanged = 0
    for name, data in files:
        try:
            document_id, same = await service.submit(cid, name, data)
        except KnowledgeError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if same:
            unchanged += 1
        else:
            queued.append(document_id)
    if queued:
        await services.index_documents(service, queued)
    parts = []
    if queued:
        # Says what happened, not a state that goes stale: the list below shows the indexing.
        parts.append(f"Uploaded {len(queued)} file(s): the list below shows their indexing")
    if unchanged:
        parts.append(f"{unchanged} unchanged")
    message = "; ".join(parts) or "No file was stored"
    if problems:
        message += ". Not stored: " + " · ".join(problems)
    if "application/json" in request.headers.get("Accept", ""):
        status = 200 if queued or unchanged or not problems else 400
        return web.json_response(
            {"message": message, "queued": queued, "problems": problems}, status=status
        )
    raise await redirect(request, "/hub/knowledge", message)


async def index_later(service: KnowledgeService, ids: list[int]) -> None:
    """Background indexing, all at once (their chunks share encoder calls). A document deleted
    before its turn is skipped: the others are indexed one by one then."""
    try:
        await service.index_documents(ids)
        return
    except DocumentNotFoundError:
        pass
    for document_id in ids:
        try:
            await service.index_documents([document_id])
        except DocumentNotFoundError:
            log.info("document deleted before indexing", extra={"document_id": document_id})


async def _owned(request: web.Request) -> int:
    """The document id from the path, if it is this workspace's (else 404)."""
    document_id = int_param(request, "doc_id")
    if document_id not in {d.id for d in await _documents(request)}:
        raise web.HTTPNotFound()
    return document_id


async def delete(request: web.Request) -> web.StreamResponse:
    document_id = await _owned(request)
    service = await knowledge_of(request)
    name = await service.delete(creator_id(request), str(document_id))
    raise await redirect(request, "/hub/knowledge", f"Deleted {name}.")


async def retry(request: web.Request) -> web.StreamResponse:
    document_id = await _owned(request)
    service = await knowledge_of(request)
    await hub(request).index_documents(service, [document_id])
    raise await redirect(request, "/hub/knowledge", "Indexing again.")


async def reindex(request: web.Request) -> web.StreamResponse:
    signed_in(request)
    service = await knowledge_of(request)
    cid = creator_id(request)

    async def run() -> None:
        await service.reindex(cid)

    hub(request).spawn(run(), f"reindex creator {cid}")
    raise await redirect(request, "/hub/knowledge", "Re-indexing every document.")


async def ask(request: web.Request) -> web.Response:
    data = await form(request, limit=MAX_QUESTION)
    question = data.get("question", "").strip()
    if not question:
        return page(
            request,
            "_answer.html",
            error="Type a question first.",
            question="",
            hits=[],
            answer=None,
        )
    services = hub(request)
    service = await knowledge_of(request)
    creator = signed_in(request).creator
    assert creator is not None
    search = await service.search(creator.id, question)
    answer = await services.answerer(service).respond(creator, question)
    return page(request, "_answer.html", question=question, hits=search.hits, answer=answer)


def register(app: web.Application) -> None:
    app.router.add_get("/knowledge", show)
    app.router.add_get("/knowledge/documents", document_list)
    app.router.add_post("/knowledge/upload", upload)
    app.router.add_post("/knowledge/documents/{doc_id}/delete", delete)
    app.router.add_post("/knowledge/documents/{doc_id}/retry", retry)
    app.router.add_post("/knowledge/reindex", reindex)
    app.router.add_post("/knowledge/ask", ask)
