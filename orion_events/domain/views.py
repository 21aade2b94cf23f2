"""Read models the projector builds: sessions, their messages, and the settings."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import Literal, TypeAlias, overload

from attrs import evolve, field, frozen

from orion_events.domain import packing
from orion_events.domain.events import Metadata
from orion_events.domain.tree import NONE, MessageTree

DEFAULT_TITLE = "New Chat"

# Where a session's title came from: the default, the first user message, or the client.
TitleSource: TypeAlias = Literal["default", "auto", "client"]


@frozen
class MessageView:
    id: str
    role: str
    content: str
    timestamp: str
    agent: str | None = None
    model: str | None = None


class MessageList:
    """An immutable sequence of messages whose `appended` costs O(1), not a copy.

    A session's messages lie packed end to end in one buffer (domain/packing.py: ~330 bytes
    for 300 of text, against ~600 as objects), with the offset each one ends at, and are
    unpacked into MessageViews when read; the service caches a session's JSON body, so reads
    rarely unpack.

    Views share one buffer and each remembers its own length, so an older view still sees
    exactly its prefix. Only the view at the tip may extend the buffer in place; appending to an
    older view (a branch) copies its prefix first.
    """

    __slots__ = ("_data", "_ends", "_length", "_tip")

    def __init__(self, messages: Iterable[MessageView] = ()) -> None:
        self._tip: MessageView | None = None
        self._data = bytearray()
        self._ends = array("q")
        for message in messages:
            self._data += _pack(message)
            self._ends.append(len(self._data))
        self._length = len(self._ends)

    @classmethod
    def of_packed(cls, data: bytearray, ends: array[int], length: int | None = None) -> MessageList:
        """Messages already packed (a snapshot's): taken over, not copied."""
        messages = cls.__new__(cls)
        messages._tip = None
        messages._data, messages._ends = data, ends
        messages._length = len(ends) if length is None else length
        return messages

    @property
    def packed(self) -> tuple[bytearray, array[int]]:
        """A copy of the packed messages and where each ends: for snapshots.

        Slices, not memoryviews: a snapshot is encoded on a thread, and a buffer with a view
        open on it cannot grow, so the tip's next append would fail.
        """
        return self._data[: self._end(self._length)], self._ends[: self._length]

    def _end(self, length: int) -> int:
        return self._ends[length - 1] if length else 0

    def _span(self, index: int) -> tuple[int, int]:
        return self._end(index), self._ends[index]

    def kept(self, indexes: Iterable[int]) -> MessageList:
        """Only the messages at `indexes` (in that order), copied as bytes."""
        data, ends = bytearray(), array("q")
        for index in indexes:
            start, end = self._span(index)
            data += self._data[start:end]
            ends.append(len(data))
        return MessageList.of_packed(data, ends)

    def compacted(self) -> MessageList:
        """The same messages in a buffer of exactly their size: after a bulk load, whose
        appends left the buffer over-allocated as any growing buffer is."""
        data, ends = self.packed
        return MessageList.of_packed(data, ends)

    def appended(self, message: MessageView) -> MessageList:
        data, ends = self._data, self._ends
        if len(ends) != self._length:
            data, ends = data[: self._end(self._length)], ends[: self._length]
        data += _pack(message)
        ends.append(len(data))
        grown = MessageList.of_packed(data, ends, self._length + 1)
        # Kept as given, so reading back the message just added (a POST's answer) unpacks nothing.
        grown._tip = message
        return grown

    def replaced(self, index: int, message: MessageView) -> MessageList:
        """A copy with one message changed: O(n) in bytes copied, for the rare edit."""
        return self._spliced(self._checked(index), _pack(message))

    def _spliced(self, index: int, packed: bytes) -> MessageList:
        """A copy with message `index` replaced by `packed`; the other messages are copied as
        bytes, never unpacked."""
        start, end = self._span(index)
        data = self._data[:start]
        ends = self._ends[:index]
        data += packed
        ends.append(len(data))
        shift = len(data) - end
        data += self._data[end : self._end(self._length)]
        ends.extend(e + shift for e in self._ends[index + 1 : self._length])
        return MessageList.of_packed(data, ends)

    def ids_and_contents(self, indexes: Iterable[int] | None = None) -> Iterator[tuple[str, str]]:
        """Each message's id and content alone (of those at `indexes`, or all), unpacked at half
        the cost of a MessageView."""
        data = self._data
        for i in range(self._length) if indexes is None else indexes:
            yield packing.id_and_content(data, *self._span(i))

    def content_size(self, index: int) -> int:
        """One message's UTF-8 content length, without unpacking it."""
        return packing.content_size(self._data, *self._span(self._checked(index)))

    def content_sizes(self) -> Iterator[int]:
        """Each message's UTF-8 content length, without unpacking: for the memory budget."""
        for i in range(self._length):
            yield packing.content_size(self._data, *self._span(i))

    def _checked(self, index: int) -> int:
        if not -self._length <= index < self._length:
            raise IndexError(index)
        return index % self._length

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> MessageView: ...
    @overload
    def __getitem__(self, index: slice) -> list[MessageView]: ...
    def __getitem__(self, index: int | slice) -> MessageView | list[MessageView]:
        if isinstance(index, slice):
            return [self[i] for i in range(self._length)[index]]
        index = self._checked(index)
        if index == self._length - 1 and self._tip is not None:
            return self._tip
        return MessageView(*packing.unpack(self._data, *self._span(index)))

    def __iter__(self) -> Iterator[MessageView]:
        data = self._data
        for i in range(self._length):
            yield MessageView(*packing.unpack(data, *self._span(i)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageList):
            return NotImplemented
        return self._length == other._length and self.packed == other.packed

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MessageList(<{self._length} messages>)"


def _pack(message: MessageView) -> bytes:
    return packing.pack(
        message.id, message.role, message.content, message.timestamp, message.agent, message.model
    )


@frozen
class SessionView:
    id: str
    created_at: str
    updated_at: str
    version: int
    title: str = DEFAULT_TITLE
    title_source: TitleSource = "default"
    metadata: Metadata = field(factory=dict)
    # None while the session is cold: its summary is current, its messages are only in its log
    # (a memory budget keeps the messages of the recently used sessions alone).
    messages: MessageList | None = field(factory=MessageList)
    deleted: bool = False
    forked_from: tuple[str, int] | None = None  # (session id, version) this one was forked at
    # Who answers whom and the current leaf, by the messages' numbers in `messages`, the order
    # they were added. A removed message keeps its place in both, dead in the tree, until the
    # session is next replayed (which leaves them out): `messages` is every message since the
    # last clear, and `live_messages` those not removed. The tree is kept for a cold session
    # too: it follows every change, and so knows the current branch.
    tree: MessageTree = field(factory=MessageTree)
    owner: str | None = None  # its user; None: made without users, so the first admin's

    @property
    def cold(self) -> bool:
        return self.messages is None

    @property
    def live_messages(self) -> list[MessageView]:
        """Every message not removed, of every branch, in the order they were added."""
        messages = self.loaded_messages
        return [messages[n] for n in self.tree.live_numbers()]

    @property
    def message_count(self) -> int:
        """How many messages the current branch holds (SPEC §8)."""
        return self.tree.depth

    def number_of(self, message_id: str) -> int | None:
        """The number of the live message `message_id` (None: no such message, or removed)."""
        number = self.tree.number_of(message_id)
        return None if number == NONE else number

    @property
    def current_id(self) -> str | None:
        current = self.tree.current
        return None if current == NONE else self.tree.id_of(current)

    @property
    def loaded_messages(self) -> MessageList:
        """The messages of a session in memory; asking a cold one for them is a bug (the store
        loads a session before anything reads its messages)."""
        if self.messages is None:
            raise RuntimeError(f"session {self.id} is cold: its messages are not loaded")
        return self.messages


@frozen
class SettingsView:
    theme: str = "dark"
    language: str = "en"
    enable_sounds: bool = True
    enable_notifications: bool = True
    auto_play_tts: bool = False
    default_model: str = "qwen2.5:1.5b"
    temperature: float = 0.7
    max_tokens: int = 2048
    version: int = 0
    updated_at: str | None = None

    def with_changes(self, changes: Mapping[str, object]) -> SettingsView:
        return evolve(self, **changes)  # type: ignore[arg-type]


@frozen
class SettingsBook:
    """What the settings log folds to: each user's settings (None: those of the service
    without users, which are the first admin's once users exist), and the log's version."""

    shared: SettingsView = SettingsView()
    users: Mapping[str, SettingsView] = field(factory=dict)
    version: int = 0

    def of(self, user_id: str | None) -> SettingsView:
        """A user's settings; the defaults (version 0) for one who never changed them."""
        if user_id is None:
            return self.shared
        return self.users.get(user_id) or SettingsView()

    def with_settings(self, user_id: str | None, view: SettingsView, version: int) -> SettingsBook:
        if user_id is None:
            return evolve(self, shared=view, version=version)
        return evolve(self, users={**self.users, user_id: view}, version=version)


SETTINGS_KEYS: tuple[str, ...] = (
    "theme",
    "language",
    "enable_sounds",
    "enable_notifications",
    "auto_play_tts",
    "default_model",
    "temperature",
    "max_tokens",
)


@frozen
class OperationsView:
    """The operator log as the service needs it: how many events it holds (its version), so
    that what the service records there (an admin's read) takes the next seq."""

    version: int = 0
