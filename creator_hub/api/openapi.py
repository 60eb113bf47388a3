"""The OpenAPI 3.1 document of /api/v1, written out by hand next to the handlers it describes."""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ok(
    description: str, schema: dict[str, Any] | None = None, status: str = "200"
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        status: {"description": description, **(_json(schema) if schema else {})}
    }
    for code, text in (
        ("400", "Bad input"),
        ("401", "Missing or unknown API key"),
        ("404", "Not found"),
    ):
        responses[code] = {"description": text, **_json(_ref("Error"))}
    return responses


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        **_json({"type": "object", "properties": properties, "required": required}),
    }


def _list(key: str, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {key: {"type": "array", "items": _ref(item)}},
        "required": [key],
    }


ID = {"type": "integer", "minimum": 1}
TEXT = {"type": "string", "minLength": 1}
# A whole program in the format of docs/programs.md: the example the document shows, and what a
# generated test publishes first (so the publishing path runs, not only its refusals).
PROGRAM_SOURCE = {
    **TEXT,
    "description": "The program's YAML (docs/programs.md)",
    "examples": [
        "version: 1\nslug: first-steps\ntitle: First steps\nsteps:\n"
        "  - message: Welcome! One small step a day.\n"
        "  - id: mood\n    kind: checkin\n    text: How do you feel today, from 1 to 10?\n"
        "    metric: mood\n"
        "  - end: That's all for now.\n"
    ],
}


def _id_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
            }
        },
        "required": ["error"],
    },
    "Document": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "title": {"type": "string"},
            "kind": {"type": "string"},
            "status": {"enum": ["queued", "indexing", "ready", "failed"]},
            "chunks": {"type": "integer"},
            "size_bytes": {"type": "integer"},
            "error": {"type": ["string", "null"]},
        },
    },
    "Passage": {
        "type": "object",
        "properties": {
            "doc": {"type": "string"},
            "title": {"type": "string"},
            "heading": {"type": "string"},
            "text": {"type": "string"},
            "rank": {"type": "integer"},
        },
    },
    "Program": {
        "type": "object",
        "properties": {
            "slug": {"type": "string"},
            "title": {"type": "string"},
            "version": {"type": "integer"},
            "active": {"type": "integer"},
            "completed": {"type": "integer"},
        },
    },
    "Problem": {
        "type": "object",
        "properties": {
            "line": {"type": "integer"},
            "column": {"type": "integer"},
            "message": {"type": "string"},
        },
    },
    "Contact": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "channels": {"type": "array", "items": {"type": "string"}},
            "program": {"type": ["string", "null"]},
            "step": {"type": ["string", "null"]},
            "status": {"type": ["string", "null"]},
            "last_active": {"type": ["string", "null"]},
            "streak": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "opted_out": {"type": "boolean"},
            "flagged": {"type": ["string", "null"]},
            "handoff": {"type": "boolean"},
        },
    },
    "Message": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "direction": {"enum": ["in", "out"]},
            "channel": {"type": "string"},
            "text": {"type": "string"},
            "route": {"type": ["string", "null"]},
            "status": {"type": "string"},
            "created_at": {"type": ["string", "null"]},
        },
    },
    "Enrollment": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "contact_id": {"type": "integer"},
            "program": {"type": "string"},
            "status": {"type": "string"},
            "step": {"type": ["string", "null"]},
            "started_at": {"type": ["string", "null"]},
            "completed_at": {"type": ["string", "null"]},
        },
    },
}


