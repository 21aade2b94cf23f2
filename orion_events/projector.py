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
        return SessionView(
            id=recorded.stream,
            created_at=recorded.at,
            updated_at=recorded.at,
            version=recorded.seq,
            title=event.title,
            title_source=event.title_source,  # type: ignore[arg-type]
            metadata=dict(event.metadata),
            messages=MessageList([message_from_data(m) for m in event.messages]),
            forked_from=(event.source_session, event.source_version),
        )
    raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: {event.kind} before session_created")


def _message_index(view: SessionView, recorded: Recorded, message_id: str) -> int:
    index = view.messages.index_of(message_id)
    if index is None:
        raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: no message {message_id}")
    return index


def apply_session(view: SessionView | None, recorded: Recorded) -> SessionView:
    """The session as it stands after one more event.

    Each case builds the next view in one constructor call: `attrs.evolve` costs several times
    more, and this fold runs once per event at every start-up.
    """
    if view is None:
        return _first_view(recorded)
    event = recorded.event
    title, title_source = view.title, view.title_source
    metadata, messages, deleted = view.metadata, view.messages, view.deleted
    match event:
        case MessageAdded():
            message = MessageView(
                event.message_id, event.role, event.content, recorded.at, event.agent, event.model
            )
            messages = messages.appended(message)
            if title_source == "default" and event.role == "user":
                auto = auto_title(event.content)
                if auto:
                    title, title_source = auto, "auto"
        case MessageEdited():
            index = _message_index(view, recorded, event.message_id)
            edited = attrs.evolve(messages[index], content=event.content)
            messages = messages.replaced(index, edited)
        case MessageDeleted():
            messages = messages.removed(_message_index(view, recorded, event.message_id))
        case SessionRenamed():
            title, title_source = event.title, "client"
        case MetadataUpdated():
            metadata = dict(event.metadata)
        case MessagesCleared():
            messages = MessageList()
        case SessionDeleted():
            deleted = True
        case SessionRestored():
            deleted = False
        case SessionCreated() | SessionForked():
            raise CorruptLog(f"{recorded.stream} seq {recorded.seq}: a second first event")
        case _:
            raise CorruptLog(
                f"{recorded.stream} seq {recorded.seq}: {event.kind} is no session event"
            )
    return SessionView(
        view.id,
        view.created_at,
        recorded.at,
        recorded.seq,
        title,
        title_source,
        metadata,
        messages,
        deleted,
        view.forked_from,
    )


def replay_session(records: Iterable[Recorded]) -> SessionView | None:
    """Fold a whole session log, in order, into its view (None for an empty log)."""
    view: SessionView | None = None
    for recorded in records:
        view = apply_session(view, recorded)
    return view


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


def replay_settings(records: Iterable[Recorded]) -> SettingsView:
    view = SettingsView()
    for recorded in records:
        view = apply_settings(view, recorded)
    return view
