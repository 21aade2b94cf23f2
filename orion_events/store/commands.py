"""The session and settings commands: input checked, then the events each decides on the view
as it stands when its turn to write comes (writer.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from orion_events.domain import rules as validation
from orion_events.domain.branches import fork_messages
from orion_events.domain.errors import (
    InvalidInput,
    SessionNotFound,
    SessionReadOnly,
    VersionConflict,
)
from orion_events.domain.events import (
    AT_CURRENT_LEAF,
    CurrentChanged,
    Event,
    MessageAdded,
    MessageDeleted,
    MessageEdited,
    MessagesCleared,
    MetadataUpdated,
    SessionCreated,
    SessionDeleted,
    SessionForked,
    SessionImported,
    SessionRenamed,
    SessionRestored,
)
from orion_events.domain.precondition import Expected, check_version
from orion_events.domain.streams import is_session_id
from orion_events.domain.views import MessageView, SessionView
from orion_events.storage.port import EventLog
from orion_events.store.current import CurrentViews
from orion_events.store.folds import View
from orion_events.store.idempotency import IdempotencyKey, earlier_answer, new_sessions
from orion_events.store.key_locks import KeyLocks
from orion_events.store.session_reads import SessionReads
from orion_events.store.writer import Decide, Replay, StreamWriter


class Commands:
    def __init__(
        self,
        event_log: EventLog,
        current: CurrentViews,
        reads: SessionReads,
        writer: StreamWriter,
        ids: Callable[[], str],
    ) -> None:
        self._log = event_log
        self._current = current
        self._reads = reads
        self._writer = writer
        self._ids = ids
        self._new_session_keys = KeyLocks()

    # -- sessions -----------------------------------------------------------------------------

    async def create_session(
        self, title: Any, metadata: Any, idempotency_key: str | None, owner: str | None = None
    ) -> SessionView:
        event = SessionCreated(
            title=None if title is None else validation.title(title),
            metadata={} if metadata is None else validation.metadata(metadata),
            owner=owner,
        )
        key = IdempotencyKey.of(
            new_sessions(owner), idempotency_key, "create", event.title, event.metadata
        )
        return await self._new_session(lambda view: [event], key)

    async def fork_session(
        self,
        session_id: str,
        *,
        message_id: Any,
        version: Any,
        title: Any,
        expected_version: Expected,
        idempotency_key: str | None,
        owner: str | None = None,
    ) -> SessionView:
        if message_id is not None and version is not None:
            raise InvalidInput("give message_id or version, not both", field="version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise InvalidInput("version must be an integer", field="version")
        if message_id is not None and not isinstance(message_id, str):
            raise InvalidInput("message_id must be a string", field="message_id")
        new_title = None if title is None else validation.title(title)
        source = await self._reads.loaded(session_id)
        check_version(expected_version, source.version, f"session {session_id}")
        if version is not None:
            source = await self._reads.at(session_id, version=version)
        size = len(source.loaded_messages)
        try:
            messages, current = await self._log.reads.run(
                fork_messages, source, message_id, size=size
            )
        except LookupError:
            raise SessionNotFound(f"no message {message_id} in session {session_id}") from None
        event = SessionForked(
            title=new_title or source.title,
            title_source="client" if new_title else source.title_source,
            metadata=dict(source.metadata),
            messages=messages,
            source_session=session_id,
            source_version=source.version,
            current_id=current,
            owner=owner,
        )
        key = IdempotencyKey.of(
            new_sessions(owner), idempotency_key, "fork", session_id, message_id, version, new_title
        )
        return await self._new_session(lambda view: [event], key)

    async def import_session(self, event: SessionImported) -> SessionView | None:
        """The new session holding `event`'s conversation; None when its owner imported that
        conversation before (nothing is written)."""
        key = IdempotencyKey.of_import(event)
        if earlier_answer(self._current.keys, key) is not None:
            return None  # found without waiting on any write
        session_id = self._ids()
        view = await self._new_session(lambda view: [event], key, session_id)
        return view if view.id == session_id else None  # another import of it came first

    async def _new_session(
        self, decide: Decide, key: IdempotencyKey | None, session_id: str | None = None
    ) -> SessionView:
        session_id = session_id or self._ids()

        def first(view: View) -> Sequence[Event]:
            if view is not None:
                raise VersionConflict(f"session {session_id} exists")
            return decide(view)

        if key is None:
            return await self._write_session(session_id, first)
        # A keyed create has no session to serialise on yet: a lock per key makes the key check
        # and the write atomic, so two concurrent retries create one session (and creates
        # under other keys, an import's many conversations, are written side by side).
        async with self._new_session_keys.holding((key.scope, key.key)):
            return await self._write_session(session_id, first, key)

    async def update_session(
        self, session_id: str, *, title: Any, metadata: Any, expected_version: Expected
    ) -> SessionView:
        new_title = None if title is None else validation.title(title)
        new_metadata = None if metadata is None else validation.metadata(metadata)

        def decide(view: View) -> Sequence[Event]:
            session = self._live(session_id, view, expected_version)
            events: list[Event] = []
            # The default title is the first user message's to replace, so naming a session
            # "New Chat" changes something: it pins that title.
            if new_title is not None and (
                new_title != session.title or session.title_source == "default"
            ):
                events.append(SessionRenamed(new_title))
            if new_metadata is not None and new_metadata != dict(session.metadata):
                events.append(MetadataUpdated(new_metadata))
            return events

        return await self._write_session(session_id, decide)

    async def delete_session(self, session_id: str, *, expected_version: Expected) -> None:
        def decide(view: View) -> Sequence[Event]:
            self._live(session_id, view, expected_version)
            return [SessionDeleted()]

        await self._write_session(session_id, decide)

    async def restore_session(
        self, session_id: str, *, expected_version: Expected, idempotency_key: str | None
    ) -> SessionView:
        def decide(view: View) -> Sequence[Event]:
            if not self._writable(session_id, view, expected_version).deleted:
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
        agent: Any,
        model: Any,
        parent_id: Any = AT_CURRENT_LEAF,
        expected_version: Expected,
        idempotency_key: str | None,
    ) -> SessionView:
        """A message replying to `parent_id` (None: a new first message), by default to the
        current leaf as it stands when the message is written; it becomes the current leaf."""
        if not (parent_id is AT_CURRENT_LEAF or parent_id is None or isinstance(parent_id, str)):
            raise InvalidInput("parent_id must be a message id or null", field="parent_id")
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
            "leaf" if parent_id is AT_CURRENT_LEAF else parent_id,
        )

        def decide(view: View) -> Sequence[Event]:
            session = self._live(session_id, view, expected_version)
            if parent_id is AT_CURRENT_LEAF:
                parent = session.current_id  # the log names the parent it was given
            elif parent_id is None or session.number_of(parent_id) is not None:
                parent = parent_id
            else:
                raise InvalidInput(
                    f"parent_id: no message {parent_id[:64]!r} in session {session_id}",
                    field="parent_id",
                )
            return [attrs.evolve(event, parent_id=parent)]

        return await self._write_session(session_id, decide, key)

    async def edit_message(
        self, session_id: str, message_id: str, *, content: Any, expected_version: Expected
    ) -> SessionView:
        event = MessageEdited(message_id, validation.content(content))

        def decide(view: View) -> Sequence[Event]:
            message = self._live_message(session_id, view, message_id, expected_version)
            return [] if message.content == event.content else [event]

        return await self._write_session(session_id, decide)

    async def delete_message(
        self, session_id: str, message_id: str, *, subtree: bool, expected_version: Expected
    ) -> SessionView:
        """Remove one message (its replies move up to its parent), or, `subtree`, the message
        and every reply below it."""

        def decide(view: View) -> Sequence[Event]:
            self._live_message(session_id, view, message_id, expected_version)
            if not subtree:
                return [MessageDeleted(message_id)]
            assert isinstance(view, SessionView)
            tree = view.tree
            below = [tree.id_of(n) for n in tree.below(tree.number_of(message_id))]
            return [MessageDeleted(message_id, subtree=True, replies=below)]

        return await self._write_session(session_id, decide)

    async def set_current(
        self,
        session_id: str,
        message_id: Any,
        *,
        expected_version: Expected,
        idempotency_key: str | None,
    ) -> SessionView:
        """Make the branch through `message_id` current; nothing is written when it already is
        (its leaf is the current one)."""
        if not isinstance(message_id, str):
            raise InvalidInput("message_id must be a message id", field="message_id")
        key = IdempotencyKey.of(session_id, idempotency_key, "current", message_id)

        def decide(view: View) -> Sequence[Event]:
            session = self._live(session_id, view, expected_version)
            number = session.number_of(message_id)
            if number is None:
                raise InvalidInput(
                    f"message_id: no message {message_id[:64]!r} in session {session_id}",
                    field="message_id",
                )
            if session.tree.leaf_from(number) == session.tree.current:
                return []
            return [CurrentChanged(message_id)]

        return await self._write_session(session_id, decide, key)

    async def clear_messages(self, session_id: str, *, expected_version: Expected) -> SessionView:
        def decide(view: View) -> Sequence[Event]:
            session = self._live(session_id, view, expected_version)
            return [MessagesCleared()] if session.message_count else []

        return await self._write_session(session_id, decide)

    async def _write_session(
        self, session_id: str, decide: Decide, key: IdempotencyKey | None = None
    ) -> SessionView:
        if not is_session_id(session_id):
            raise SessionNotFound(f"no session {session_id}")
        result = await self._writer.submit(session_id, decide, key)
        if isinstance(result, Replay):
            return await self._reads.at(result.stream, version=result.seq)
        assert isinstance(result, SessionView)
        return result

    # -- what a write to a session is decided on ----------------------------------------------

    def _writable(self, session_id: str, view: View, expected_version: Expected) -> SessionView:
        if session_id in self._current.read_only:
            raise SessionReadOnly(
                f"session {session_id} is read-only: its log is damaged "
                f"({self._current.read_only[session_id]})"
            )
        if not isinstance(view, SessionView):
            raise SessionNotFound(f"no session {session_id}")
        check_version(expected_version, view.version, f"session {session_id}")
        return view

    def _live(self, session_id: str, view: View, expected_version: Expected) -> SessionView:
        # A deleted session is not found, whatever version the client thinks it is at.
        read_only = self._current.read_only
        if isinstance(view, SessionView) and view.deleted and session_id not in read_only:
            raise SessionNotFound(f"no session {session_id}")
        return self._writable(session_id, view, expected_version)

    def _live_message(
        self, session_id: str, view: View, message_id: str, expected_version: Expected
    ) -> MessageView:
        """The live message that a write to it is decided on."""
        session = self._live(session_id, view, expected_version)
        number = session.number_of(message_id)
        if number is None:
            raise SessionNotFound(f"no message {message_id} in session {session_id}")
        return session.loaded_messages[number]
