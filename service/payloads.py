"""What a request says beyond its body (path ids, integer parameters, If-Match), and views out
(the API's JSON shapes)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from aiohttp import web

from orion_events.domain.errors import InvalidInput, SessionNotFound
from orion_events.domain.events import Recorded, event_data
from orion_events.domain.precondition import Expected
from orion_events.domain.streams import is_session_id
from orion_events.domain.tree import NONE
from orion_events.domain.views import SETTINGS_KEYS, MessageView, SessionView, SettingsView
from service.bodies import Mapped, json_pieces

JSON = "application/json"
# Messages: a longer session's body is encoded off the event loop (service/bodies.py).
LONG_BODY = 128


def session_id_of(request: web.Request) -> str:
    """The path's session id; anything that is not a well-formed one is 404 and never reaches
    the disk."""
    return _path_id(request, "session_id", "session")


def message_id_of(request: web.Request) -> str:
    """The path's message id, checked as session_id_of checks a session's (both are UUIDs)."""
    return _path_id(request, "message_id", "message")


def _path_id(request: web.Request, name: str, what: str) -> str:
    raw = request.match_info[name]
    value = raw.lower()
    if not is_session_id(value):  # the one well-formed id, a canonical UUID
        raise SessionNotFound(f"no {what} {raw[:64]!r}")
    return value


MAX_DIGITS = 18  # every count here fits; longer strings are refused before int() sees them
MAX_COUNT = 10**MAX_DIGITS - 1  # so the largest a query parameter or header may give


def is_count(raw: str) -> bool:
    """A non-negative decimal integer of plain ASCII digits (not '²', not 5,000 digits)."""
    return raw.isascii() and raw.isdigit() and len(raw) <= MAX_DIGITS


def int_param(
    request: web.Request, name: str, *, default: int | None, low: int, high: int
) -> int | None:
    """An integer query parameter within [low, high]; 422 naming it otherwise."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not is_count(raw) or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}", field=name)
    return int(raw)


def respond(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON, headers=headers)


def message_json(view: SessionView, number: int) -> dict[str, Any]:
    """Message `number` of a loaded session, with its place in the tree: its parent, and every
    live message with that parent (itself included), oldest first."""
    message: MessageView = view.loaded_messages[number]
    tree = view.tree
    parent = tree.parent(number)
    siblings = [number] if tree.only_child(number) else tree.siblings(number)
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "timestamp": message.timestamp,
        "agent": message.agent,
        "model": message.model,
        "parent_id": None if parent == NONE else tree.id_of(parent),
        "sibling_ids": [message.id if s == number else tree.id_of(s) for s in siblings],
    }


def messages_json(view: SessionView, numbers: Sequence[int], *, sliced: bool = False) -> Any:
    """These messages of a loaded session; `sliced`: as a Mapped, made as bodies.json_pieces
    encodes them, a slice at a time."""
    if sliced:
        return Mapped(numbers, functools.partial(message_json, view))
    return [message_json(view, n) for n in numbers]


def session_json(
    view: SessionView, *, messages: bool = True, sliced: bool = False
) -> dict[str, Any]:
    """The API's session, its messages those of the current branch; `sliced`: its messages as a
    Mapped, made as bodies.json_pieces encodes them, a slice at a time (for a long session, off
    the loop)."""
    body: dict[str, Any] = {
        "id": view.id,
        "title": view.title,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "version": view.version,
        "message_count": view.message_count,
        "current_id": view.current_id,
        "metadata": dict(view.metadata),
    }
    if view.forked_from is not None:
        body["forked_from"] = {"session_id": view.forked_from[0], "version": view.forked_from[1]}
    if messages:
        body["messages"] = messages_json(view, view.tree.branch(), sliced=sliced)
    return body


def event_json(recorded: Recorded) -> dict[str, Any]:
    """One event as the history, the feed, the live streams and exports show it."""
    body: dict[str, Any] = {
        "position": recorded.position,
        "stream": recorded.stream,
        "seq": recorded.seq,
        "id": recorded.id,
        "type": recorded.type,
        "at": recorded.at,
        "data": event_data(recorded.event),
    }
    if recorded.meta:
        body["meta"] = dict(recorded.meta)
    return body


def session_pieces(view: SessionView) -> list[bytes]:
    """The session's JSON in pieces, made a slice at a time (bodies.py): for a long session,
    on a read thread or in the read process."""
    return json_pieces(session_json(view, sliced=True))


def settings_json(view: SettingsView) -> dict[str, Any]:
    return {key: getattr(view, key) for key in SETTINGS_KEYS}


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


# One token of an If-Match list (RFC 9110 §5.6.1, §8.8.3): optional whitespace, a comma, an
# entity-tag (its opaque part: visible characters but DQUOTE, and obs-text), or anything else.
_IF_MATCH_TOKEN = re.compile(
    r'(?P<space>[ \t]+)|(?P<comma>,)|(?P<weak>W/)?"(?P<opaque>[^"\x00-\x20\x7f]*)"|(?P<junk>.)',
    re.DOTALL,
)


def expected_version(request: web.Request) -> Expected:
    """The versions an `If-Match` header lets a write apply to (RFC 9110 §13.1.1).

    None (no condition) without the header or with `*`: every route that honours it acts on a
    session or the settings that exist, or answers 404 first. Otherwise the set of versions its
    strong entity tags name: a weak tag never matches under If-Match's strong comparison, and a
    tag that is no ETag this service gives out ("007", "abc") names no version. A header that is
    no list of entity tags at all names none either: the set is empty, and the write is 412 like
    any stale one, never applied unconditionally.
    """
    lines = request.headers.getall("If-Match", [])
    if not lines:
        return None
    header = ", ".join(lines)  # several header lines are one comma-separated list
    if header.strip(" \t") == "*":
        return None
    versions: set[int] = set()
    separated = True
    for token in _IF_MATCH_TOKEN.finditer(header):
        if token["junk"] is not None:
            return frozenset()
        if token["comma"] is not None:
            separated = True
        elif token["opaque"] is not None:
            if not separated:  # two tags with no comma between them
                return frozenset()
            separated = False
            opaque = token["opaque"]
            if token["weak"] is None and is_count(opaque) and str(int(opaque)) == opaque:
                versions.add(int(opaque))
    return frozenset(versions)
