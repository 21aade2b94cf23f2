"""What the router cannot say about each route of the OpenAPI document (service.openapi): a
few words, its answers, its errors, its parameters and body, under its handler's name."""

from __future__ import annotations

from typing import Any

import attrs

from service.openapi_schemas import Schema, ref, schema_ref
from service.request_bodies import JSON

SSE = "text/event-stream"
MARKDOWN = "text/markdown"

# Errors any write to a session's log can meet: a damaged (read-only) log, a failed fsync.
WRITE = (409, 503)

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
NO_OP = (
    "{what} changes nothing: no event is written, and the answer is 200 with the unchanged "
    "version and ETag."
)


def _stream(id_is: str) -> dict[str, Any]:
    """A live stream: `schema` describes one message, as OpenAPI 3.1 tools read it for a
    sequential media type (3.2's `itemSchema`); its `data` is JSON, of the schema named."""
    data = {"oneOf": [schema_ref("Event"), schema_ref("StreamError"), schema_ref("StreamReset")]}
    return {
        "description": SSE_FORMAT.format(id=id_is),
        "content": {
            SSE: {
                "schema": {
                    "type": "object",
                    "required": ["event", "data"],
                    "properties": {
                        "id": {"type": "string"},
                        "event": {"type": "string"},
                        "data": {
                            "type": "string",
                            "contentMediaType": JSON,
                            "contentSchema": data,
                        },
                        "retry": {"type": "integer"},
                    },
                },
                "examples": {
                    "event": {
                        "value": {
                            "id": "3",
                            "event": "message_added",
                            "data": '{"position":42,"stream":"…","seq":3,"type":"message_added",…}',
                        }
                    }
                },
            }
        },
    }


def _ok(description: str, schema: str | Schema | None = None, *names: str) -> dict[str, Any]:
    """A success answer: `schema` a component's name, "[Name]" a list of them, or inline."""
    answer: dict[str, Any] = {"description": description}
    if isinstance(schema, str):
        many = schema.startswith("[")
        schema = schema_ref(schema.strip("[]"))
        schema = {"type": "array", "items": schema} if many else schema
    if schema is not None:
        answer["content"] = {JSON: {"schema": schema}}
    if names:
        answer["headers"] = {name: ref("headers", name) for name in names}
    return answer


@attrs.frozen
class Operation:
    """What the router cannot say about a route. Added from its shape: 401 unless it is public,
    404 on a session's path, the body's errors with a body, 412 with If-Match."""

    summary: str
    tag: str
    answers: dict[int, dict[str, Any]]
    errors: tuple[int, ...] = ()
    parameters: tuple[str, ...] = ()
    body: tuple[str, str, bool] | None = None  # schema, description, required
    description: str | None = None
    public: bool = False


def _op(summary: str, tag: str, status: int, answer: dict[str, Any], **more: Any) -> Operation:
    return Operation(summary, tag, {status: answer}, **more)


