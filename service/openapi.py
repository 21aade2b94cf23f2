"""The OpenAPI 3.1 description of the HTTP API (SPEC §4, §6, §7), as plain data.

Built once from the same limits the validators enforce (orion_events.domain.rules) and the event
types the log knows, so the document cannot drift from them. Served by GET /api/openapi.json;
tests/service/test_openapi.py checks that it describes exactly the routes the app registers.
"""

from __future__ import annotations

import functools
from typing import Any

from orion_events.domain import rules as validation
from orion_events.domain.events import EVENT_TYPES
from orion_events.store.store import MAX_PAGE

JSON = "application/json"
SSE = "text/event-stream"
MARKDOWN = "text/markdown"

Schema = dict[str, Any]


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> Schema:
    return _ref("schemas", name)


def _param(name: str) -> Schema:
    return _ref("parameters", name)


def _error(status: int) -> Schema:
    return _ref("responses", str(status))


def _header(name: str) -> Schema:
    return _ref("headers", name)


def _json(schema: Schema) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _body(name: str, description: str, *, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "content": _json(_schema(name))}


def _ok(description: str, schema: Schema, **headers: Schema) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": _json(schema)}
    if headers:
        response["headers"] = headers
    return response


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _error(status) for status in sorted(statuses)}


# Errors any request can meet: a missing token (when one is configured).
AUTH = (401,)
# Errors any request with a JSON body can meet.
BODY = (400, 413, 415, 422)
# Errors any write to a session's log can meet: a damaged (read-only) log, a failed fsync.
WRITE = (409, 503)


# -- schemas ------------------------------------------------------------------------------------

UUID: Schema = {"type": "string", "format": "uuid"}
TIMESTAMP: Schema = {
    "type": "string",
    "format": "date-time",
    "description": "RFC 3339 in UTC with microseconds, e.g. 2025-11-10T12:00:05.123456Z.",
    "examples": ["2025-11-10T12:00:05.123456Z"],
}
TITLE: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": validation.MAX_TITLE_CHARS,
    "pattern": r"\S",
    "description": f"A non-blank title of at most {validation.MAX_TITLE_CHARS} characters.",
}
METADATA: Schema = {
    "type": "object",
    "maxProperties": validation.MAX_METADATA_KEYS,
    "propertyNames": {"minLength": 1, "maxLength": validation.MAX_METADATA_KEY_CHARS},
    "additionalProperties": {"type": "string", "maxLength": validation.MAX_METADATA_VALUE_CHARS},
    "description": (
        f"At most {validation.MAX_METADATA_KEYS} string keys of 1 to "
        f"{validation.MAX_METADATA_KEY_CHARS} characters, each to a string of at most "
        f"{validation.MAX_METADATA_VALUE_CHARS} characters. Replaces the whole metadata."
    ),
}
ROLE: Schema = {"type": "string", "enum": sorted(validation.ROLES)}
CONTENT: Schema = {
    "type": "string",
    # maxLength counts characters; the rule is on UTF-8 bytes, which are never fewer.
    "maxLength": validation.MAX_CONTENT_BYTES,
    "description": "The message text: at most 1 MiB (1,048,576 bytes) of UTF-8.",
}
NAME: Schema = {
    "type": ["string", "null"],
    "minLength": 1,
    "maxLength": validation.MAX_NAME_CHARS,
}
VERSION: Schema = {
    "type": "integer",
    "minimum": 1,
    "description": "The session's last event sequence number; also its ETag.",
}
COUNT: Schema = {"type": "integer", "minimum": 0}


def _summary_properties() -> dict[str, Schema]:
    return {
        "id": UUID,
        "title": {"type": "string"},
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "version": VERSION,
        "message_count": COUNT,
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "forked_from": {
            "type": "object",
            "description": "Only on a fork: the session and version it was forked from.",
            "required": ["session_id", "version"],
            "properties": {"session_id": UUID, "version": VERSION},
            "additionalProperties": False,
        },
    }


SUMMARY_REQUIRED = ["id", "title", "created_at", "updated_at", "version", "message_count"]


