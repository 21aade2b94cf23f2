"""Reads of sessions: as they stand (loading a cold one's messages), their events, and their
state at a version or an instant in the past."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from orion_events.domain.errors import SessionNotFound
from orion_events.domain.events import Recorded
from orion_events.domain.ids import parse_timestamp
from orion_events.domain.views import SessionView
from orion_events.store.current import CurrentViews
from orion_events.store.history import History, existed

T = TypeVar("T")


class SessionReads:
    def __init__(self, current: CurrentViews, history: History) -> None:
        self._current = current
        self._history = history

    async def loaded(self, session_id: str) -> SessionView:
        """A live session with its messages, read from its own log if it was cold."""
        current = self._current
        view = current.session(session_id)
        while view.messages is None:
            full = await self._history.session(session_id, upto=view.version)
            now = current.session(session_id)
            if full is not None and full.version == now.version:
                current.install(session_id, full)
                return full
            view = now  # written meanwhile: the writer made it hot, or read again
        current.touch(view)
        return view

    async def events(self, session_id: str, after: int, limit: int) -> list[Recorded]:
        """A session's events after seq `after`, in order; also for a deleted session."""
        self._current.known(session_id)
        return await self._history.events(session_id, after, limit)

    async def at(
        self, session_id: str, *, version: int | None = None, as_of: str | None = None
    ) -> SessionView:
        """The session exactly as it was at `version`, or at the instant `as_of` (RFC 3339)."""
        instant = self._instant(session_id, version, as_of)
        view = await self._history.session(session_id, upto=version, before=instant)
        if not existed(view):
            raise SessionNotFound(f"session {session_id} did not exist then")
        return view

    async def past(
        self,
        session_id: str,
        finish: Callable[[SessionView], T],
        *,
        version: int | None = None,
        as_of: str | None = None,
    ) -> tuple[int, T]:
        """`finish(view)` of the session as `at` finds it, and the view's version."""
        instant = self._instant(session_id, version, as_of)
        made = await self._history.past(session_id, finish, upto=version, before=instant)
        if made is None:
            raise SessionNotFound(f"session {session_id} did not exist then")
        return made

    def _instant(self, session_id: str, version: int | None, as_of: str | None) -> str | None:
        """Check a point in a session's past (a version it had; an RFC 3339 instant) and
        return the instant in the log's own form."""
        known = self._current.known(session_id)
        if version is not None and not 1 <= version <= known.version:
            raise SessionNotFound(f"session {session_id} has no version {version}")
        return None if as_of is None else parse_timestamp(as_of, field="as_of")
