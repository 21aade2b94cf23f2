"""The OpenAPI document's component schemas: the answers' shapes, and the request bodies'
generated from their Structs (service.request_bodies), so a limit is never restated here."""

from __future__ import annotations

from typing import Any

import msgspec

from orion_events.domain.events import EVENT_TYPES
from orion_events.domain.rules import ROLES
from service.request_bodies import REQUEST_BODIES, SCHEMA_EXTRAS, SettingsPatch

Schema = dict[str, Any]


def ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def schema_ref(name: str) -> Schema:
    return ref("schemas", name)


UUID: Schema = {"type": "string", "format": "uuid"}
TIMESTAMP: Schema = {
    "type": "string",
    "format": "date-time",
    "description": "RFC 3339 in UTC with microseconds, e.g. 2025-11-10T12:00:05.123456Z.",
    "examples": ["2025-11-10T12:00:05.123456Z"],
}
VERSION: Schema = {
    "type": "integer",
    "minimum": 1,
    "description": "The session's last event sequence number; also its ETag.",
}
COUNT: Schema = {"type": "integer", "minimum": 0}


def schemas() -> dict[str, Schema]:
    """Every component schema: the answers', then the request bodies'."""
    _, requests = msgspec.json.schema_components(
        REQUEST_BODIES, ref_template="#/components/schemas/{name}"
    )
    for name, schema in requests.items():
        # msgspec adds a title (the name, already the key) and an empty `required`; a
        # description is the Struct's docstring, its lines joined here.
        del schema["title"]
        if not schema["required"]:
            del schema["required"]
        if "description" in schema:
            schema["description"] = " ".join(schema["description"].split())
        schema |= SCHEMA_EXTRAS.get(name, {})
    settings = requests[SettingsPatch.__name__]["properties"]
    return {
        **_response_schemas(),
        "Settings": {"type": "object", "required": list(settings), "properties": settings},
        **requests,
    }


KEY = {
    "type": "string",
    "pattern": "^orion_[A-Za-z0-9_-]{43}$",
    "description": "An API key: send it as Authorization: Bearer <key>. Shown once; keep it.",
}


def _summary_properties() -> dict[str, Schema]:
    return {
        "id": UUID,
        "title": {"type": "string"},
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "version": VERSION,
        "message_count": {
            **COUNT,
            "description": "How many messages the current branch holds.",
        },
        "current_id": {
            "type": ["string", "null"],
            "format": "uuid",
            "description": "The leaf of the current branch; null when there are no messages.",
        },
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "forked_from": {
            "type": "object",
            "description": "Only on a fork: the session and version it was forked from.",
            "required": ["session_id", "version"],
            "properties": {"session_id": UUID, "version": VERSION},
            "additionalProperties": False,
        },
    }


SUMMARY_REQUIRED = [
    "id",
    "title",
    "created_at",
    "updated_at",
    "version",
    "message_count",
    "current_id",
]


def _response_schemas() -> dict[str, Schema]:
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
            "description": "A message, and its place in the session's tree of branches.",
            "required": [
                "id",
                "role",
                "content",
                "timestamp",
                "agent",
                "model",
                "parent_id",
                "sibling_ids",
            ],
            "properties": {
                "id": UUID,
                "role": {"type": "string", "enum": sorted(ROLES)},
                "content": {"type": "string"},
                "timestamp": TIMESTAMP,
                "agent": {"type": ["string", "null"]},
                "model": {"type": ["string", "null"]},
                "parent_id": {
                    "type": ["string", "null"],
                    "format": "uuid",
                    "description": "The message it replies to; null for a first message.",
                },
                "sibling_ids": {
                    "type": "array",
                    "items": UUID,
                    "minItems": 1,
                    "description": "Every live message with the same parent, itself included, "
                    "oldest first: a page draws '< 2/3 >' from it.",
                },
            },
        },
        "User": {
            "type": "object",
            "required": ["id", "name", "role"],
            "properties": {
                "id": UUID,
                "name": {"type": "string", "minLength": 1},
                "role": {"type": "string", "enum": ["user", "admin"]},
            },
        },
        "CreatedUser": {
            "type": "object",
            "required": ["id", "name", "role", "key"],
            "properties": {
                "id": UUID,
                "name": {"type": "string", "minLength": 1},
                "role": {"type": "string", "enum": ["user", "admin"]},
                "key": KEY,
            },
        },
        "NewKey": {
            "type": "object",
            "required": ["key_id", "key"],
            "properties": {"key_id": UUID, "key": KEY},
        },
        "ListedUser": {
            "type": "object",
            "required": ["id", "name", "role", "created_at", "disabled", "keys"],
            "properties": {
                "id": UUID,
                "name": {"type": "string", "minLength": 1},
                "role": {"type": "string", "enum": ["user", "admin"]},
                "created_at": TIMESTAMP,
                "disabled": {"type": "boolean"},
                "keys": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["key_id", "prefix", "created_at", "revoked"],
                        "properties": {
                            "key_id": UUID,
                            "prefix": {
                                "type": "string",
                                "description": "The key's first characters: enough to tell "
                                "keys apart, never to use one.",
                            },
                            "created_at": TIMESTAMP,
                            "revoked": {"type": "boolean"},
                        },
                    },
                },
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
                "A session with the messages of its current branch, root first. Created without "
                "a title it is titled 'New Chat' until its first user message names it (at "
                "most 50 characters)."
            ),
            "required": [*SUMMARY_REQUIRED, "metadata", "messages"],
            "properties": {
                **summary,
                "messages": {"type": "array", "items": schema_ref("Message")},
            },
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
                "session": schema_ref("SessionSummary"),
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
                "hits": {"type": "array", "items": schema_ref("SearchHit")},
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
                    "allOf": [schema_ref("Session")],
                    "description": "The session, its messages those of every branch (parents "
                    "first, in the order added; parent_id and current_id say which is current).",
                    "properties": {
                        "deleted": {
                            "const": True,
                            "description": "Present (true) only when the session is deleted.",
                        }
                    },
                },
                "events": {"type": "array", "items": schema_ref("Event")},
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
        "Health": {
            "type": "object",
            "description": "With users, only status, unless an admin's key is sent: the counts "
            "and the damaged logs' names would tell anyone about every user's data.",
            "required": ["status"],
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