def _schemas() -> dict[str, Schema]:
    settings = {
        "theme": {"type": "string", "enum": sorted(validation.THEMES), "default": "dark"},
        "language": {
            "type": "string",
            "maxLength": 35,
            "pattern": r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
            "description": "A short language tag such as en or pt-BR.",
            "default": "en",
        },
        "enable_sounds": {"type": "boolean", "default": True},
        "enable_notifications": {"type": "boolean", "default": True},
        "auto_play_tts": {"type": "boolean", "default": False},
        "default_model": {
            "type": "string",
            "minLength": 1,
            "maxLength": validation.MAX_NAME_CHARS,
            "pattern": r"\S",
            "default": "qwen2.5:1.5b",
        },
        "temperature": {"type": "number", "minimum": 0, "maximum": 2, "default": 0.7},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 2048},
    }
    summary = _summary_properties()
    return {
        "Error": {
            "type": "object",
            "description": "Every error answer: a code to branch on, a message for people.",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {
                            "type": "string",
                            "minLength": 1,
                            "examples": ["not_found", "invalid_field", "precondition_failed"],
                        },
                        "message": {"type": "string", "minLength": 1},
                        "field": {
                            "type": "string",
                            "description": "The request field, parameter or header at fault.",
                        },
                    },
                    "additionalProperties": False,
                }
            },
            "additionalProperties": False,
        },
        "Message": {
            "type": "object",
            "required": ["id", "role", "content", "timestamp", "agent", "model"],
            "properties": {
                "id": UUID,
                "role": ROLE,
                "content": {"type": "string"},
                "timestamp": TIMESTAMP,
                "agent": {"type": ["string", "null"]},
                "model": {"type": ["string", "null"]},
            },
        },
        "SessionSummary": {
            "type": "object",
            "description": "A session without its messages, as lists and search hits show it.",
            "required": [*SUMMARY_REQUIRED, "metadata"],
            "properties": summary,
        },
        "Session": {
            "type": "object",
            "description": (
                "A session with its messages. Created without a title it is titled 'New Chat' "
                "until its first user message names it (at most 50 characters)."
            ),
            "required": [*SUMMARY_REQUIRED, "metadata", "messages"],
            "properties": {
                **summary,
                "messages": {"type": "array", "items": _schema("Message")},
            },
        },
        "Settings": {
            "type": "object",
            "required": list(settings),
            "properties": settings,
        },
        "SettingsPatch": {
            "type": "object",
            "description": "Any subset of the settings; one bad key or value rejects all of it.",
            "properties": settings,
            "additionalProperties": False,
        },
        "Event": {
            "type": "object",
            "description": "One event as the history, the feed, the streams and exports show it.",
            "required": ["position", "stream", "seq", "id", "type", "at", "data"],
            "properties": {
                "position": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Its place in the global order across every log.",
                },
                "stream": {
                    "type": "string",
                    "description": "The session id, or 'settings' or 'operations'.",
                },
                "seq": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Its place in its own log (1, 2, 3 …).",
                },
                "id": UUID,
                "type": {"type": "string", "enum": sorted(EVENT_TYPES)},
                "at": TIMESTAMP,
                "data": {"type": "object", "description": "The event's payload; per type."},
                "meta": {
                    "type": "object",
                    "description": "Request facts such as the idempotency key, when any.",
                    "additionalProperties": {"type": "string"},
                },
            },
        },
        "SearchHit": {
            "type": "object",
            "required": ["session", "score", "title_match", "message_ids"],
            "properties": {
                "session": _schema("SessionSummary"),
                "score": {"type": "number", "minimum": 0},
                "title_match": {"type": "boolean"},
                "message_ids": {
                    "type": "array",
                    "items": UUID,
                    "description": "The matching messages in session order (the first few).",
                },
            },
        },
        "SearchPage": {
            "type": "object",
            "required": ["hits", "total"],
            "properties": {
                "hits": {"type": "array", "items": _schema("SearchHit")},
                "total": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Every matching session, not only this page.",
                },
                "next_offset": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "The offset of the next page; absent on the last page.",
                },
            },
        },
        "Export": {
            "type": "object",
            "description": "Also for a deleted session: the history stays for audit.",
            "required": ["session", "events"],
            "properties": {
                "session": {
                    "allOf": [_schema("Session")],
                    "properties": {
                        "deleted": {
                            "const": True,
                            "description": "Present (true) only when the session is deleted.",
                        }
                    },
                },
                "events": {"type": "array", "items": _schema("Event")},
            },
        },
        "StreamError": {
            "type": "object",
            "description": "The data of an `event: error` message that ends a live stream.",
            "required": ["reason", "resume_after"],
            "properties": {
                "reason": {"enum": ["too_far_behind"]},
                "resume_after": {
                    "type": ["integer", "null"],
                    "description": "The last id sent; reconnect with it as Last-Event-ID.",
                },
            },
        },
        "StreamReset": {
            "type": "object",
            "description": (
                "The data of the `event: reset` message a stream opens with when the client "
                "resumes after an id beyond the stream's last event; the stream goes on live "
                "after it."
            ),
            "required": ["reason", "resume_after"],
            "properties": {
                "reason": {"const": "ahead_of_stream"},
                "resume_after": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "The stream's last event id, also the message's `id:`.",
                },
            },
        },
        "CreateSession": {
            "type": "object",
            "properties": {"title": TITLE, "metadata": METADATA},
            "additionalProperties": False,
        },
        "UpdateSession": {
            "type": "object",
            "description": "Rename and/or replace the metadata; an omitted field stays as it is.",
            "properties": {"title": TITLE, "metadata": METADATA},
            "additionalProperties": False,
        },
        "NewMessage": {
            "type": "object",
            "required": ["role", "content"],
            "properties": {"role": ROLE, "content": CONTENT, "agent": NAME, "model": NAME},
            "additionalProperties": False,
        },
        "EditMessage": {
            "type": "object",
            "required": ["content"],
            "properties": {"content": CONTENT},
            "additionalProperties": False,
        },
        "Fork": {
            "type": "object",
            "description": (
                "Fork the whole session, or its messages up to message_id (inclusive), or the "
                "session as it was at version; not both."
            ),
            "properties": {"message_id": UUID, "version": VERSION, "title": TITLE},
            "not": {"required": ["message_id", "version"]},
            "additionalProperties": False,
        },
        "Health": {
            "type": "object",
            "required": [
                "status",
                "sessions",
                "events",
                "last_position",
                "read_only_sessions",
                "problems",
            ],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded"]},
                "sessions": {**COUNT, "description": "Live (not deleted) sessions."},
                "events": {**COUNT, "description": "Events in every log."},
                "last_position": {**COUNT, "description": "The feed's highest position."},
                "read_only_sessions": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Logs served read-only: damaged, or after a failed write.",
                },
                "problems": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "What is wrong with each of those logs.",
                },
            },
        },
    }


