"""Following a log that other replicas append to too (a shared PostgreSQL log): what they
commit is applied to this replica's views in global order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from orion_events.domain.errors import OrionError
from orion_events.domain.events import Recorded
from orion_events.domain.streams import USERS_STREAM
from orion_events.storage.port import EventLog, Followed
from orion_events.store.current import CurrentViews
from orion_events.store.folds import View, apply_event

log = logging.getLogger(__name__)

_FOLLOW_PAGE = 1000  # events a follower applies per read of a shared log
_FOLLOW_PAUSE = 0.5  # seconds before a follower tries again after the database failed

Advance = Callable[[str, View, Sequence[Recorded]], None]


class Follower:
    def __init__(
        self,
        event_log: EventLog,
        current: CurrentViews,
        advance: Advance,
        after_applying: Callable[[], None],
    ) -> None:
        self._log = event_log
        self._current = current
        self._advance = advance  # take a view that committed records brought about
        self._after_applying = after_applying

    def start(self, after: int) -> asyncio.Task[None]:
        """Follow the log from position `after` on, until the task is cancelled."""
        return asyncio.create_task(self._follow(after))

    async def _follow(self, after: int) -> None:
        """Apply, in global order, what other replicas append to the shared log."""
        while True:
            try:
                await self._log.wait_beyond(after)
                users = 0
                for recorded in await self._log.read_all(after, _FOLLOW_PAGE):
                    after = recorded.position
                    self._apply(recorded)
                    if recorded.stream == USERS_STREAM:
                        users = recorded.seq
                self._after_applying()
                if users and isinstance(self._log, Followed):
                    # a revocation through another replica waits for this: it is applied
                    await self._log.followed(USERS_STREAM, self._current.users.version)
            except OrionError as exc:  # the database is away: the next poll tries again
                log.warning("following the shared log: %s", exc.message)
                await asyncio.sleep(_FOLLOW_PAUSE)

    def _apply(self, recorded: Recorded) -> None:
        stream = recorded.stream
        view = self._current.view(stream)
        version = view.version if view is not None else 0
        if recorded.seq != version + 1:
            if recorded.seq > version + 1:  # cannot happen while positions follow commits
                log.error("%s: seq %d follows %d; the view is stale", stream, recorded.seq, version)
            return
        self._advance(stream, apply_event(stream, view, recorded), [recorded])

    async def catch_up(self, stream: str) -> None:
        """Apply what other replicas committed to `stream` that this one has not seen yet.

        Read from the log itself rather than awaited from the follower: the follower can lag
        under load, and deciding again on a view it has not brought up to date would only lose
        the same race again. What it brings later is skipped, each event counting once.
        """
        view = self._current.view(stream)
        for recorded in await self._log.read(stream, view.version if view is not None else 0):
            self._apply(recorded)
