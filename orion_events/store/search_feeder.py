"""Keeping the search index current: built in the background after start-up, then fed the
events the store commits, never on a write's path."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterable

from orion_events.domain.events import Recorded
from orion_events.domain.views import SessionView
from orion_events.indexes.search import SearchIndex, SearchPage
from orion_events.store.history import History

_INDEX_SLICE = 2000  # messages indexed between yields to the event loop while building


class SearchFeeder:
    def __init__(self, history: History, *, enabled: bool = True) -> None:
        """Not `enabled`: no index is built or fed (a command's store that never searches)."""
        self._history = history
        self._enabled = enabled
        self.index = SearchIndex()
        # Committed events wait here to be indexed: until the index is built (in the background
        # after start-up; searches wait for the build), and then until the writers that
        # committed them have answered, so no write waits on indexing. A search indexes what
        # waits first, so it always finds what was written before it.
        self._backlog: list[Recorded] = []
        self._soon: asyncio.Handle | None = None
        self._ready = asyncio.Event()
        self._builder: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self, views: list[SessionView]) -> None:
        if not self._enabled:
            return
        self._builder = asyncio.create_task(self._build(views))

    def stop(self) -> None:
        if self._builder is not None:
            self._builder.cancel()

    def committed(self, records: Iterable[Recorded]) -> None:
        """Events of sessions that are now durable, to index."""
        if self._enabled:
            self._backlog.extend(records)

    async def search(
        self,
        query: str,
        *,
        limit: int,
        offset: int,
        visible: Callable[[str], bool] | None = None,
    ) -> SearchPage:
        await self._ready.wait()
        self._index_backlog()
        return self.index.search(query, limit=limit, offset=offset, visible=visible)

    def index_soon(self) -> None:
        """Index the backlog once what is queued on the loop now (the answers) has run."""
        if self._soon is None and self._backlog and self._ready.is_set():
            self._soon = asyncio.get_running_loop().call_soon(self._index_backlog)

    def _index_backlog(self) -> None:
        if self._soon is not None:  # a search came first: it does the work now
            self._soon.cancel()
            self._soon = None
        backlog, self._backlog = self._backlog, []
        for recorded in backlog:
            self.index.apply(recorded)

    async def _build(self, views: list[SessionView]) -> None:
        """Index the sessions as they stood at start-up, a slice at a time so requests are
        served meanwhile, then the events committed since, and keep current from then on."""
        indexed = 0
        for view in views:
            if view.messages is None:  # cold: its messages as they were at start-up
                replayed = await self._history.session(view.id, upto=view.version)
                assert replayed is not None
                view = replayed
            self.index.add_view(view)
            indexed += view.message_count + 1
            if indexed >= _INDEX_SLICE:
                indexed = 0
                await asyncio.sleep(0)
        self._index_backlog()
        # The index's long-lived objects (a posting per term, one per session: tens of
        # thousands, its messages being numbers in arrays) out of later full collections,
        # which would otherwise rescan them every time.
        gc.freeze()
        self._ready.set()
