"""The store: the one place sessions change and the one the service reads them from.

A façade over its collaborators: the views as they stand (current.py), start-up (startup.py),
the per-stream writer (writer.py) that the commands (commands.py) go through, reads of the
present and the past (session_reads.py), the list (listing.py), search (search_feeder.py),
snapshots (snapshot_taker.py), following a shared log (follower.py) and health (health.py).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from orion_events.domain.events import Recorded
from orion_events.domain.ids import new_id, utc_now
from orion_events.domain.streams import SETTINGS_STREAM
from orion_events.domain.views import SessionView, SettingsView
from orion_events.indexes.search import SearchPage
from orion_events.storage.port import EventLog, Shared
from orion_events.storage.readpool import ReadPool
from orion_events.store.accounts import Accounts
from orion_events.store.commands import Commands
from orion_events.store.current import CurrentViews
from orion_events.store.folds import View
from orion_events.store.follower import Follower
from orion_events.store.gc_policy import HeapKeeper
from orion_events.store.health import health_of
from orion_events.store.history import History
from orion_events.store.idempotency import NEW_SESSIONS, IdempotencyKey
from orion_events.store.listing import MAX_PAGE, Page, page_of
from orion_events.store.memory_budget import MessageBudget
from orion_events.store.search_feeder import SearchFeeder
from orion_events.store.session_reads import SessionReads
from orion_events.store.settings_commands import SettingsCommands
from orion_events.store.snapshot_taker import SnapshotTaker
from orion_events.store.startup import LoadReport, load
from orion_events.store.store_writes import StoreWrites
from orion_events.store.writer import StreamWriter

T = TypeVar("T")


FEED_SCAN = 1000  # events read at a time when a user's feed skips others' events


class Store(StoreWrites):
    def __init__(
        self,
        log: EventLog,
        *,
        clock: Callable[[], str] = utc_now,
        ids: Callable[[], str] = new_id,
        snapshot_events: int | None = 10_000,
        cache_bytes: int | None = None,
        search: bool = True,
    ) -> None:
        self._log = log
        self._history = History(log)
        self._heap = HeapKeeper()
        self._current = CurrentViews(None if cache_bytes is None else MessageBudget(cache_bytes))
        self._reads = SessionReads(self._current, self._history)
        self._search_feeder = SearchFeeder(self._history, enabled=search)
        self._snapshots = SnapshotTaker(log, self._current, snapshot_events)
        self._writer = StreamWriter(
            log,
            self._current,
            self._history,
            ids=ids,
            clock=clock,
            advance=self._advance,
            after_batch=self._after_batch,
        )
        self._commands = Commands(log, self._current, self._reads, self._writer, ids)
        self._settings_commands = SettingsCommands(log, self._current, self._writer)
        self._accounts = Accounts(self._current, self._writer, ids, log)
        self._follower: asyncio.Task[None] | None = None  # following a shared log

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> LoadReport:
        """Replay every log into the views. The cyclic GC is paused while millions of
        long-lived objects are made (it would rescan them again and again) and those objects
        are then frozen out of later collections."""
        gc.disable()
        try:
            report = await load(self._log, self._current)
            if report.from_snapshot:
                self._snapshots.position = self._log.last_position
            self._search_feeder.start(list(self._current.sessions.values()))
            if isinstance(self._log, Shared) and self._log.shared:
                index_soon = self._search_feeder.index_soon
                follower = Follower(self._log, self._current, self._advance, index_soon)
                self._writer.follower = follower
                self._follower = follower.start(self._log.last_position)
            return report
        finally:
            self._heap.start()
            gc.enable()

    async def close(self) -> None:
        """Let queued commands finish, snapshot what changed, then close the log."""
        self._search_feeder.stop()
        if self._follower is not None:
            self._follower.cancel()
        await self._writer.drain()
        await self._snapshots.close()
        await asyncio.to_thread(self._history.close)  # waits for a long read under way
        await self._log.close()
        self._heap.stop()

    async def write_snapshot(self) -> Path | None:
        """Snapshot the views as they stand: every view whose log has nothing in flight."""
        return await self._snapshots.write()

    # -- what committed events change -----------------------------------------------------------

    def _advance(self, stream: str, view: View, records: Sequence[Recorded]) -> None:
        """Take `view`, which committed `records` brought about, counting each event once
        (writer.py and follower.py both bring them, on a shared log)."""
        fresh = self._current.advance(stream, view, records)
        if fresh:
            self._heap.appended(len(fresh))
            if stream != SETTINGS_STREAM:
                self._search_feeder.committed(fresh)

    def _after_batch(self) -> None:
        self._search_feeder.index_soon()
        self._snapshots.if_due()

    # -- reads --------------------------------------------------------------------------------

    def session(self, session_id: str) -> SessionView:
        return self._current.session(session_id)

    async def loaded(self, session_id: str) -> SessionView:
        """A live session with its messages, read from its own log if it was cold."""
        return await self._reads.loaded(session_id)

    @property
    def list_changes(self) -> int:
        """Grows whenever any page of `sessions()` could change: a view was installed (a
        summary or the order changed) or the store was loaded."""
        return self._current.list_changes

    def sessions(
        self,
        limit: int | None = None,
        cursor: str | None = None,
        owners: tuple[str | None, ...] | None = None,
    ) -> Page:
        """Live sessions, most recent activity first (ties by id), from after `cursor`: all,
        or those of `owners` (None among them: those made without users)."""
        return page_of(self._current, limit, cursor, owners)

    def view_of(self, session_id: str) -> SessionView | None:
        """The view of a session that exists or existed, if any: whose it is, for one."""
        return self._current.sessions.get(session_id)

    @property
    def reads(self) -> ReadPool:
        """The thread that whole-log work runs on, off the event loop (readpool.py): the log's
        reads, the store's replays, and whatever else costs as much as they do."""
        return self._log.reads

    async def history(self, session_id: str, after: int = 0, limit: int = 100) -> list[Recorded]:
        """A session's events after seq `after`, in order; also for a deleted session."""
        return await self._reads.events(session_id, after, limit)

    def known_version(self, session_id: str) -> int:
        """The version of a session that exists or existed (its history outlives a delete)."""
        return self._current.known(session_id).version

    async def session_at(
        self, session_id: str, *, version: int | None = None, as_of: str | None = None
    ) -> SessionView:
        """The session exactly as it was at `version`, or at the instant `as_of` (RFC 3339)."""
        return await self._reads.at(session_id, version=version, as_of=as_of)

    async def past(
        self,
        session_id: str,
        finish: Callable[[SessionView], T],
        *,
        version: int | None = None,
        as_of: str | None = None,
    ) -> tuple[int, T]:
        """`finish(view)` of the session as `session_at` finds it, and the view's version; a
        long fold and `finish` run in the read process (reads.History.past): `finish` must be
        a module's own function, and its result must pickle."""
        return await self._reads.past(session_id, finish, version=version, as_of=as_of)

    async def feed(
        self,
        after: int = 0,
        limit: int = 100,
        visible: Callable[[Recorded], bool] | None = None,
    ) -> list[Recorded]:
        """Every durable event of every log after global position `after`, in order; only
        those `visible` takes, when given (read on past the others until `limit` are found)."""
        if visible is None:
            return await self._log.read_all(after, limit)
        found: list[Recorded] = []
        while len(found) < limit:
            page = await self._log.read_all(after, max(limit, FEED_SCAN))
            if not page:
                break
            found += [recorded for recorded in page if visible(recorded)]
            after = page[-1].position
        return found[:limit]

    @property
    def last_position(self) -> int:
        return self._log.last_position

    async def wait_beyond(self, position: int) -> None:
        await self._log.wait_beyond(position)

    async def search(
        self,
        query: str,
        *,
        limit: int = 20,
        offset: int = 0,
        visible: Callable[[str], bool] | None = None,
    ) -> SearchPage:
        """Live sessions whose title or messages hold every word of `query`, best first (those
        whose id `visible` takes, when given)."""
        return await self._search_feeder.search(query, limit=limit, offset=offset, visible=visible)

    @property
    def settings(self) -> SettingsView:
        """The settings of the service without users (the first admin's once there are)."""
        return self._current.settings.shared

    def settings_of(self, user_id: str | None) -> SettingsView:
        """A user's settings (None: as `settings`)."""
        return self._current.settings.of(user_id)

    def health(self) -> dict[str, Any]:
        return health_of(self._log, self._current, self._search_feeder.ready)


__all__ = [
    "MAX_PAGE",
    "NEW_SESSIONS",
    "IdempotencyKey",
    "LoadReport",
    "Page",
    "Store",
]
