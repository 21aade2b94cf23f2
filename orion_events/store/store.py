"""Commands -> validated events -> the log -> views: the one place sessions change.

Each stream has at most one writer at a time. Commands queue per stream; the writer takes the
whole queue, checks each command against the view as it would stand after the ones before it,
appends all their events in one log append and, once that is durable, installs the new view and
answers every command. So concurrent requests to one session share one write and one fsync, seqs
never interleave or gap, a rejected command writes nothing, and readers never see a view ahead of
the disk. A command that would change nothing (SPEC §12) decides no events once its checks have
passed: nothing is appended, it is answered with the view as it stands, and no client's version
goes stale for it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gc
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import attrs
import orjson
from attrs import frozen

from orion_events.domain import rules as validation
from orion_events.domain.errors import (
    InvalidInput,
    OrionError,
    SessionNotFound,
    SessionReadOnly,
    VersionConflict,
)
from orion_events.domain.events import (
    Event,
    MessageAdded,
    MessageDeleted,
    MessageEdited,
    MessagesCleared,
    MetadataUpdated,
    Recorded,
    SessionCreated,
    SessionDeleted,
    SessionForked,
    SessionRenamed,
    SessionRestored,
    SettingsChanged,
    SettingsReset,
)
from orion_events.domain.ids import new_id, parse_timestamp, utc_now
from orion_events.domain.precondition import Expected, check_version
from orion_events.domain.projector import (
    RULES_VERSION,
    apply_session,
    apply_settings,
    replay_session,
    replay_settings,
)
from orion_events.domain.streams import OPERATIONS_STREAM, SETTINGS_STREAM, is_session_id
from orion_events.domain.views import MessageView, SessionView, SettingsView
from orion_events.indexes.search import SearchIndex, SearchPage
from orion_events.storage.files.durable import DEFAULT_IO
from orion_events.storage.port import EventLog, LoadedStream, Resume
from orion_events.storage.readpool import ReadPool
from orion_events.store import snapshot
from orion_events.store.gc_policy import HeapKeeper
from orion_events.store.history import History, fork_messages
from orion_events.store.idempotency import (
    NEW_SESSIONS,
    IdempotencyKey,
    Keys,
    earlier_answer,
    keys_in,
)
from orion_events.store.memory_budget import MessageBudget
from orion_events.store.session_order import SessionOrder

log = logging.getLogger(__name__)
T = TypeVar("T")

View: TypeAlias = SessionView | SettingsView | None
Decide: TypeAlias = Callable[[Any], Sequence[Event]]
MAX_PAGE = 1000
_INDEX_SLICE = 2000  # messages indexed between yields to the event loop while building
_FOLLOW_PAGE = 1000  # events a follower applies per read of a shared log
_FOLLOW_PAUSE = 0.5  # seconds before a follower tries again after the database failed
# What folding a log whose lines all pass their checks can still raise: an event of the wrong
# type or out of place (CorruptLog), or data the views do not take (unknown setting, missing
# message field). At start-up each is damage to serve read-only, never a reason not to start.
_UNFOLDABLE = (OrionError, LookupError, TypeError, ValueError)


def _why(exc: Exception) -> str:
    """What a log's replay stopped at, for health and the start-up report."""
    return exc.message if isinstance(exc, OrionError) else f"{type(exc).__name__}: {exc}"


@frozen
class LoadReport:
    sessions: int
    events: int
    seconds: float
    cut_tails: dict[str, str]
    damaged: dict[str, str]
    from_snapshot: bool = False  # views came from a snapshot and only the logs' tails were read


@frozen
class Page:
    sessions: list[SessionView]
    next_cursor: str | None


@frozen
class _Replay:
    """The answer to a retried request: the view its original events produced."""

    stream: str
    seq: int


@frozen
class _Command:
    decide: Decide
    answer: asyncio.Future[Any]
    key: IdempotencyKey | None = None