SESSION_AT = _ok("The session.", "Session", "ETag")
EVENTS_PAGE = _ok("One page of events.", "[Event]", "Link")
OPERATIONS: dict[str, Operation] = {
    "create_session": _op(
        "Create a session", "sessions", 201,
        _ok("Created.", "Session", "Location", "ETag"),
        errors=(503,), parameters=("IdempotencyKey",),
        body=("CreateSession", "Title and metadata; the body may be empty.", False),
    ),
    "list_sessions": _op(
        "List sessions, most recent activity first", "sessions", 200,
        _ok("One page of session summaries.", "[SessionSummary]", "Link"),
        errors=(403, 422), parameters=("Limit", "Cursor", "Owner"),
        description="Ordered by updated_at descending, ties by id. Deleted sessions are not "
        "listed.",
    ),
    "get_session": _op(
        "One session with its messages", "sessions", 200, SESSION_AT,
        errors=(403, 422), parameters=("Version", "AsOf", "Owner"),
        description="With version or as_of: the session exactly as it was then (404 if it did "
        "not exist then).",
    ),
    "update_session": _op(
        "Rename and/or replace metadata", "sessions", 200,
        _ok("The session after the change.", "Session", "ETag"),
        errors=WRITE, parameters=("IfMatch",),
        body=("UpdateSession", "The fields to change.", True),
        description=NO_OP.format(what="A title or metadata the session already has (but for "
                                 "the default title, which a rename pins)"),
    ),
    "delete_session": _op(
        "Delete a session", "sessions", 204, _ok("Deleted."), errors=WRITE,
        parameters=("IfMatch",),
        description="Appends a tombstone; the log stays for audit and restore.",
    ),
    "restore_session": _op(
        "Undo a delete", "sessions", 200, _ok("The restored session.", "Session", "ETag"),
        errors=(*WRITE, 422), parameters=("IfMatch", "IdempotencyKey"),
    ),
    "fork_session": _op(
        "A new session starting with this one's messages", "sessions", 201,
        _ok("The new session, with forked_from.", "Session", "Location", "ETag"),
        errors=(503,), parameters=("IfMatch", "IdempotencyKey"),
        body=("Fork", "Where to fork; may be empty.", False),
        description="If-Match is the source session's version: fork only what the client has "
        "seen.",
    ),
    "session_events": _op(
        "A session's events in seq order", "events", 200, EVENTS_PAGE,
        errors=(422,), parameters=("After", "Limit"),
        description="The audit history; answers for deleted sessions too.",
    ),
    "stream_session": _op(
        "A session's events, live", "events", 200, _stream("the event's seq"),
        errors=(422,), parameters=("LastEventId", "After"),
    ),
    "export_session": _op(
        "The session and its whole history", "sessions", 200,
        {
            "description": "json: the session and its events; markdown: a transcript.",
            "content": {
                JSON: {"schema": schema_ref("Export")},
                MARKDOWN: {"schema": {"type": "string"}},
            },
        },
        errors=(422,), parameters=("ExportFormat",),
    ),
    "list_messages": _op(
        "One page of a branch's messages", "messages", 200,
        _ok("One page of messages.", "[Message]", "ETag", "Link"),
        errors=(422,),
        parameters=("MessageLimit", "MessagesBefore", "MessagesAfter", "Order", "Branch"),
        description="By default the current branch, root first, 100 a page.",
    ),
    "add_message": _op(
        "Add a message (a reply to the current leaf, or to any message)", "messages", 201,
        _ok("The message added; it is the new current_id.", "Message", "ETag"),
        errors=WRITE, parameters=("IfMatch", "IdempotencyKey"),
        body=("NewMessage", "The message.", True),
        description="Regenerate a reply: parent_id = the user message it answers. Edit and "
        "resend: parent_id = the edited message's parent.",
    ),
    "get_message": _op(
        "One message of any branch", "messages", 200,
        _ok("The message.", "Message", "ETag"),
    ),
    "set_current": _op(
        "Make a message's branch current", "messages", 200,
        _ok("The session, its messages the new current branch.", "Session", "ETag"),
        errors=WRITE, parameters=("IfMatch", "IdempotencyKey"),
        body=("SetCurrent", "The message whose branch becomes current.", True),
        description="current_id becomes the leaf reached from message_id by following the most "
        "recently added reply at each step. An unknown or deleted message_id is 422. "
        + NO_OP.format(what="A branch that is already current"),
    ),
    "clear_messages": _op(
        "Clear all messages", "messages", 200,
        _ok("The session, its messages empty.", "Session", "ETag"),
        errors=WRITE, parameters=("IfMatch",),
        description=NO_OP.format(what="A clear of a session without messages"),
    ),
    "edit_message": _op(
        "Change a message's content", "messages", 200,
        _ok("The message after the edit.", "Message", "ETag"),
        errors=WRITE, parameters=("IfMatch",), body=("EditMessage", "The new content.", True),
        description="The old text stays in the log. "
        + NO_OP.format(what="The text the message already has"),
    ),
    "delete_message": _op(
        "Delete one message, or a branch", "messages", 204, _ok("Deleted.", None, "ETag"),
        errors=(*WRITE, 422), parameters=("IfMatch", "Subtree"),
        description="A removed current leaf gives way to the leaf reached from its parent by "
        "the most recent replies, or the parent, or null.",
    ),
    "list_events": _op(
        "The global feed: every event of every log in position order", "events", 200,
        EVENTS_PAGE, errors=(422,), parameters=("After", "Limit"),
    ),
    "stream_feed": _op(
        "The global feed, live", "events", 200, _stream("the event's global position"),
        errors=(422,), parameters=("LastEventId", "After"),
    ),
    "search": _op(
        "Full-text search over titles and messages", "sessions", 200,
        _ok("Hits, best first.", "SearchPage"),
        errors=(422,), parameters=("Query", "Limit", "Offset"),
    ),
    "import_conversations": _op(
        "Import chats from ChatGPT, Open WebUI, LibreChat, Claude or an export of this service",
        "sessions", 200, _ok("What was imported, skipped and refused.", "ImportReport"),
        errors=(503,), parameters=("ImportFormat",),
        body=("ImportFile", "The export file as it is.", True),
        description="Each conversation becomes one of the caller's sessions, with every "
        "branch, its current one, its title, times and models. A conversation imported before "
        "is skipped; a broken one is listed in failed and writes nothing. 422 (field body) when "
        "the file is no known format: nothing is written.",
    ),
    "get_settings": _op(
        "Current settings", "settings", 200, _ok("The settings.", "Settings", "ETag")
    ),
    "patch_settings": _op(
        "Change some settings", "settings", 200,
        _ok("All settings after the change.", "Settings", "ETag"),
        errors=(503,), parameters=("IfMatch",),
        body=("SettingsPatch", "The settings to change.", True),
        description=NO_OP.format(what="Only the values already set"),
    ),
    "reset_settings": _op(
        "Back to the defaults", "settings", 200,
        _ok("All settings, at their defaults.", "Settings", "ETag"),
        errors=(422, 503), parameters=("IfMatch", "IdempotencyKey"),
    ),
    "me": _op(
        "The caller", "users", 200, _ok("The user whose key the request sent.", "User"),
        errors=(403,), description="403 without users.",
    ),
    "list_users": _op(
        "Every user, with their keys' ids (admins)", "users", 200,
        _ok("The users.", "[ListedUser]"), errors=(403,),
    ),
    "create_user": _op(
        "A new user and their first key (admins)", "users", 201,
        _ok("The user, with the key: shown this once.", "CreatedUser", "Location"),
        errors=(403, 409, 503), body=("NewUser", "The name, and the role (user by default).", True),
        description="409 when a user has that name (whatever its case).",
    ),
    "disable_user": _op(
        "Disable a user (admins): every key revoked, the sessions kept", "users", 204,
        _ok("Disabled."), errors=(403, 404, 409, 503),
        description="409 for the last admin who is not disabled.",
    ),
    "issue_key": _op(
        "Another key for a user (admins): rotate, then revoke the old one", "users", 201,
        _ok("The key: shown this once.", "NewKey"), errors=(403, 404, 503),
    ),
    "revoke_key": _op(
        "Revoke a key (admins): refused from the next request on", "users", 204,
        _ok("Revoked."), errors=(403, 404, 503),
    ),
    "health": _op(
        "Liveness and counts", "operations", 200, _ok("The service's state.", "Health"),
        public=True, description="Never needs a token. degraded when any log is read-only.",
    ),
    "openapi_json": _op(
        "This document", "operations", 200,
        _ok("The OpenAPI 3.1 document.", {"type": "object"}),
        description="Like every route but health, it needs the token when one is set.",
    ),
}  # fmt: skip
