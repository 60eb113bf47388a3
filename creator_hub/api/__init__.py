"""The REST API at /api/v1: the same services as the hub, for a creator's own tools.

Every request carries `Authorization: Bearer cbk_…`; the key decides the creator (a parameter
never does). Errors are always `{"error": {"code": …, "message": …}}` with a fitting status.
The OpenAPI document is served at /api/v1/openapi.json (no key needed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from creator_hub.apikeys import creator_for_key
from creator_hub.services import HubServices
from engine.models import Creator

log = logging.getLogger("coachbot.api")

API = web.AppKey("api", HubServices)
API_CREATOR = web.RequestKey("api_creator", Creator)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def error(status: int, message: str, **extra: Any) -> web.Response:
    body = {"error": {"code": CODES.get(status, "error"), "message": message, **extra}}
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


def services(request: web.Request) -> HubServices:
    return request.config_dict[API]


def creator(request: web.Request) -> Creator:
    found: Creator = request[API_CREATOR]
    return found


async def body(request: web.Request, max_bytes: int = 1_000_000) -> dict[str, Any]:
    """The JSON object sent, or a 400/413/415 ApiError."""
    if request.content_type != "application/json":
        raise ApiError(415, "send a JSON body with Content-Type: application/json")
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, f"the body is over {max_bytes} bytes")
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ApiError(413, f"the body is over {max_bytes} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if request.path != "/api/v1/openapi.json":
            header = request.headers.get("Authorization", "")
            scheme, _, key = header.partition(" ")
            if scheme.lower() != "bearer" or not key:
                return error(401, "send your API key as 'Authorization: Bearer cbk_…'")
            hub = services(request)
            async with hub.db.transaction() as session:
                found = await creator_for_key(session, key.strip(), hub.clock.now())
            if found is None:
                return error(401, "this API key is unknown or revoked")
            request[API_CREATOR] = found
        response = await handler(request)
    except ApiError as exc:
        return error(exc.status, exc.message, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error(exc.status, exc.reason if exc.status != 404 else "no such resource")
    except Exception:
        log.exception("API request failed", extra={"path": request.path})
        return error(500, "something went wrong on our side")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def create_api(hub: HubServices) -> web.Application:
    from creator_hub.api import routes

    app = web.Application(middlewares=[guard])
    app[API] = hub
    routes.register(app)
    return app
