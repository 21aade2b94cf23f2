"""Event types: the facts a log records, each a frozen value with a stable wire tag."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final, Literal, TypeAlias

import attrs
from attrs import frozen

Metadata: TypeAlias = Mapping[str, str]


class _Leaf(enum.Enum):
    CURRENT = "current leaf"


# The parent of a message_added line written before trees (SPEC §8): the session's current leaf
# when it was added. New lines always name their parent (an id, or None for a first message).
AT_CURRENT_LEAF: Final = _Leaf.CURRENT
ParentRef: TypeAlias = str | Literal[_Leaf.CURRENT] | None


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
    parent_id: ParentRef = AT_CURRENT_LEAF


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
    """One message removed (its replies move up to its parent), or, `subtree`, the message and
    every reply below it, which `replies` names (parents first), so that the line alone says
    what it removed."""

    kind: ClassVar[str] = "message_deleted"
    message_id: str
    subtree: bool = False
    replies: Sequence[str] = ()


@frozen
class CurrentChanged:
    """The branch through `message_id` made current: the leaf reached from it by the most
    recent replies becomes the session's current message."""

    kind: ClassVar[str] = "current_changed"
    message_id: str


@frozen
class SessionForked:
    """A session's first event when it is a fork: everything it starts with, so its log stands
    alone, and where it came from."""

    kind: ClassVar[str] = "session_forked"
    title: str
    title_source: str
    metadata: Metadata
    messages: Sequence[Mapping[str, Any]]  # MessageView's fields and parent_id, parents first
    source_session: str
    source_version: int
    # The current leaf; absent (a fork from before trees), the messages are one chain and the
    # last is current.
    current_id: ParentRef = AT_CURRENT_LEAF


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
    | CurrentChanged
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
        CurrentChanged,
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
    """The event's payload as the wire's `data` object. The fields trees added are left out at
    the value a line from before trees means by leaving them out (the current leaf's reply, one
    message), so such a line reads, and shows, as it always did."""
    data = attrs.asdict(event, recurse=False)
    for key, default in _TREE_DEFAULTS.get(event.kind, {}).items():
        if data[key] == default:
            del data[key]
    if "replies" in data:
        data["replies"] = list(data["replies"])
    return data


_TREE_DEFAULTS: Final[Mapping[str, Mapping[str, object]]] = {
    MessageAdded.kind: {"parent_id": AT_CURRENT_LEAF},
    MessageDeleted.kind: {"subtree": False, "replies": ()},
    SessionForked.kind: {"current_id": AT_CURRENT_LEAF},
}


def event_from_data(kind: str, data: Mapping[str, Any]) -> Event:
    """Rebuild an event from its wire tag and payload; ValueError when either is unknown."""
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ValueError(f"bad data for {kind}: {exc}") from None