class Store:
    def __init__(
        self,
        log: EventLog,
        *,
        clock: Callable[[], str] = utc_now,
        ids: Callable[[], str] = new_id,
        snapshot_events: int | None = 10_000,
        cache_bytes: int | None = None,
    ) -> None:
        self._log = log
        self._history = History(log)
        self._clock = clock
        self._ids = ids
        self._sessions: dict[str, SessionView] = {}
        self._settings = SettingsView()
        self._read_only: dict[str, str] = {}
        self._queues: dict[str, list[_Command]] = {}
        self._writers: set[asyncio.Task[None]] = set()
        self._keys: Keys = {}
        self._new_session_keys = asyncio.Lock()
        self._search = SearchIndex()
        # Committed events wait here to be indexed: until the index is built (in the background
        # after start-up; searches wait for the build), and then until the writers that
        # committed them have answered, so no write waits on indexing. A search indexes what
        # waits first, so it always finds what was written before it.
        self._search_backlog: list[Recorded] = []
        self._search_soon: asyncio.Handle | None = None
        self._search_ready = asyncio.Event()
        self._indexer: asyncio.Task[None] | None = None
        self._snapshotter: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._snapshot_position = 0  # the last position the newest snapshot covers
        # A snapshot in the background every this many events (None: only at a clean stop).
        self._snapshot_events = snapshot_events
        self._events = 0
        self._heap = HeapKeeper()
        self._order = SessionOrder()
        self._list_changes = 0
        # With a budget, only the recently used sessions keep their messages in memory.
        self._budget = None if cache_bytes is None else MessageBudget(cache_bytes)

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> LoadReport:
        """Replay every log into the views. The cyclic GC is paused while millions of
        long-lived objects are made (it would rescan them again and again) and those objects
        are then frozen out of later collections."""
        gc.disable()
        try:
            return await self._load()
        finally:
            self._heap.start()
            gc.enable()

    async def _load(self) -> LoadReport:
        started = time.perf_counter()
        cut_tails: dict[str, str] = {}
        events = 0
        directory = self._log.snapshot_dir
        found = await asyncio.to_thread(snapshot.read, directory) if directory else None
        resume: Resume | None = None
        base: dict[str, SessionView] = {}
        keys: Keys = {}
        if found is not None and found.rules != RULES_VERSION:
            rules = (found.rules, RULES_VERSION)
            log.info("the snapshot was folded under rules %d, not %d: replaying every log", *rules)
            resume = Resume(found.marks, found.feed, found.position, whole=True)
        elif found is not None:
            resume = Resume(found.marks, found.feed, found.position)
            base = {view.id: view for view in found.sessions}
        resumed = False

        def fold(stream: LoadedStream) -> None:
            # On the log's loader thread while nothing else touches the store: each log is
            # folded into its view as soon as it is read, and its events are then dropped.
            nonlocal events, resumed
            events += len(stream.records) + stream.resumed_after
            if stream.resumed_after:
                resumed = True
            if stream.cut_tail is not None:
                cut_tails[stream.stream] = stream.cut_tail.describe()
            if stream.damage is not None:
                self._read_only[stream.stream] = stream.damage.describe()
            keys_in(stream.records, keys)
            if stream.stream == SETTINGS_STREAM:
                start = found.settings if found and stream.resumed_after else SettingsView()
                self._settings = self._fold_settings(stream.records, start)
                return
            if stream.stream == OPERATIONS_STREAM:
                return
            try:
                view = replay_session(
                    stream.records, base[stream.stream] if stream.resumed_after else None
                )
            except _UNFOLDABLE as exc:
                # What the log itself found (loss, a line out of place) says more.
                self._read_only.setdefault(stream.stream, _why(exc))
                log.error("session %s cannot be replayed: %s", stream.stream, _why(exc))
                return
            if view is not None:
                if self._budget is not None and view.messages is not None:
                    # Under a budget every session starts cold; use makes them hot.
                    view = attrs.evolve(view, messages=None)
                self._sessions[stream.stream] = view

        await self._log.open(fold, resume)
        # Keys from the snapshot stand only if the logs still extend it.
        self._keys = {**found.keys, **keys} if found is not None and resumed else keys
        self._events = events
        self._order = SessionOrder(list(self._sessions.values()))
        self._list_changes += 1
        self._snapshot_position = self._log.last_position if resumed else 0
        self._indexer = asyncio.create_task(self._build_search(list(self._sessions.values())))
        if getattr(self._log, "shared", False):
            self._follower = asyncio.create_task(self._follow(self._log.last_position))
        return LoadReport(
            sessions=sum(1 for v in self._sessions.values() if not v.deleted),
            events=events,
            seconds=time.perf_counter() - started,
            cut_tails=cut_tails,
            damaged=dict(self._read_only),
            from_snapshot=resumed,
        )

    def _fold_settings(self, records: Sequence[Recorded], start: SettingsView) -> SettingsView:
        """The settings as of their last event the projector accepts.

        A line can pass its hash and chain and still not be a settings event the projector
        takes (another type, unknown keys): that is damage like any other, so the settings
        stay served as they stood before it and turn read-only, instead of stopping start-up.
        Folded event by event, not by replay_settings, to keep the view up to that line.
        """
        view = start
        for recorded in records:
            try:
                view = apply_settings(view, recorded)
            except _UNFOLDABLE as exc:
                why = f"seq {recorded.seq}: {_why(exc)}"
                self._read_only[SETTINGS_STREAM] = why
                log.error("the settings log cannot be replayed past %s; read-only", why)
                break
        return view

    async def close(self) -> None:
        """Let queued commands finish, snapshot what changed, then close the log."""
        if self._indexer is not None:
            self._indexer.cancel()
        if self._follower is not None:
            self._follower.cancel()
        while self._writers:
            await asyncio.gather(*self._writers, return_exceptions=True)
        if self._snapshotter is not None:
            # Awaited, not cancelled: its thread would go on writing the file the last
            # snapshot is about to be written to.
            await self._snapshotter
        if self._log.last_position > self._snapshot_position:
            try:
                await self.write_snapshot()
            except OSError as exc:  # derived data: a failed snapshot costs a slower start only
                log.warning("could not write a snapshot: %s", exc)
        await asyncio.to_thread(self._history.close)  # waits for a long read under way
        await self._log.close()
        self._heap.stop()

    async def write_snapshot(self) -> Path | None:
        """Snapshot the views as they stand: every view whose log has nothing in flight.

        Taken in one step on the event loop (views, marks and the feed index agree), written on
        a thread. A session with a write in flight is left out, and replayed in full next time.
        """
        directory = self._log.snapshot_dir
        if directory is None:
            return None
        if getattr(self._log, "has_loss", False):
            # The snapshot there is the evidence (its marks) of what the logs lost: a new one
            # would not hold it, and the next start would find nothing wrong.
            log.warning("no snapshot while the loss found at start-up stands (see health)")
            return None
        marks = dict(self._log.marks())
        sessions = []
        for stream, mark in list(marks.items()):
            view = self._sessions.get(stream)
            current = self._settings.version if stream == SETTINGS_STREAM else None
            if stream in (SETTINGS_STREAM, OPERATIONS_STREAM):
                if current is not None and current != mark.seq:
                    del marks[stream]
            elif view is None or view.version != mark.seq or stream in self._read_only:
                del marks[stream]
            else:
                sessions.append(view)
        taken = snapshot.Snapshot(
            position=self._log.last_position,
            marks=marks,
            sessions=sessions,
            settings=self._settings,
            keys=dict(self._keys),
            feed=self._log.feed_columns(),
            rules=RULES_VERSION,
        )
        # Through the log's I/O seam, where it has one, so a test sees (or fails) its syncs.
        io = getattr(self._log, "io", DEFAULT_IO)
        path = await asyncio.to_thread(snapshot.write, directory, taken, io)
        self._snapshot_position = taken.position
        return path

    def _snapshot_if_due(self) -> None:
        """Snapshot in the background once `snapshot_events` events came since the last one
        (SPEC §12), one at a time, and none while a loss found at start-up stands."""
        due = self._snapshot_events
        if due is None or self._log.snapshot_dir is None or getattr(self._log, "has_loss", False):
            return
        if self._snapshotter is not None and not self._snapshotter.done():
            return
        if self._log.last_position - self._snapshot_position >= due:
            self._snapshotter = asyncio.create_task(self._snapshot_in_background())

    async def _snapshot_in_background(self) -> None:
        try:
            await self.write_snapshot()
        except OSError as exc:  # derived data: a failed snapshot costs a slower start only
            log.warning("could not write a snapshot: %s", exc)

    # -- reads --------------------------------------------------------------------------------

    def session(self, session_id: str) -> SessionView:
        view = self._sessions.get(session_id)
        if view is None or view.deleted:
            raise SessionNotFound(f"no session {session_id}")
        return view

    async def loaded(self, session_id: str) -> SessionView:
        """A live session with its messages, read from its own log if it was cold."""
        view = self.session(session_id)
        while view.messages is None:
            full = await self._history.session(session_id, upto=view.version)
            current = self.session(session_id)
            if full is not None and full.version == current.version:
                self._install(session_id, full)
                return full
            view = current  # written meanwhile: the writer made it hot, or read again
        self._touch(view)
        return view

    def _touch(self, view: SessionView) -> None:
        """Note a hot view as the most recently used, and keep within the budget by making the
        least recently used sessions cold (their summaries stay)."""
        if self._budget is None or view.messages is None:
            return
        for session_id in self._budget.touch(view):
            current = self._sessions.get(session_id)
            if current is not None and current.messages is not None:
                self._sessions[session_id] = attrs.evolve(current, messages=None)

    def _known(self, session_id: str) -> SessionView:
        """A session that exists or existed: history stays readable after a delete."""
        view = self._sessions.get(session_id)
        if view is None:
            raise SessionNotFound(f"no session {session_id}")
        return view

    @property
    def list_changes(self) -> int:
        """Grows whenever any page of `sessions()` could change: a view was installed (a
        summary or the order changed) or the store was loaded."""
        return self._list_changes

    def sessions(self, limit: int | None = None, cursor: str | None = None) -> Page:
        """Live sessions, most recent activity first (ties by id), from after `cursor`."""
        after = None if cursor is None else _decode_cursor(cursor)
        ids, more = self._order.page(limit, after)
        page = [self._sessions[session_id] for session_id in ids]
        return Page(page, _encode_cursor(page[-1]) if more and page else None)

    @property
    def reads(self) -> ReadPool:
        """The thread that whole-log work runs on, off the event loop (readpool.py): the log's
        reads, the store's replays, and whatever else costs as much as they do."""
        return self._log.reads

    async def history(self, session_id: str, after: int = 0, limit: int = 100) -> list[Recorded]:
        """A session's events after seq `after`, in order; also for a deleted session."""
        self._known(session_id)
        return await self._history.events(session_id, after, limit)

    def known_version(self, session_id: str) -> int:
        """The version of a session that exists or existed (its history outlives a delete)."""
        return self._known(session_id).version

    async def session_at(
        self, session_id: str, *, version: int | None = None, as_of: str | None = None
    ) -> SessionView:
        """The session exactly as it was at `version`, or at the instant `as_of` (RFC 3339)."""
        instant = self._instant(session_id, version, as_of)
        view = await self._history.session(session_id, upto=version, before=instant)
        if view is None or view.deleted:
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
        """`finish(view)` of the session as `session_at` finds it, and the view's version; a
        long fold and `finish` run in the read process (reads.History.past): `finish` must be
        a module's own function, and its result must pickle."""
        instant = self._instant(session_id, version, as_of)
        made = await self._history.past(session_id, finish, upto=version, before=instant)
        if made is None:
            raise SessionNotFound(f"session {session_id} did not exist then")
        return made

    def _instant(self, session_id: str, version: int | None, as_of: str | None) -> str | None:
        """Check a point in a session's past (a version it had; an RFC 3339 instant) and
        return the instant in the log's own form."""
        current = self._known(session_id)
        if version is not None and not 1 <= version <= current.version:
            raise SessionNotFound(f"session {session_id} has no version {version}")
        return None if as_of is None else parse_timestamp(as_of, field="as_of")

    async def feed(self, after: int = 0, limit: int = 100) -> list[Recorded]:
        """Every durable event of every log after global position `after`, in order."""
        return await self._log.read_all(after, limit)

    @property
    def last_position(self) -> int:
        return self._log.last_position

    async def wait_beyond(self, position: int) -> None:
        await self._log.wait_beyond(position)

    async def search(self, query: str, *, limit: int = 20, offset: int = 0) -> SearchPage:
        """Live sessions whose title or messages hold every word of `query`, best first."""
        await self._search_ready.wait()
        self._index_backlog()
        return self._search.search(query, limit=limit, offset=offset)

    async def _build_search(self, views: list[SessionView]) -> None:
        """Index the sessions as they stood at start-up, a slice at a time so requests are
        served meanwhile, then the events committed since, and keep current from then on."""
        indexed = 0
        for view in views:
            if view.messages is None:  # cold: its messages as they were at start-up
                replayed = await self._history.session(view.id, upto=view.version)
                assert replayed is not None
                view = replayed
            self._search.add_view(view)
            indexed += view.message_count + 1
            if indexed >= _INDEX_SLICE:
                indexed = 0
                await asyncio.sleep(0)
        self._index_backlog()
        # The index's long-lived objects (a posting per term, one per session: tens of
        # thousands, its messages being numbers in arrays) out of later full collections,
        # which would otherwise rescan them every time.
        gc.freeze()
        self._search_ready.set()

    @property
    def settings(self) -> SettingsView:
        return self._settings

    def health(self) -> dict[str, Any]:
        failed: dict[str, str] = getattr(self._log, "failed", dict)()
        budget = self._budget
        problems = {**self._read_only, **failed}
        return {
            "status": "degraded" if problems else "ok",
            "sessions": sum(1 for v in self._sessions.values() if not v.deleted),
            "events": self._events,
            "last_position": self._log.last_position,
            "search": "ready" if self._search_ready.is_set() else "building",
            "cache": {
                "budget_bytes": None if budget is None else budget.budget,
                "hot_sessions": None if budget is None else budget.hot_sessions,
                "hot_bytes": None if budget is None else budget.hot_bytes,
            },
            "read_only_sessions": sorted(problems),
            "problems": problems,
        }

    # -- session commands ---------------------------------------------------------------------

    async def create_session(
        self, title: Any = None, metadata: Any = None, *, idempotency_key: str | None = None
    ) -> SessionView:
        event = SessionCreated(
            title=None if title is None else validation.title(title),
            metadata={} if metadata is None else validation.metadata(metadata),
        )
        key = IdempotencyKey.of(
            NEW_SESSIONS, idempotency_key, "create", event.title, event.metadata
        )
        return await self._new_session(lambda view: [event], key)

    async def fork_session(
        self,
        session_id: str,
        *,
        message_id: Any = None,
        version: Any = None,
        title: Any = None,
        expected_version: Expected = None,
        idempotency_key: str | None = None,
    ) -> SessionView:
        """A new session holding the messages up to `message_id` (inclusive) or `version`.

        `expected_version` (If-Match) is the source's: fork only what the client has seen.
        """
        if message_id is not None and version is not None:
            raise InvalidInput("give message_id or version, not both", field="version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise InvalidInput("version must be an integer", field="version")
        if message_id is not None and not isinstance(message_id, str):
            raise InvalidInput("message_id must be a string", field="message_id")
        new_title = None if title is None else validation.title(title)
        source = await self.loaded(session_id)
        check_version(expected_version, source.version, f"session {session_id}")
        if version is not None:
            source = await self.session_at(session_id, version=version)
        assert source.messages is not None
        size = len(source.messages)
        messages = await self.reads.run(fork_messages, source.messages, message_id, size=size)
        if messages is None:
            raise SessionNotFound(f"no message {message_id} in session {session_id}")
        event = SessionForked(
            title=new_title or source.title,
            title_source="client" if new_title else source.title_source,
            metadata=dict(source.metadata),
            messages=messages,
            source_session=session_id,
            source_version=source.version,
        )
        key = IdempotencyKey.of(
            NEW_SESSIONS, idempotency_key, "fork", session_id, message_id, version, new_title
        )
        return await self._new_session(lambda view: [event], key)

    async def _new_session(self, decide: Decide, key: IdempotencyKey | None) -> SessionView:
        session_id = self._ids()

        def first(view: View) -> Sequence[Event]:
            if view is not None:
                raise VersionConflict(f"session {session_id} exists")
            return decide(view)

        if key is None:
            return await self._write_session(session_id, first)
        # A keyed create has no session to serialise on yet: one lock makes the key check and
        # the write atomic, so two concurrent retries create one session.
        async with self._new_session_keys:
            return await self._write_session(session_id, first, key)

    async def update_session(
        self,
        session_id: str,
        *,
        title: Any = None,
        metadata: Any = None,
        expected_version: Expected = None,
    ) -> SessionView:
        new_title = None if title is None else validation.title(title)
        new_metadata = None if metadata is None else validation.metadata(metadata)

        def decide(view: View) -> Sequence[Event]:
            self._check_live(session_id, view, expected_version)
            assert isinstance(view, SessionView)
            events: list[Event] = []
            # The default title is the first user message's to replace, so naming a session
            # "New Chat" changes something: it pins that title.
            if new_title is not None and (
                new_title != view.title or view.title_source == "default"
            ):
                events.append(SessionRenamed(new_title))
            if new_metadata is not None and new_metadata != dict(view.metadata):
                events.append(MetadataUpdated(new_metadata))
            return events

        return await self._write_session(session_id, decide)

    async def delete_session(self, session_id: str, *, expected_version: Expected = None) -> None:
        def decide(view: View) -> Sequence[Event]:
            self._check_live(session_id, view, expected_version)
            return [SessionDeleted()]

        await self._write_session(session_id, decide)

    async def restore_session(
        self,
        session_id: str,
        *,
        expected_version: Expected = None,
        idempotency_key: str | None = None,
    ) -> SessionView:
        """Undo a delete."""

        def decide(view: View) -> Sequence[Event]:
            self._check_writable(session_id, view, expected_version)
            assert isinstance(view, SessionView)
            if not view.deleted:
                raise VersionConflict(f"session {session_id} is not deleted")
            return [SessionRestored()]

        key = IdempotencyKey.of(session_id, idempotency_key, "restore")
        return await self._write_session(session_id, decide, key)

    async def add_message(
        self,
        session_id: str,
        *,
        role: Any,
        content: Any,
        agent: Any = None,
        model: Any = None,
        expected_version: Expected = None,
        idempotency_key: str | None = None,
    ) -> SessionView:
        """Append a message; the returned view's last message is the one added."""
        event = MessageAdded(
            message_id=self._ids(),
            role=validation.role(role),
            content=validation.content(content),
            agent=validation.optional_name(agent, "agent"),
            model=validation.optional_name(model, "model"),
        )
        key = IdempotencyKey.of(
            session_id,
            idempotency_key,
            "message",
            event.role,
            event.content,
            event.agent,
            event.model,
        )

        def decide(view: View) -> Sequence[Event]:
            self._check_live(session_id, view, expected_version)
            return [event]

        return await self._write_session(session_id, decide, key)

    async def edit_message(
        self,
        session_id: str,
        message_id: str,
        *,
        content: Any,
        expected_version: Expected = None,
    ) -> SessionView:
        """Change a message's content; the old text stays in the log."""
        event = MessageEdited(message_id, validation.content(content))

        def decide(view: View) -> Sequence[Event]:
            message = self._check_message(session_id, view, message_id, expected_version)
            return [] if message.content == event.content else [event]

        return await self._write_session(session_id, decide)

    async def delete_message(
        self, session_id: str, message_id: str, *, expected_version: Expected = None
    ) -> SessionView:
        def decide(view: View) -> Sequence[Event]:
            self._check_message(session_id, view, message_id, expected_version)
            return [MessageDeleted(message_id)]

        return await self._write_session(session_id, decide)

    async def clear_messages(
        self, session_id: str, *, expected_version: Expected = None
    ) -> SessionView:
        def decide(view: View) -> Sequence[Event]:
            self._check_live(session_id, view, expected_version)
            assert isinstance(view, SessionView)
            return [MessagesCleared()] if view.message_count else []

        return await self._write_session(session_id, decide)

    def _check_writable(self, session_id: str, view: View, expected_version: Expected) -> None:
        if session_id in self._read_only:
            raise SessionReadOnly(
                f"session {session_id} is read-only: its log is damaged "
                f"({self._read_only[session_id]})"
            )
        if not isinstance(view, SessionView):
            raise SessionNotFound(f"no session {session_id}")
        check_version(expected_version, view.version, f"session {session_id}")

    def _check_live(self, session_id: str, view: View, expected_version: Expected) -> None:
        # A deleted session is not found, whatever version the client thinks it is at.
        if isinstance(view, SessionView) and view.deleted and session_id not in self._read_only:
            raise SessionNotFound(f"no session {session_id}")
        self._check_writable(session_id, view, expected_version)

    def _check_message(
        self, session_id: str, view: View, message_id: str, expected_version: Expected
    ) -> MessageView:
        """The live message that a write to it is decided on."""
        self._check_live(session_id, view, expected_version)
        assert isinstance(view, SessionView)
        assert view.messages is not None
        index = view.messages.index_of(message_id)
        if index is None:
            raise SessionNotFound(f"no message {message_id} in session {session_id}")
        return view.messages[index]

    # -- settings commands --------------------------------------------------------------------

    async def change_settings(
        self, changes: Any, *, expected_version: Expected = None
    ) -> SettingsView:
        checked = validation.settings_changes(changes)

        def decide(view: View) -> Sequence[Event]:
            self._check_settings(view, expected_version)
            assert isinstance(view, SettingsView)
            actual = {k: v for k, v in checked.items() if getattr(view, k) != v}
            return [SettingsChanged(actual)] if actual else []

        return await self._write_settings(decide)

    async def reset_settings(
        self, *, expected_version: Expected = None, idempotency_key: str | None = None
    ) -> SettingsView:
        key = IdempotencyKey.of(SETTINGS_STREAM, idempotency_key, "reset")

        def decide(view: View) -> Sequence[Event]:
            self._check_settings(view, expected_version)
            return [SettingsReset()]

        return await self._write_settings(decide, key)

    def _check_settings(self, view: View, expected_version: Expected) -> None:
        """If-Match on settings: the settings log's version (0 before its first event)."""
        # The log refuses appends after damage it found itself; damage only the projector saw
        # (see _fold_settings) is known here alone.
        if SETTINGS_STREAM in self._read_only:
            raise SessionReadOnly(
                f"the settings are read-only: their log is damaged "
                f"({self._read_only[SETTINGS_STREAM]})"
            )
        assert isinstance(view, SettingsView)
        check_version(expected_version, view.version, "the settings")

    # -- idempotency --------------------------------------------------------------------------

    def _replay_for(self, key: IdempotencyKey) -> _Replay | None:
        found = earlier_answer(self._keys, key)
        return None if found is None else _Replay(found[0], found[1])

    # -- following a shared log ---------------------------------------------------------------

    def _advance(self, stream: str, view: View, records: Sequence[Recorded]) -> None:
        """Take `view`, which committed `records` brought about, unless the stream is already
        that far: on a shared log, a replica's own appends reach it through both its writer and
        its follower, and each event must count (and be indexed) once."""
        current = self._view(stream)
        fresh = [r for r in records if r.seq > (current.version if current is not None else 0)]
        if not fresh:
            return
        self._install(stream, view)
        self._events += len(fresh)
        self._heap.appended(len(fresh))
        keys_in(fresh, self._keys)
        if stream != SETTINGS_STREAM:
            self._search_backlog.extend(fresh)

    def _index_soon(self) -> None:
        """Index the backlog once what is queued on the loop now (the answers) has run."""
        if self._search_soon is None and self._search_backlog and self._search_ready.is_set():
            self._search_soon = asyncio.get_running_loop().call_soon(self._index_backlog)

    def _index_backlog(self) -> None:
        if self._search_soon is not None:  # a search came first: it does the work now
            self._search_soon.cancel()
            self._search_soon = None
        backlog, self._search_backlog = self._search_backlog, []
        for recorded in backlog:
            self._search.apply(recorded)

    async def _follow(self, after: int) -> None:
        """Apply, in global order, what other replicas append to the shared log."""
        while True:
            try:
                await self._log.wait_beyond(after)
                for recorded in await self._log.read_all(after, _FOLLOW_PAGE):
                    after = recorded.position
                    self._apply_shared(recorded)
                self._index_soon()
            except OrionError as exc:  # the database is away: the next poll tries again
                log.warning("following the shared log: %s", exc.message)
                await asyncio.sleep(_FOLLOW_PAUSE)

    def _apply_shared(self, recorded: Recorded) -> None:
        stream = recorded.stream
        if stream == OPERATIONS_STREAM:
            return
        view = self._view(stream)
        version = view.version if view is not None else 0
        if recorded.seq != version + 1:
            if recorded.seq > version + 1:  # cannot happen while positions follow commits
                log.error("%s: seq %d follows %d; the view is stale", stream, recorded.seq, version)
            return
        if stream == SETTINGS_STREAM:
            assert isinstance(view, SettingsView)
            self._advance(stream, apply_settings(view, recorded), [recorded])
        else:
            assert view is None or isinstance(view, SessionView)
            self._advance(stream, apply_session(view, recorded), [recorded])

    async def _catch_up(self, stream: str) -> None:
        """Apply what other replicas committed to `stream` that this one has not seen yet.

        Read from the log itself rather than awaited from the follower: the follower can lag
        under load, and deciding again on a view it has not brought up to date would only lose
        the same race again. What it brings later is skipped, each event counting once.
        """
        view = self._view(stream)
        for recorded in await self._log.read(stream, view.version if view is not None else 0):
            self._apply_shared(recorded)

    # -- the per-stream writer ----------------------------------------------------------------

    def _view(self, stream: str) -> View:
        return self._settings if stream == SETTINGS_STREAM else self._sessions.get(stream)

    def _install(self, stream: str, view: View) -> None:
        if isinstance(view, SettingsView):
            self._settings = view
        elif view is not None:
            self._sessions[stream] = view
            self._order.update(view)
            self._list_changes += 1
            self._touch(view)

    async def _write_session(
        self, session_id: str, decide: Decide, key: IdempotencyKey | None = None
    ) -> SessionView:
        if not is_session_id(session_id):
            raise SessionNotFound(f"no session {session_id}")
        result = await self._submit(session_id, _Command(decide, self._future(), key))
        if isinstance(result, _Replay):
            return await self.session_at(result.stream, version=result.seq)
        assert isinstance(result, SessionView)
        return result

    async def _write_settings(
        self, decide: Decide, key: IdempotencyKey | None = None
    ) -> SettingsView:
        result = await self._submit(SETTINGS_STREAM, _Command(decide, self._future(), key))
        if isinstance(result, _Replay):  # a retry: the settings as the first request left them
            return replay_settings(await self._log.read(SETTINGS_STREAM, 0, result.seq))
        assert isinstance(result, SettingsView)
        return result

    @staticmethod
    def _future() -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, stream: str, command: _Command) -> Any:
        queue = self._queues.get(stream)
        if queue is None:
            queue = self._queues[stream] = []
            writer = asyncio.create_task(self._write(stream, queue))
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        queue.append(command)
        return await command.answer

    async def _write(self, stream: str, queue: list[_Command]) -> None:
        try:
            while queue:
                batch = queue[:]
                del queue[:]
                await self._write_batch(stream, batch)
                self._index_soon()  # after the batch's answers, which are queued already
                self._snapshot_if_due()
        finally:
            del self._queues[stream]

    async def _write_batch(self, stream: str, batch: list[_Command], attempt: int = 0) -> None:
        view = self._view(stream)
        if isinstance(view, SessionView) and view.messages is None:
            # Cold: decide on the whole session. This writer alone appends to the stream, so
            # its log holds exactly this view's events.
            view = await self._history.session(stream)
            self._install(stream, view)
        records: list[Recorded] = []
        outcomes: list[tuple[_Command, BaseException | None, Any]] = []
        new_keys: list[tuple[str, str]] = []
        apply = apply_settings if stream == SETTINGS_STREAM else apply_session
        for command in batch:
            try:
                replay = self._replay_for(command.key) if command.key else None
                if replay is not None:
                    outcomes.append((command, None, replay))
                    continue
                events = command.decide(view)
                after, added = view, []
                for n, event in enumerate(events):
                    seq = (after.version if after is not None else 0) + 1
                    meta = command.key.meta if command.key and n == 0 else None
                    recorded = Recorded(stream, seq, self._ids(), self._clock(), event, 0, meta)
                    after = apply(after, recorded)  # type: ignore[arg-type]
                    added.append(recorded)
            except Exception as exc:  # the command's caller gets its own failure
                outcomes.append((command, exc, None))
                continue
            if command.key and added:
                # Claimed now, so a retry later in this same batch replays instead of repeating.
                # A keyed command that changed nothing has no event to hold its key: its retry
                # is decided again, and answered with the view as it then stands.
                scope_key = (command.key.scope, command.key.key)
                self._keys[scope_key] = (stream, added[0].seq, command.key.fingerprint)
                new_keys.append(scope_key)
            view = after
            records.extend(added)
            outcomes.append((command, None, view))
        if records:
            try:
                written = await self._log.append(stream, records)
            except Exception as exc:  # every command of the batch shares the failure
                for scope_key in new_keys:
                    self._keys.pop(scope_key, None)
                lost_race = type(exc) is VersionConflict and self._follower is not None
                if lost_race and attempt < _CONFLICT_RETRIES:
                    # Another replica took this seq: take its events, then decide again, as
                    # one node would have after serialising the two (If-Match then says 412).
                    await self._catch_up(stream)
                    await self._write_batch(stream, batch, attempt + 1)
                    return
                outcomes = [(c, error or exc, v) for c, error, v in outcomes]
            else:
                self._advance(stream, view, written)
        for command, error, result in outcomes:
            if command.answer.done():
                continue
            if error is not None:
                command.answer.set_exception(error)
            else:
                command.answer.set_result(result)


# A write that lost its seq to another replica is decided again this often; each try reads the
# winners' events first, so only a session written through several replicas at once loses twice.
_CONFLICT_RETRIES = 10


def _encode_cursor(view: SessionView) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([view.updated_at, view.id])).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, session_id = orjson.loads(raw)
        if isinstance(updated_at, str) and isinstance(session_id, str):
            return updated_at, session_id
    except (binascii.Error, ValueError, TypeError):
        pass
    raise InvalidInput("cursor is not one this service gave out", field="cursor")


__all__ = [
    "MAX_PAGE",
    "NEW_SESSIONS",
    "IdempotencyKey",
    "LoadReport",
    "Page",
    "Store",
    "new_id",
    "utc_now",
]