def document(public_url: str) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/knowledge/documents": {
            "get": {
                "summary": "List documents",
                "operationId": "listDocuments",
                "responses": _ok("Documents", _list("documents", "Document")),
            },
            "post": {
                "summary": "Add or update a text document (indexed in the background)",
                "operationId": "addDocument",
                "requestBody": _body(
                    {
                        "name": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 300,
                            "pattern": "^[^/\\\\]+$",
                        },
                        "content": TEXT,
                    },
                    ["name", "content"],
                ),
                "responses": {
                    **_ok("Queued", {"type": "object"}, "202"),
                    "415": {"description": "Not JSON"},
                    "422": {"description": "Unreadable document", **_json(_ref("Error"))},
                },
            },
        },
        "/knowledge/documents/{document_id}": {
            "delete": {
                "summary": "Delete a document",
                "operationId": "deleteDocument",
                "parameters": [_id_param("document_id")],
                "responses": _ok("Deleted", None, "204"),
            },
        },
        "/knowledge/search": {
            "post": {
                "summary": "The passages retrieval finds",
                "operationId": "search",
                "requestBody": _body(
                    {
                        "query": {"type": "string", "minLength": 1, "maxLength": 1000},
                        "k": {"type": "integer", "minimum": 1, "maximum": 20},
                    },
                    ["query"],
                ),
                "responses": _ok("Passages", _list("results", "Passage")),
            },
        },
        "/knowledge/ask": {
            "post": {
                "summary": "Answer a question from the material, with citations",
                "operationId": "ask",
                "requestBody": _body(
                    {"question": {"type": "string", "minLength": 1, "maxLength": 1000}},
                    ["question"],
                ),
                "responses": _ok(
                    "Answer",
                    {
                        "type": "object",
                        "properties": {
                            "answer": {"type": "string"},
                            "grounded": {"type": "boolean"},
                            "citations": {"type": "array"},
                        },
                    },
                ),
            },
        },
        "/programs": {
            "get": {
                "summary": "List programs",
                "operationId": "listPrograms",
                "responses": _ok("Programs", _list("programs", "Program")),
            },
            "post": {
                "summary": "Publish a program (YAML source) as its next version",
                "operationId": "publishProgram",
                "requestBody": _body({"source": PROGRAM_SOURCE}, ["source"]),
                "responses": {
                    **_ok("Unchanged", {"type": "object"}),
                    "201": {"description": "Published"},
                    "422": {"description": "Invalid program", **_json(_ref("Error"))},
                },
            },
        },
        "/programs/validate": {
            "post": {
                "summary": "Validate a program without publishing",
                "operationId": "validateProgram",
                "requestBody": _body({"source": PROGRAM_SOURCE}, ["source"]),
                "responses": _ok(
                    "Result",
                    {
                        "type": "object",
                        "properties": {
                            "valid": {"type": "boolean"},
                            "problems": {"type": "array", "items": _ref("Problem")},
                        },
                    },
                ),
            },
        },
        "/programs/{slug}": {
            "get": {
                "summary": "A program's latest version",
                "operationId": "getProgram",
                "parameters": [
                    {
                        "name": "slug",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"},
                    }
                ],
                "responses": _ok("Program", {"type": "object"}),
            },
        },
        "/contacts": {
            "get": {
                "summary": "List contacts (flagged first, then most recently active)",
                "operationId": "listContacts",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                    },
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
                "responses": _ok("Contacts", _list("contacts", "Contact")),
            },
        },
        "/contacts/{contact_id}": {
            "get": {
                "summary": "A contact",
                "operationId": "getContact",
                "parameters": [_id_param("contact_id")],
                "responses": _ok("Contact", _ref("Contact")),
            },
            "delete": {
                "summary": "Erase a contact and everything about them (GDPR)",
                "operationId": "eraseContact",
                "parameters": [_id_param("contact_id")],
                "responses": _ok("Erased", {"type": "object"}),
            },
        },
        "/contacts/{contact_id}/export": {
            "get": {
                "summary": "Everything stored about a contact (GDPR export)",
                "operationId": "exportContact",
                "parameters": [_id_param("contact_id")],
                "responses": _ok("Export", {"type": "object"}),
            },
        },
        "/contacts/{contact_id}/messages": {
            "get": {
                "summary": "A contact's transcript",
                "operationId": "listMessages",
                "parameters": [_id_param("contact_id")],
                "responses": _ok("Messages", _list("messages", "Message")),
            },
            "post": {
                "summary": "Send a message as the coach",
                "operationId": "sendMessage",
                "parameters": [_id_param("contact_id")],
                "requestBody": _body(
                    {"text": {"type": "string", "minLength": 1, "maxLength": 4000}}, ["text"]
                ),
                "responses": {
                    **_ok("Queued", {"type": "object"}, "202"),
                    "409": {"description": "Not reachable", **_json(_ref("Error"))},
                },
            },
        },
        "/enrollments": {
            "get": {
                "summary": "Enrollments",
                "operationId": "listEnrollments",
                "parameters": [{"name": "program", "in": "query", "schema": {"type": "string"}}],
                "responses": _ok("Enrollments", _list("enrollments", "Enrollment")),
            },
            "post": {
                "summary": "Enroll a contact in a program (the scheduler sends the first message)",
                "operationId": "enroll",
                "requestBody": _body(
                    {
                        "contact_id": ID,
                        "program": {"type": "string", "minLength": 1, "maxLength": 64},
                    },
                    ["contact_id", "program"],
                ),
                "responses": {
                    **_ok("Enrolled", _ref("Enrollment"), "201"),
                    "409": {"description": "Cannot enroll", **_json(_ref("Error"))},
                },
            },
        },
        "/enrollments/{enrollment_id}/leave": {
            "post": {
                "summary": "Take a contact out of their running program",
                "operationId": "leaveEnrollment",
                "parameters": [_id_param("enrollment_id")],
                "responses": {
                    **_ok("Left", _ref("Enrollment")),
                    "409": {"description": "Not running", **_json(_ref("Error"))},
                },
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "coachbot API",
            "version": "1",
            "description": "A creator's knowledge, programs, contacts, enrollments and messages. "
            "Authenticate with a key from the hub (Team & API): `Authorization: Bearer cbk_…`. "
            'Errors are `{"error": {"code", "message"}}`.',
        },
        "servers": [{"url": public_url.rstrip("/") + "/api/v1"}],
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "paths": paths,
    }
