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
    # The user it belongs to; None without users (and on every line from before them), when it
    # belongs to the first admin once there is one.
    owner: str | None = None


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
    owner: str | None = None  # as in SessionCreated


@frozen
class SessionImported:
    """A session's first event when it came from another chat tool (SPEC §10): the whole
    conversation in one event, so it is written all or nothing, with where it came from."""

    kind: ClassVar[str] = "session_imported"
    title: str | None
    metadata: Metadata
    messages: Sequence[Mapping[str, Any]]  # as in session_forked: parents first, with parent_id
    current_id: str | None
    created_at: str  # when the source says the conversation began
    source: str  # the format it came from: chatgpt, openwebui, librechat, orion
    source_id: str  # its id there: importing it again finds it and writes nothing
    owner: str | None = None


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
class UserCreated:
    kind: ClassVar[str] = "user_created"
    user_id: str
    name: str
    role: str


@frozen
class KeyIssued:
    """An API key: never the key itself, only what finds it (`lookup`, its first characters)
    and what checks it (`digest`, its SHA-256)."""

    kind: ClassVar[str] = "key_issued"
    user_id: str
    key_id: str
    lookup: str
    digest: str


@frozen
class KeyRevoked:
    kind: ClassVar[str] = "key_revoked"
    key_id: str


@frozen
class UserDisabled:
    """The user can no longer sign in: every key of theirs revoked; their sessions stay."""

    kind: ClassVar[str] = "user_disabled"
    user_id: str


@frozen
class AdminRead:
    """Operator log: an admin read another user's data (SPEC §9)."""

    kind: ClassVar[str] = "admin_read"
    by: str
    owner: str
    what: str


@frozen
class SettingsChanged:
    kind: ClassVar[str] = "settings_changed"
    changes: Mapping[str, Any]
    user_id: str | None = None  # whose (SPEC §9); None: without users, or the first admin's


@frozen
class SettingsReset:
    kind: ClassVar[str] = "settings_reset"
    user_id: str | None = None


SessionEvent: TypeAlias = (
    SessionCreated
    | SessionForked
    | SessionImported
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
UsersEvent: TypeAlias = UserCreated | KeyIssued | KeyRevoked | UserDisabled
Event: TypeAlias = SessionEvent | SettingsEvent | UsersEvent | SessionPurged | AdminRead

EVENT_TYPES: Mapping[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        SessionCreated,
        SessionForked,
        SessionImported,
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
        UserCreated,
        KeyIssued,
        KeyRevoked,
        UserDisabled,
        AdminRead,
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
    """The event's payload as the wire's `data` object. The fields trees and users added are
    left out at the value a line from before them means by leaving them out (the current leaf's
    reply, one message, no owner), so such a line reads, and shows, as it always did."""
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
    # and the owner, left out without users: a log written without them stays as it was
    SessionCreated.kind: {"owner": None},
    SessionForked.kind: {"current_id": AT_CURRENT_LEAF, "owner": None},
    SessionImported.kind: {"owner": None},
    SettingsChanged.kind: {"user_id": None},
    SettingsReset.kind: {"user_id": None},
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
