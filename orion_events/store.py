"""Commands -> validated events -> the log -> views: the one place sessions change.

Each stream has at most one writer at a time. Commands queue per stream; the writer takes the
whole queue, checks each command against the view as it would stand after the ones before it,
appends all their events in one log append and, once that is durable, installs the new view and
answers every command. So concurrent requests to one session share one write and one fsync, seqs
never interleave or gap, a rejected command writes nothing, and readers never see a view ahead of
the disk.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

import orjson
from attrs import frozen

from orion_events import validation
from orion_events.errors import (
    InvalidInput,
    OrionError,
    PreconditionFailed,
    SessionNotFound,
    SessionReadOnly,
    VersionConflict,
)
from orion_events.events import (
    Event,
    MessageAdded,
    MessagesCleared,
    MetadataUpdated,
    Recorded,
    SessionCreated,
    SessionDeleted,
    SessionRenamed,
    SettingsChanged,
    SettingsReset,
)
from orion_events.log import SETTINGS_STREAM, EventLog, is_session_id
from orion_events.projector import apply_session, apply_settings, replay_session, replay_settings
from orion_events.views import SessionView, SettingsView

log = logging.getLogger(__name__)

View: TypeAlias = SessionView | SettingsView | None
Decide: TypeAlias = Callable[[Any], Sequence[Event]]
MAX_PAGE = 1000


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    return str(uuid.uuid4())


@frozen
class LoadReport:
    sessions: int
    events: int
    seconds: float
    cut_tails: dict[str, str]
    damaged: dict[str, str]


@frozen
class Page:
    sessions: list[SessionView]
    next_cursor: str | None


class Store:
    def __init__(
        self,
        log: EventLog,
        *,
        clock: Callable[[], str] = utc_now,
        ids: Callable[[], str] = new_id,
    ) -> None:
        self._log = log
        self._clock = clock
        self._ids = ids
        self._sessions: dict[str, SessionView] = {}
        self._settings = SettingsView()
        self._read_only: dict[str, str] = {}
        self._queues: dict[str, list[tuple[Decide, asyncio.Future[Any]]]] = {}
        self._writers: set[asyncio.Task[None]] = set()
        self._events = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> LoadReport:
        started = time.perf_counter()
        loaded = await self._log.open()
        cut_tails: dict[str, str] = {}
        events = 0
        for stream in loaded:
            events += len(stream.records)
            if stream.cut_tail is not None:
                cut_tails[stream.stream] = stream.cut_tail.describe()
            if stream.damage is not None:
                self._read_only[stream.stream] = stream.damage.describe()
            if stream.stream == SETTINGS_STREAM:
                self._settings = replay_settings(stream.records)
                continue
            try:
                view = replay_session(stream.records)
            except OrionError as exc:
                self._read_only[stream.stream] = exc.message
                continue
            if view is not None:
                self._sessions[stream.stream] = view
        self._events = events
        return LoadReport(
            sessions=len(self._sessions),
            events=events,
            seconds=time.perf_counter() - started,
            cut_tails=cut_tails,
            damaged=dict(self._read_only),
        )

    async def close(self) -> None:
        """Let queued commands finish, then close the log."""
        while self._writers:
            await asyncio.gather(*self._writers, return_exceptions=True)
        await self._log.close()

    # -- reads --------------------------------------------------------------------------------

    def session(self, session_id: str) -> SessionView:
        view = self._sessions.get(session_id)
        if view is None or view.deleted:
            raise SessionNotFound(f"no session {session_id}")
        return view

    def sessions(self, limit: int | None = None, cursor: str | None = None) -> Page:
        """Live sessions, most recent activity first (ties by id), from after `cursor`."""
        live = [v for v in self._sessions.values() if not v.deleted]
        if cursor is not None:
            after_at, after_id = _decode_cursor(cursor)
            live = [
                v
                for v in live
                if v.updated_at < after_at or (v.updated_at == after_at and v.id > after_id)
            ]
        live.sort(key=lambda v: v.id)
        live.sort(key=lambda v: v.updated_at, reverse=True)
        if limit is None or len(live) <= limit:
            return Page(live, None)
        page = live[:limit]
        return Page(page, _encode_cursor(page[-1]))

    @property
    def settings(self) -> SettingsView:
        return self._settings

    def health(self) -> dict[str, Any]:
        failed: dict[str, str] = getattr(self._log, "failed", dict)()
        problems = {**self._read_only, **failed}
        return {
            "status": "degraded" if problems else "ok",
            "sessions": sum(1 for v in self._sessions.values() if not v.deleted),
            "events": self._events,
            "read_only_sessions": sorted(problems),
            "problems": problems,
        }

    # -- session commands ---------------------------------------------------------------------

    async def create_session(self, title: Any = None, metadata: Any = None) -> SessionView:
        event = SessionCreated(
            title=None if title is None else validation.title(title),
            metadata={} if metadata is None else validation.metadata(metadata),
        )
        session_id = self._ids()

        def decide(view: View) -> Sequence[Event]:
            if view is not None:
                raise VersionConflict(f"session {session_id} exists")
            return [event]

        return await self._write_session(session_id, decide)

    async def update_session(
        self,
        session_id: str,
        *,
        title: Any = None,
        metadata: Any = None,
        expected_version: int | None = None,
    ) -> SessionView:
        events: list[Event] = []
        if title is not None:
            events.append(SessionRenamed(validation.title(title)))
        if metadata is not None:
            events.append(MetadataUpdated(validation.metadata(metadata)))

        def decide(view: View) -> Sequence[Event]:
            self._check_live(session_id, view, expected_version)
            return events

        return await self._write_session(session_id, decide)

    async def delete_session(self, session_id: str, *, expected_version: int | None = None) -> None:
        def decide(view: View) -> Sequence[Event]:
            self._check_live(session_id, view, expected_version)
            return [SessionDeleted()]

        await self._write_session(session_id, decide)

    async def add_message(
        self,
        session_id: str,
        *,
        role: Any,
        content: Any,
        agent: Any = None,
        model: Any = None,
        expected_version: int | None = None,
    ) -> SessionView:
        """Append a message; the returned view's last message is the one added."""
        event = MessageAdded(
            message_id=self._ids(),
            role=validation.role(role),
            content=validation.content(content),
            agent=validation.optional_name(agent, "agent"),
            model=validation.optional_name(model, "model"),
        )

        def decide(view: View) -> Sequence[Event]:
            self._check_live(session_id, view, expected_version)
            return [event]

        return await self._write_session(session_id, decide)

    async def clear_messages(
        self, session_id: str, *, expected_version: int | None = None
    ) -> SessionView:
        def decide(view: View) -> Sequence[Event]:
            self._check_live(session_id, view, expected_version)
            return [MessagesCleared()]

        return await self._write_session(session_id, decide)

    def _check_live(self, session_id: str, view: View, expected_version: int | None) -> None:
        if session_id in self._read_only:
            raise SessionReadOnly(
                f"session {session_id} is read-only: its log is damaged "
                f"({self._read_only[session_id]})"
            )
        if not isinstance(view, SessionView) or view.deleted:
            raise SessionNotFound(f"no session {session_id}")
        if expected_version is not None and expected_version != view.version:
            raise PreconditionFailed(
                f"session {session_id} is at version {view.version}, not {expected_version}"
            )

    # -- settings commands --------------------------------------------------------------------

    async def change_settings(self, changes: Any) -> SettingsView:
        checked = validation.settings_changes(changes)

        def decide(view: View) -> Sequence[Event]:
            assert isinstance(view, SettingsView)
            actual = {k: v for k, v in checked.items() if getattr(view, k) != v}
            return [SettingsChanged(actual)] if actual else []

        return await self._write_settings(decide)

    async def reset_settings(self) -> SettingsView:
        return await self._write_settings(lambda view: [SettingsReset()])

    # -- the per-stream writer ----------------------------------------------------------------

    def _view(self, stream: str) -> View:
        return self._settings if stream == SETTINGS_STREAM else self._sessions.get(stream)

    def _install(self, stream: str, view: View) -> None:
        if isinstance(view, SettingsView):
            self._settings = view
        elif view is not None:
            self._sessions[stream] = view

    async def _write_session(self, session_id: str, decide: Decide) -> SessionView:
        view = await self._submit(session_id, decide)
        assert isinstance(view, SessionView)
        return view

    async def _write_settings(self, decide: Decide) -> SettingsView:
        view = await self._submit(SETTINGS_STREAM, decide)
        assert isinstance(view, SettingsView)
        return view

    async def _submit(self, stream: str, decide: Decide) -> View:
        if stream != SETTINGS_STREAM and not is_session_id(stream):
            raise SessionNotFound(f"no session {stream}")
        answer: asyncio.Future[View] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(stream)
        if queue is None:
            queue = self._queues[stream] = []
            writer = asyncio.create_task(self._write(stream, queue))
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        queue.append((decide, answer))
        return await answer

    async def _write(self, stream: str, queue: list[tuple[Decide, asyncio.Future[Any]]]) -> None:
        try:
            while queue:
                batch = queue[:]
                del queue[:]
                await self._write_batch(stream, batch)
        finally:
            del self._queues[stream]

    async def _write_batch(
        self, stream: str, batch: list[tuple[Decide, asyncio.Future[Any]]]
    ) -> None:
        view = self._view(stream)
        records: list[Recorded] = []
        outcomes: list[tuple[asyncio.Future[Any], BaseException | None, View]] = []
        apply = apply_settings if stream == SETTINGS_STREAM else apply_session
        for decide, answer in batch:
            try:
                events = decide(view)
                after, added = view, []
                for event in events:
                    seq = (after.version if after is not None else 0) + 1
                    recorded = Recorded(stream, seq, self._ids(), self._clock(), event)
                    after = apply(after, recorded)  # type: ignore[arg-type]
                    added.append(recorded)
            except Exception as exc:
                outcomes.append((answer, exc, None))
                continue
            view = after
            records.extend(added)
            outcomes.append((answer, None, view))
        if records:
            try:
                await self._log.append(stream, records)
            except Exception as exc:
                outcomes = [(a, error or exc, v) for a, error, v in outcomes]
            else:
                self._install(stream, view)
                self._events += len(records)
        for answer, error, result in outcomes:
            if answer.done():
                continue
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(result)


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


__all__ = ["MAX_PAGE", "LoadReport", "Page", "Store", "new_id", "utc_now"]
