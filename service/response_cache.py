"""The response cache: sessions' JSON bodies encoded once a version, list pages once a change."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

import orjson

from orion_events.domain.views import SessionView
from service.payloads import LONG_BODY, session_json

Page: TypeAlias = tuple[bytes, Mapping[str, str]]  # a list page's body and headers
Owners: TypeAlias = tuple[str | None, ...] | None  # whose sessions a page lists (None: all)


class ResponseCache:
    """A cache of response bodies: those of recently read sessions and of their summaries, by id
    and version, and of list pages.

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
        # by limit, cursor and whose sessions (None: everyone's, without users)
        self._pages: dict[tuple[int | None, str | None, Owners], Page] = {}
        self._pages_at = -1  # the store's list_changes the kept pages were read at

    def page(
        self, changes: int, limit: int | None, cursor: str | None, owners: Owners = None
    ) -> Page | None:
        """A list page as read while the list stood at `changes`, if one was kept: clients poll
        the first page far more often than anything changes."""
        if changes != self._pages_at:
            return None
        return self._pages.get((limit, cursor, owners))

    def keep_page(
        self,
        changes: int,
        limit: int | None,
        cursor: str | None,
        body: bytes,
        headers: Mapping[str, str],
        owners: Owners = None,
    ) -> Page:
        if changes != self._pages_at:
            self._pages.clear()
            self._pages_at = changes
        if len(self._pages) >= 64:  # one list, many cursors: keep the newest few
            self._pages.pop(next(iter(self._pages)))
        page = self._pages[(limit, cursor, owners)] = (body, headers)
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