def _parameters() -> dict[str, Schema]:
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
            "schema": {"type": "integer", "minimum": 0, "default": 0},
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
            "schema": {"type": "integer", "minimum": 0},
        },
        "Version": {
            "name": "version",
            "in": "query",
            "required": False,
            "description": "Time travel: the session as it was at this version.",
            "schema": {"type": "integer", "minimum": 1},
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
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
    }


ERRORS = {
    400: (
        "Malformed JSON, or a body that is not a JSON object. On any route: a request that is "
        "not valid HTTP/1.1 (a request line or header over 8 KiB, bad chunked encoding, …), "
        "answered before the route is known, in this shape, and the connection closes."
    ),
    401: "A token is configured (ORION_API_TOKEN) and the request lacks Authorization: Bearer.",
    404: "No such session (or message), it is deleted, or the id is not well formed.",
    405: "The path exists but not with this method; the Allow header lists those it has.",
    409: "Conflict: the session's log is damaged and read-only, or the session is not deleted.",
    412: "If-Match names a version the session (or the settings) is not at; nothing was appended.",
    413: "The body is larger than the limit (2 MiB by default).",
    415: "The body is not application/json in UTF-8.",
    422: "A field, parameter or header is invalid or unknown; error.field names it.",
    503: "Storage failed (a write or fsync); nothing was acknowledged. Retry later.",
}


