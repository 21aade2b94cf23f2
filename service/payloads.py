"""What a request says beyond its body (path ids, integer parameters, If-Match), and views out
(the API's JSON shapes)."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import orjson
from aiohttp import web

from orion_events.domain.errors import InvalidInput, SessionNotFound
from orion_events.domain.events import Recorded, event_data
from orion_events.domain.precondition import Expected
from orion_events.domain.streams import is_session_id
from orion_events.domain.views import SETTINGS_KEYS, MessageView, SessionView, SettingsView
from service.bodies import Mapped, json_pieces

JSON = "application/json"
# Messages: a longer session's body is encoded off the event loop (service/bodies.py).
LONG_BODY = 128


def session_id_of(request: web.Request, name: str = "session_id") -> str:
    """A path id; anything that is not a well-formed UUID is 404 and never reaches the disk."""
    raw = request.match_info[name]
    value = raw.lower()
    if not is_session_id(value):
        what = "session" if name == "session_id" else "message"
        raise SessionNotFound(f"no {what} {raw[:64]!r}")
    return value


MAX_DIGITS = 18  # every count here fits; longer strings are refused before int() sees them


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


def message_json(message: MessageView) -> dict[str, Any]:
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "timestamp": message.timestamp,
        "agent": message.agent,
        "model": message.model,
    }


def session_json(
    view: SessionView, *, messages: bool = True, sliced: bool = False
) -> dict[str, Any]:
    """The API's session; `sliced`: its messages as a Mapped, made as bodies.json_pieces
    encodes them, a slice at a time (for a long session, off the loop)."""
    body: dict[str, Any] = {
        "id": view.id,
        "title": view.title,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "version": view.version,
        "message_count": view.message_count,
        "metadata": dict(view.metadata),
    }
    if view.forked_from is not None:
        body["forked_from"] = {"session_id": view.forked_from[0], "version": view.forked_from[1]}
    if messages:
        if sliced:
            body["messages"] = Mapped(view.loaded_messages, message_json)
        else:
            body["messages"] = [message_json(m) for m in view.loaded_messages]
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


Page: TypeAlias = tuple[bytes, Mapping[str, str]]  # a list page's body and headers


class EncodedSessions:
    """The JSON bodies of recently read sessions and of their summaries, by id and version.

    Views never change (a write makes a new one, with a new version), so a body encoded once
    serves every read of that version. A list page is its summaries' bodies joined, so listing
    costs a lookup per session instead of building and encoding a dict per session on every
    request; and a page once joined is served as it is until the list changes at all. Only the
    most recently read few thousand of each are kept.
    """

    __slots__ = ("_bodies", "_pages", "_pages_at", "_size", "_summaries", "_summaries_size")

    def __init__(self, size: int = 512, summaries: int = 4096) -> None:
        self._size = size
        self._summaries_size = summaries
        self._bodies: OrderedDict[str, tuple[int, Sequence[bytes]]] = OrderedDict()
        self._summaries: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._pages: dict[tuple[int | None, str | None], Page] = {}
        self._pages_at = -1  # the store's list_changes the kept pages were read at

    def page(self, changes: int, limit: int | None, cursor: str | None) -> Page | None:
        """A list page as read while the list stood at `changes`, if one was kept: clients poll
        the first page far more often than anything changes."""
        if changes != self._pages_at:
            return None
        return self._pages.get((limit, cursor))

    def keep_page(
        self,
        changes: int,
        limit: int | None,
        cursor: str | None,
        body: bytes,
        headers: Mapping[str, str],
    ) -> Page:
        if changes != self._pages_at:
            self._pages.clear()
            self._pages_at = changes
        if len(self._pages) >= 64:  # one list, many cursors: keep the newest few
            self._pages.pop(next(iter(self._pages)))
        page = self._pages[(limit, cursor)] = (body, headers)
        return page

    def body(self, view: SessionView) -> Sequence[bytes] | None:
        """The session's body in pieces (service/bodies.py), encoded here if it is short; None
        for a long one not kept: the caller encodes it off the loop and `keep`s it."""
        cached = self._bodies.get(view.id)
        if cached is not None and cached[0] == view.version:
            self._bodies.move_to_end(view.id)
            return cached[1]
        if view.message_count > LONG_BODY:
            return None
        return self.keep(view, (orjson.dumps(session_json(view)),))

    def keep(self, view: SessionView, pieces: Sequence[bytes]) -> Sequence[bytes]:
        self._bodies[view.id] = (view.version, pieces)
        self._bodies.move_to_end(view.id)
        if len(self._bodies) > self._size:
            self._bodies.popitem(last=False)
        return pieces

    def summaries(self, views: Iterable[SessionView]) -> bytes:
        """The JSON array of these sessions' summaries, in order."""
        return b"[" + b",".join(self._summary(view) for view in views) + b"]"

    def _summary(self, view: SessionView) -> bytes:
        cache = self._summaries
        cached = cache.get(view.id)
        if cached is not None and cached[0] == view.version:
            cache.move_to_end(view.id)
            return cached[1]
        body = orjson.dumps(session_json(view, messages=False))
        cache[view.id] = (view.version, body)
        cache.move_to_end(view.id)
        if len(cache) > self._summaries_size:
            cache.popitem(last=False)
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
