"""Events in, views out: the pure fold that turns a log into sessions and settings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from attrs import evolve

from orion_events.errors import CorruptLog
from orion_events.events import (
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
from orion_events.views import DEFAULT_TITLE, MessageList, MessageView, SessionView, SettingsView

AUTO_TITLE_LENGTH = 50


def auto_title(content: str) -> str:
    """The title a first user message gives its session: whitespace collapsed, at most 50 chars."""
    return " ".join(content.split())[:AUTO_TITLE_LENGTH]


def message_from_data(data: Mapping[str, Any]) -> MessageView:
    return MessageView(
        data["id"], data["role"], data["content"], data["timestamp"], data["agent"], data["model"]
    )


def message_data(message: MessageView) -> dict[str, Any]:
    """A message as a fork carries it in its first event."""
    return attrs.asdict(message)


def _first_view(recorded: Recorded) -> SessionView:
    event = recorded.event
    if isinstance(event, SessionCreated):
        return SessionView(
            id=recorded.stream,
            created_at=recorded.at,
            updated_at=recorded.at,
            version=recorded.seq,
            title=event.title if event.title is not None else DEFAULT_TITLE,
            title_source="client" if event.title is not None else "default",
            metadata=dict(event.metadata),
        )
    if isinstance(event, SessionForked):
        messages = MessageList([message_from_data(m) for m in event.messages])
        return SessionView(
            id=recorded.stream,
            created_at=recorded.at,
            updated_at=recorded.at,
            version=recorded.seq,
            title=event.title,
            title_source=event.title_source,  # type: ignore[arg-type]
            metadata=dict(event.metadata),
            messages=messages,
            forked_from=(event.source_session, event.source_version),
            message_count=len(messages),
        )
    raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: {event.kind} before session_created")


class _Draft:
    """A session being folded: one mutable accumulator per replay, frozen into a view once.

    `apply_session` and `replay_session` share it, so the rules are written once; a replay
    builds a single SessionView at the end instead of one per event.
    """

    __slots__ = (
        "count",
        "created_at",
        "deleted",
        "forked_from",
        "id",
        "messages",
        "metadata",
        "title",
        "title_source",
        "updated_at",
        "version",
    )

    def __init__(self, view: SessionView) -> None:
        self.id, self.created_at, self.forked_from = view.id, view.created_at, view.forked_from
        self.updated_at, self.version, self.deleted = view.updated_at, view.version, view.deleted
        self.title, self.title_source = view.title, view.title_source
        self.metadata, self.messages, self.count = view.metadata, view.messages, view.message_count

    def apply(self, recorded: Recorded) -> None:
        """One more event. A cold draft (no messages) keeps only its summary current."""
        event = recorded.event
        self.version, self.updated_at = recorded.seq, recorded.at
        messages = self.messages
        match event:
            case MessageAdded():
                message = MessageView(
                    event.message_id,
                    event.role,
                    event.content,
                    recorded.at,
                    event.agent,
                    event.model,
                )
                self.count += 1
                if messages is not None:
                    self.messages = messages.appended(message)
                if self.title_source == "default" and event.role == "user":
                    auto = auto_title(event.content)
                    if auto:
                        self.title, self.title_source = auto, "auto"
            case MessageEdited():
                if messages is not None:
                    index = self._message_index(messages, recorded, event.message_id)
                    edited = attrs.evolve(messages[index], content=event.content)
                    self.messages = messages.replaced(index, edited)
            case MessageDeleted():
                self.count -= 1
                if messages is not None:
                    index = self._message_index(messages, recorded, event.message_id)
                    self.messages = messages.removed(index)
            case SessionRenamed():
                self.title, self.title_source = event.title, "client"
            case MetadataUpdated():
                self.metadata = dict(event.metadata)
            case MessagesCleared():
                self.count = 0
                if messages is not None:
                    self.messages = MessageList()
            case SessionDeleted():
                self.deleted = True
            case SessionRestored():
                self.deleted = False
            case SessionCreated() | SessionForked():
                raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: a second first event")
            case _:
                raise CorruptLog(
                    f"{recorded.stream} seq {recorded.seq}: {event.kind} is no session event"
                )

    @staticmethod
    def _message_index(messages: MessageList, recorded: Recorded, message_id: str) -> int:
        index = messages.index_of(message_id)
        if index is None:
            raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: no message {message_id}")
        return index

    def view(self) -> SessionView:
        return SessionView(
            self.id,
            self.created_at,
            self.updated_at,
            self.version,
            self.title,
            self.title_source,
            self.metadata,
            self.messages,
            self.deleted,
            self.forked_from,
            self.count,
        )


def apply_session(view: SessionView | None, recorded: Recorded) -> SessionView:
    """The session as it stands after one more event."""
    if view is None:
        return _first_view(recorded)
    draft = _Draft(view)
    draft.apply(recorded)
    return draft.view()


def replay_session(
    records: Iterable[Recorded], start: SessionView | None = None
) -> SessionView | None:
    """Fold a session's events, in order, onto `start` (None: from its first event)."""
    draft = None if start is None else _Draft(start)
    for recorded in records:
        if draft is None:
            draft = _Draft(_first_view(recorded))
        else:
            draft.apply(recorded)
    if draft is None:
        return None
    if draft.messages is not None:
        draft.messages = draft.messages.compacted()  # held for long: no growth slack
    return draft.view()


def apply_settings(view: SettingsView, recorded: Recorded) -> SettingsView:
    event = recorded.event
    match event:
        case SettingsChanged():
            view = view.with_changes(event.changes)
        case SettingsReset():
            view = SettingsView()
        case _:
            raise CorruptLog(f"settings seq {recorded.seq}: {event.kind} is no settings event")
    return evolve(view, version=recorded.seq, updated_at=recorded.at)


def replay_settings(records: Iterable[Recorded], start: SettingsView | None = None) -> SettingsView:
    view = SettingsView() if start is None else start
    for recorded in records:
        view = apply_settings(view, recorded)
    return view