def _responses() -> dict[str, Schema]:
    return {
        str(status): {"description": description, "content": _json(_schema("Error"))}
        for status, description in ERRORS.items()
    }


def _headers() -> dict[str, Schema]:
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


SSE_FORMAT = (
    "Server-Sent Events. The stream opens with `retry: 2000`. Each event is one message: `id:` "
    "{id}, `event:` the event type, `data:` the Event as JSON. Comment lines (`: heartbeat`) keep "
    "an idle stream open. A reader that falls too far behind is sent one `event: error` message "
    'whose data is a StreamError ({{"reason", "resume_after"}}) and the stream ends; reconnect '
    "with Last-Event-ID set to resume_after. A resume point beyond the stream's last event is "
    "answered first with one `event: reset` message whose `id:` is that last event's id and "
    'whose data is a StreamReset ({{"reason": "ahead_of_stream", "resume_after": <that id>}}); '
    "the stream then goes on live after it."
)


def _stream(id_is: str) -> dict[str, Any]:
    return {
        "description": SSE_FORMAT.format(id=id_is),
        "content": {
            SSE: {
                "schema": {"type": "string"},
                # Not an OpenAPI 3.1 field (3.1 has no schema per SSE message): what `data:`
                # holds: an Event, or a StreamError in an `event: error` message, or a
                # StreamReset in an `event: reset` one.
                "x-sse-data": {
                    "oneOf": [_schema("Event"), _schema("StreamError"), _schema("StreamReset")]
                },
                "examples": {
                    "event": {
                        "value": (
                            "id: 3\nevent: message_added\n"
                            'data: {"position":42,"stream":"…","seq":3,"type":"message_added",…}'
                            "\n\n"
                        )
                    }
                },
            }
        },
    }


NO_OP = (
    "{what} changes nothing: no event is written, and the answer is 200 with the unchanged "
    "version and ETag."
)


