"""The OpenAPI document's shared parameters, headers and error answers."""

from __future__ import annotations

from orion_events.domain.branches import PAGE_MAX
from orion_events.imports.conversation import SOURCES
from orion_events.store.store import MAX_PAGE
from service.openapi_schemas import UUID, Schema, schema_ref
from service.payloads import MAX_COUNT
from service.request_bodies import JSON


def parameters() -> dict[str, Schema]:
    return {
        "SessionId": {
            "name": "session_id",
            "in": "path",
            "required": True,
            "description": "A session id; anything that is not a well-formed id is 404.",
            "schema": UUID,
        },
        "MessageId": {
            "name": "message_id",
            "in": "path",
            "required": True,
            "description": "A message id within the session.",
            "schema": UUID,
        },
        "IfMatch": {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "description": (
                "Write only if the session (on settings routes: the settings) is at this version: "
                '"<version>" as its ETag gave it, a list of them ("6", "7": any one), or *. '
                'Compared strongly (RFC 9110 §13.1.1): a weak tag (W/"7") never matches. A '
                "stale version, or a header that names none, gets 412 and appends nothing."
            ),
            "schema": {"type": "string", "examples": ['"3"']},
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": (
                "Appends at most once per key (and session); a retry gets the original answer. "
                "The same key with a different request is 422."
            ),
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": r"^[\x20-\x7e]+$",
            },
        },
        "Limit": {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": f"Page size, 1 to {MAX_PAGE}.",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        },
        "After": {
            "name": "after",
            "in": "query",
            "required": False,
            "description": (
                "Start after this one: a seq for a session's events, a global position for the "
                "feed. 0 starts at the beginning."
            ),
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_COUNT, "default": 0},
        },
        "MessageLimit": {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": f"Page size, 1 to {PAGE_MAX}.",
            "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": 100},
        },
        "MessagesAfter": {
            "name": "after",
            "in": "query",
            "required": False,
            "description": (
                "A message id of the sequence asked for: the page starts after it. A message "
                "that is not in that sequence (another branch's, deleted, unknown) is 422."
            ),
            "schema": UUID,
        },
        "MessagesBefore": {
            "name": "before",
            "in": "query",
            "required": False,
            "description": (
                "A message id of the sequence asked for: the page ends before it (alone, the "
                "page holds the messages just before it, for scrolling back). A message that "
                "is not in that sequence is 422."
            ),
            "schema": UUID,
        },
        "Order": {
            "name": "order",
            "in": "query",
            "required": False,
            "description": "asc: root (or first added) first; desc: the other way.",
            "schema": {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
        },
        "Branch": {
            "name": "branch",
            "in": "query",
            "required": False,
            "description": (
                "current: the current branch, root to current_id; all: every live message of "
                "every branch in the order they were added."
            ),
            "schema": {"type": "string", "enum": ["current", "all"], "default": "current"},
        },
        "Subtree": {
            "name": "subtree",
            "in": "query",
            "required": False,
            "description": (
                "false: remove the message alone, its replies moving up to its parent; true: "
                "remove it and every reply below it."
            ),
            "schema": {"type": "string", "enum": ["true", "false"], "default": "false"},
        },
        "Owner": {
            "name": "owner",
            "in": "query",
            "required": False,
            "description": (
                "Admins only: read as this user (their sessions); each such read is recorded "
                "in the operator log. A non-admin gets 403."
            ),
            "schema": UUID,
        },
        "UserId": {
            "name": "user_id",
            "in": "path",
            "required": True,
            "description": "A user's id.",
            "schema": UUID,
        },
        "KeyId": {
            "name": "key_id",
            "in": "path",
            "required": True,
            "description": "A key's id (as it was given when the key was made).",
            "schema": UUID,
        },
        "Cursor": {
            "name": "cursor",
            "in": "query",
            "required": False,
            "description": 'Opaque: as the previous page\'s Link rel="next" gave it.',
            "schema": {"type": "string"},
        },
        "LastEventId": {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "description": (
                "Resume a stream after this id (as the last message received carried it); "
                "?after= does the same when this header is absent. Without either the stream "
                "starts with the next new event. An id beyond the stream's last event is "
                "answered with one `event: reset` message (see the stream's description); a "
                "malformed one is 422 whose error.field names the one sent (Last-Event-ID or "
                "after)."
            ),
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_COUNT},
        },
        "Version": {
            "name": "version",
            "in": "query",
            "required": False,
            "description": "Time travel: the session as it was at this version.",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
        },
        "AsOf": {
            "name": "as_of",
            "in": "query",
            "required": False,
            "description": "Time travel: the session as it was at this instant (RFC 3339).",
            "schema": {"type": "string", "format": "date-time"},
        },
        "ExportFormat": {
            "name": "format",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["json", "markdown"], "default": "json"},
        },
        "ImportFormat": {
            "name": "format",
            "in": "query",
            "required": False,
            "description": "The export's format; told from its first item when not given.",
            "schema": {"type": "string", "enum": list(SOURCES)},
        },
        "Query": {
            "name": "q",
            "in": "query",
            "required": True,
            "description": "Words every hit holds (the last one also as a prefix).",
            "schema": {"type": "string", "pattern": r"\S"},
        },
        "Offset": {
            "name": "offset",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_COUNT, "default": 0},
        },
    }


ERRORS = {
    400: (
        "Malformed JSON, or a body that is not a JSON object. On any route: a request that is "
        "not valid HTTP/1.1 (a request line or header over 8 KiB, bad chunked encoding, …), "
        "answered before the route is known, in this shape, and the connection closes."
    ),
    401: (
        "Without users: a token is configured (ORION_API_TOKEN) and the request lacks "
        "Authorization: Bearer <token>. With users: the request lacks a live key."
    ),
    403: (
        "Only an admin may do this (and the service has users): manage users and keys, or read "
        "another user's data with ?owner=."
    ),
    404: (
        "No such session (or message, user, key), it is deleted, the id is not well formed, or "
        "it is another user's: answered exactly as an id that does not exist."
    ),
    405: "The path exists but not with this method; the Allow header lists those it has.",
    409: "Conflict: the session's log is damaged and read-only, or the session is not deleted.",
    412: "If-Match names a version the session (or the settings) is not at; nothing was appended.",
    413: "The body is larger than the limit (2 MiB by default; an import's, 64 MiB).",
    415: "The body is not application/json in UTF-8.",
    422: "A field, parameter or header is invalid or unknown; error.field names it.",
    503: "Storage failed (a write or fsync); nothing was acknowledged. Retry later.",
}


def responses() -> dict[str, Schema]:
    return {
        str(status): {
            "description": description,
            "content": {JSON: {"schema": schema_ref("Error")}},
        }
        for status, description in ERRORS.items()
    }


def headers() -> dict[str, Schema]:
    return {
        "ETag": {
            "description": (
                'The session\'s version after this request, as "<version>"; on settings routes '
                "the settings log's version (0 before their first change)."
            ),
            "schema": {"type": "string", "pattern": r'^"\d+"$'},
        },
        "Location": {
            "description": "The new session's URL.",
            "schema": {"type": "string", "format": "uri-reference"},
        },
        "Link": {
            "description": 'The next page, as <url>; rel="next"; absent on the last page.',
            "schema": {"type": "string"},
        },
    }
