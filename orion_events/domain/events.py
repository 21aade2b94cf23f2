"""Event types: the facts a log records, each a frozen value with a stable wire tag."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeAlias

import attrs
from attrs import frozen

Metadata: TypeAlias = Mapping[str, str]


@frozen
class SessionCreated:
    kind: ClassVar[str] = "session_created"
    title: str | None
    metadata: Metadata


@frozen
class SessionRenamed:
    kind: ClassVar[str] = "session_renamed"
    title: str


@frozen
class MetadataUpdated:
    kind: ClassVar[str] = "metadata_updated"
    metadata: Metadata


@frozen
class MessageAdded:
    kind: ClassVar[str] = "message_added"
    message_id: str
    role: str
    content: str
    agent: str | None = None
    model: str | None = None


@frozen
class MessagesCleared:
    kind: ClassVar[str] = "messages_cleared"


@frozen
class SessionDeleted:
    kind: ClassVar[str] = "session_deleted"


@frozen
class MessageEdited:
    kind: ClassVar[str] = "message_edited"
    message_id: str
    content: str


@frozen
class MessageDeleted:
    kind: ClassVar[str] = "message_deleted"
    message_id: str


@frozen
class SessionForked:
    """A session's first event when it is a fork: everything it starts with, so its log stands
    alone, and where it came from."""

    kind: ClassVar[str] = "session_forked"
    title: str
    title_source: str
    metadata: Metadata
    messages: Sequence[Mapping[str, Any]]  # message fields as in MessageView
    source_session: str
    source_version: int


@frozen
class SessionRestored:
    kind: ClassVar[str] = "session_restored"


@frozen
class SessionPurged:
    """Operator log: a session's log was removed for good (privacy); what, when and by whom."""

    kind: ClassVar[str] = "session_purged"
    session_id: str
    events: int
    last_hash: str
    by: str
    reason: str | None = None


@frozen
class SettingsChanged:
    kind: ClassVar[str] = "settings_changed"
    changes: Mapping[str, Any]


@frozen
class SettingsReset:
    kind: ClassVar[str] = "settings_reset"


SessionEvent: TypeAlias = (
    SessionCreated
    | SessionForked
    | SessionRenamed
    | MetadataUpdated
    | MessageAdded
    | MessageEdited
    | MessageDeleted
    | MessagesCleared
    | SessionDeleted
    | SessionRestored
)
SettingsEvent: TypeAlias = SettingsChanged | SettingsReset
Event: TypeAlias = SessionEvent | SettingsEvent | SessionPurged

EVENT_TYPES: Mapping[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        SessionCreated,
        SessionForked,
        SessionRenamed,
        MetadataUpdated,
        MessageAdded,
        MessageEdited,
        MessageDeleted,
        MessagesCleared,
        SessionDeleted,
        SessionRestored,
        SettingsChanged,
        SettingsReset,
        SessionPurged,
    )
}


@frozen
class Recorded:
    """An event as it stands in its log: its place (stream, seq), identity and time."""

    stream: str
    seq: int
    id: str
    at: str
    event: Event
    position: int = 0  # global order across all logs, given by the log when it appends
    meta: Mapping[str, str] | None = None  # request facts (idempotency key), not domain data

    @property
    def type(self) -> str:
        return self.event.kind


def event_data(event: Event) -> dict[str, Any]:
    """The event's payload as the wire's `data` object."""
    return attrs.asdict(event, recurse=False)


def event_from_data(kind: str, data: Mapping[str, Any]) -> Event:
    """Rebuild an event from its wire tag and payload; ValueError when either is unknown."""
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ValueError(f"bad data for {kind}: {exc}") from None