def _paths() -> dict[str, Any]:
    session = _param("SessionId")
    if_match = _param("IfMatch")
    key = _param("IdempotencyKey")
    etag = _header("ETag")
    return {
        "/api/sessions": {
            "post": {
                "operationId": "create_session",
                "summary": "Create a session",
                "tags": ["sessions"],
                "parameters": [key],
                "requestBody": _body(
                    "CreateSession", "Title and metadata; the body may be empty.", required=False
                ),
                "responses": {
                    "201": _ok(
                        "Created.",
                        _schema("Session"),
                        Location=_header("Location"),
                        ETag=etag,
                    ),
                    **_errors(*AUTH, *BODY, 503),
                },
            },
            "get": {
                "operationId": "list_sessions",
                "summary": "List sessions, most recent activity first",
                "description": "Ordered by updated_at descending, ties by id. Deleted sessions "
                "are not listed.",
                "tags": ["sessions"],
                "parameters": [_param("Limit"), _param("Cursor")],
                "responses": {
                    "200": _ok(
                        "One page of session summaries.",
                        {"type": "array", "items": _schema("SessionSummary")},
                        Link=_header("Link"),
                    ),
                    **_errors(*AUTH, 422),
                },
            },
        },
        "/api/sessions/{session_id}": {
            "parameters": [session],
            "get": {
                "operationId": "get_session",
                "summary": "One session with its messages",
                "description": "With version or as_of: the session exactly as it was then "
                "(404 if it did not exist then).",
                "tags": ["sessions"],
                "parameters": [_param("Version"), _param("AsOf")],
                "responses": {
                    "200": _ok("The session.", _schema("Session"), ETag=etag),
                    **_errors(*AUTH, 404, 422),
                },
            },
            "put": {
                "operationId": "update_session",
                "summary": "Rename and/or replace metadata",
                "description": NO_OP.format(
                    what="A title or metadata the session already has (but for the default "
                    "title, which a rename pins)"
                ),
                "tags": ["sessions"],
                "parameters": [if_match],
                "requestBody": _body("UpdateSession", "The fields to change."),
                "responses": {
                    "200": _ok("The session after the change.", _schema("Session"), ETag=etag),
                    **_errors(*AUTH, *BODY, *WRITE, 404, 412),
                },
            },
            "delete": {
                "operationId": "delete_session",
                "summary": "Delete a session",
                "description": "Appends a tombstone; the log stays for audit and restore.",
                "tags": ["sessions"],
                "parameters": [if_match],
                "responses": {
                    "204": {"description": "Deleted."},
                    **_errors(*AUTH, *WRITE, 404, 412),
                },
            },
        },
        "/api/sessions/{session_id}/restore": {
            "parameters": [session],
            "post": {
                "operationId": "restore_session",
                "summary": "Undo a delete",
                "tags": ["sessions"],
                "parameters": [if_match, key],
                "responses": {
                    "200": _ok("The restored session.", _schema("Session"), ETag=etag),
                    **_errors(*AUTH, *WRITE, 404, 412, 422),
                },
            },
        },
        "/api/sessions/{session_id}/fork": {
            "parameters": [session],
            "post": {
                "operationId": "fork_session",
                "summary": "A new session starting with this one's messages",
                "description": (
                    "If-Match is the source session's version: fork only what the client has seen."
                ),
                "tags": ["sessions"],
                "parameters": [if_match, key],
                "requestBody": _body("Fork", "Where to fork; may be empty.", required=False),
                "responses": {
                    "201": _ok(
                        "The new session, with forked_from.",
                        _schema("Session"),
                        Location=_header("Location"),
                        ETag=etag,
                    ),
                    **_errors(*AUTH, *BODY, 404, 412, 503),
                },
            },
        },
        "/api/sessions/{session_id}/events": {
            "parameters": [session],
            "get": {
                "operationId": "session_events",
                "summary": "A session's events in seq order",
                "description": "The audit history; answers for deleted sessions too.",
                "tags": ["events"],
                "parameters": [_param("After"), _param("Limit")],
                "responses": {
                    "200": _ok(
                        "One page of events.",
                        {"type": "array", "items": _schema("Event")},
                        Link=_header("Link"),
                    ),
                    **_errors(*AUTH, 404, 422),
                },
            },
        },
        "/api/sessions/{session_id}/events/stream": {
            "parameters": [session],
            "get": {
                "operationId": "stream_session",
                "summary": "A session's events, live",
                "tags": ["events"],
                "parameters": [_param("LastEventId"), _param("After")],
                "responses": {
                    "200": _stream("the event's seq"),
                    **_errors(*AUTH, 404, 422),
                },
            },
        },
        "/api/sessions/{session_id}/export": {
            "parameters": [session],
            "get": {
                "operationId": "export_session",
                "summary": "The session and its whole history",
                "tags": ["sessions"],
                "parameters": [_param("ExportFormat")],
                "responses": {
                    "200": {
                        "description": "json: the session and its events; markdown: a transcript.",
                        "content": {
                            JSON: {"schema": _schema("Export")},
                            MARKDOWN: {"schema": {"type": "string"}},
                        },
                    },
                    **_errors(*AUTH, 404, 422),
                },
            },
        },
        "/api/sessions/{session_id}/messages": {
            "parameters": [session],
            "post": {
                "operationId": "add_message",
                "summary": "Append a message",
                "tags": ["messages"],
                "parameters": [if_match, key],
                "requestBody": _body("NewMessage", "The message."),
                "responses": {
                    "201": _ok("The message added.", _schema("Message"), ETag=etag),
                    **_errors(*AUTH, *BODY, *WRITE, 404, 412),
                },
            },
            "delete": {
                "operationId": "clear_messages",
                "summary": "Clear all messages",
                "description": NO_OP.format(what="A clear of a session without messages"),
                "tags": ["messages"],
                "parameters": [if_match],
                "responses": {
                    "200": _ok("The session, its messages empty.", _schema("Session"), ETag=etag),
                    **_errors(*AUTH, *WRITE, 404, 412),
                },
            },
        },
        "/api/sessions/{session_id}/messages/{message_id}": {
            "parameters": [session, _param("MessageId")],
            "patch": {
                "operationId": "edit_message",
                "summary": "Change a message's content",
                "description": "The old text stays in the log. "
                + NO_OP.format(what="The text the message already has"),
                "tags": ["messages"],
                "parameters": [if_match],
                "requestBody": _body("EditMessage", "The new content."),
                "responses": {
                    "200": _ok("The message after the edit.", _schema("Message"), ETag=etag),
                    **_errors(*AUTH, *BODY, *WRITE, 404, 412),
                },
            },
            "delete": {
                "operationId": "delete_message",
                "summary": "Delete one message",
                "tags": ["messages"],
                "parameters": [if_match],
                "responses": {
                    "204": {"description": "Deleted.", "headers": {"ETag": etag}},
                    **_errors(*AUTH, *WRITE, 404, 412),
                },
            },
        },
        "/api/events": {
            "get": {
                "operationId": "list_events",
                "summary": "The global feed: every event of every log in position order",
                "tags": ["events"],
                "parameters": [_param("After"), _param("Limit")],
                "responses": {
                    "200": _ok(
                        "One page of events.",
                        {"type": "array", "items": _schema("Event")},
                        Link=_header("Link"),
                    ),
                    **_errors(*AUTH, 422),
                },
            },
        },
        "/api/events/stream": {
            "get": {
                "operationId": "stream_feed",
                "summary": "The global feed, live",
                "tags": ["events"],
                "parameters": [_param("LastEventId"), _param("After")],
                "responses": {
                    "200": _stream("the event's global position"),
                    **_errors(*AUTH, 422),
                },
            },
        },
        "/api/search": {
            "get": {
                "operationId": "search",
                "summary": "Full-text search over titles and messages",
                "tags": ["sessions"],
                "parameters": [_param("Query"), _param("Limit"), _param("Offset")],
                "responses": {
                    "200": _ok("Hits, best first.", _schema("SearchPage")),
                    **_errors(*AUTH, 422),
                },
            },
        },
        "/api/settings": {
            "get": {
                "operationId": "get_settings",
                "summary": "Current settings",
                "tags": ["settings"],
                "responses": {
                    "200": _ok("The settings.", _schema("Settings"), ETag=etag),
                    **_errors(*AUTH),
                },
            },
            "patch": {
                "operationId": "patch_settings",
                "summary": "Change some settings",
                "description": NO_OP.format(what="Only the values already set"),
                "tags": ["settings"],
                "parameters": [if_match],
                "requestBody": _body("SettingsPatch", "The settings to change."),
                "responses": {
                    "200": _ok("All settings after the change.", _schema("Settings"), ETag=etag),
                    **_errors(*AUTH, *BODY, 412, 503),
                },
            },
        },
        "/api/settings/reset": {
            "post": {
                "operationId": "reset_settings",
                "summary": "Back to the defaults",
                "tags": ["settings"],
                "parameters": [if_match, key],
                "responses": {
                    "200": _ok("All settings, at their defaults.", _schema("Settings"), ETag=etag),
                    **_errors(*AUTH, 412, 422, 503),
                },
            },
        },
        "/api/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness and counts",
                "description": "Never needs a token. degraded when any log is read-only.",
                "tags": ["operations"],
                "security": [],
                "responses": {"200": _ok("The service's state.", _schema("Health"))},
            },
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi_json",
                "summary": "This document",
                "description": "Like every route but health, it needs the token when one is set.",
                "tags": ["operations"],
                "responses": {
                    "200": _ok("The OpenAPI 3.1 document.", {"type": "object"}),
                    **_errors(401),
                },
            },
        },
    }


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
        "servers": [{"url": "http://127.0.0.1:9000"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": "sessions"},
            {"name": "messages"},
            {"name": "events", "description": "The audit history, the global feed, live streams."},
            {"name": "settings"},
            {"name": "operations"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "parameters": _parameters(),
            "responses": _responses(),
            "headers": _headers(),
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


__all__ = ["openapi_document"]
