"""The OpenAPI 3.1 description of the HTTP API (SPEC §4, §6, §7), as plain data.

Its paths are the router's own table (service.routes.ROUTES) with a few words per route from
OPERATIONS, its request schemas are generated from the bodies' Structs (service.request_bodies,
whose limits are orion_events.domain.rules'), so the document cannot drift from what is served
or enforced. Served by GET /api/openapi.json; tests/service/test_openapi.py checks it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from service.openapi_imports import import_schemas
from service.openapi_operations import OPERATIONS, Operation
from service.openapi_parameters import headers, parameters, responses
from service.openapi_schemas import ref, schema_ref, schemas
from service.request_bodies import JSON

BODY = (400, 413, 415, 422)  # errors any request with a JSON body can meet
PATH_PARAMETERS = {
    "session_id": "SessionId",
    "message_id": "MessageId",
    "user_id": "UserId",
    "key_id": "KeyId",
}


def _operation(name: str, path: str, operation: Operation) -> dict[str, Any]:
    errors = set(operation.errors)
    errors |= set() if operation.public else {401}
    errors |= {404} if "{session_id}" in path else set()
    errors |= set(BODY) if operation.body else set()
    errors |= {412} if "IfMatch" in operation.parameters else set()
    found: dict[str, Any] = {"operationId": name, "summary": operation.summary}
    if operation.description is not None:
        found["description"] = operation.description
    found["tags"] = [operation.tag]
    if operation.public:
        found["security"] = []
    if operation.parameters:
        found["parameters"] = [ref("parameters", p) for p in operation.parameters]
    if operation.body is not None:
        schema, description, required = operation.body
        content = {JSON: {"schema": schema_ref(schema)}}
        found["requestBody"] = {
            "description": description,
            "required": required,
            "content": content,
        }
    answers = {str(status): answer for status, answer in operation.answers.items()}
    errors_answers = {str(status): ref("responses", str(status)) for status in sorted(errors)}
    found["responses"] = answers | errors_answers
    return found


def _paths() -> dict[str, Any]:
    """Every /api route the router serves, described by OPERATIONS under its handler's name."""
    from service.routes import ROUTES  # routes serves this document: imported once it is built

    paths: dict[str, Any] = {}
    for method, path, handler in ROUTES:
        if not path.startswith("/api/"):
            continue  # the catch-all
        item = paths.setdefault(path, {})
        names = re.findall(r"\{(\w+)\}", path)
        if names:
            item["parameters"] = [ref("parameters", PATH_PARAMETERS[name]) for name in names]
        name = handler.__name__
        item[method.lower()] = _operation(name, path, OPERATIONS[name])
    return paths


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI 3.1.0 document. Built once and shared: do not mutate it."""
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Orion session service",
            "version": "0.1.0",
            "summary": "Event-sourced chat history: sessions, messages, settings.",
            "description": (
                "Bodies are JSON (application/json, UTF-8). Timestamps are RFC 3339 in UTC. "
                "Ids are server-generated UUIDs. Every error is "
                '{"error": {"code", "message", "field"?}}. Writes answer 2xx only once their '
                "event is on disk. Responses to session and settings reads and writes carry ETag: "
                '"<version>"; send it back as If-Match for optimistic concurrency. A path used '
                "with a method it lacks answers 405 with Allow."
            ),
        },
        # relative: the API is where this document was read from, whatever the host and port
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": "sessions"},
            {"name": "messages"},
            {"name": "events", "description": "The audit history, the global feed, live streams."},
            {"name": "settings"},
            {
                "name": "users",
                "description": "With users (SPEC §9): who am I, and for admins "
                "the users and their keys.",
            },
            {"name": "operations"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": schemas() | import_schemas(),
            "parameters": parameters(),
            "responses": responses(),
            "headers": headers(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "Required on every /api route but health and this document when the "
                        "service runs with ORION_API_TOKEN set; compared in constant time."
                    ),
                }
            },
        },
    }


__all__ = ["OPERATIONS", "openapi_document"]
