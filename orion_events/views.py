"""Read models the projector builds: sessions, their messages, and the settings."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal, TypeAlias, overload

from attrs import evolve, field, frozen

from orion_events.events import Metadata

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

    Views share one backing list and each remembers its own length, so an older view still sees
    exactly its prefix. Only the view at the tip may extend the backing list in place; appending to
    an older view (a branch) copies its prefix first.
    """

    __slots__ = ("_items", "_length")

    def __init__(self, items: list[MessageView] | None = None, length: int | None = None) -> None:
        self._items = items if items is not None else []
        self._length = len(self._items) if length is None else length

    def appended(self, message: MessageView) -> MessageList:
        items = self._items
        if len(items) != self._length:
            items = items[: self._length]
        items.append(message)
        return MessageList(items, self._length + 1)

    def replaced(self, index: int, message: MessageView) -> MessageList:
        """A copy with one message changed: O(n), for the rare edit."""
        items = self._items[: self._length]
        items[index] = message
        return MessageList(items)

    def removed(self, index: int) -> MessageList:
        items = self._items[: self._length]
        del items[index]
        return MessageList(items)

    def index_of(self, message_id: str) -> int | None:
        items = self._items
        for i in range(self._length - 1, -1, -1):
            if items[i].id == message_id:
                return i
        return None

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> MessageView: ...
    @overload
    def __getitem__(self, index: slice) -> list[MessageView]: ...
    def __getitem__(self, index: int | slice) -> MessageView | list[MessageView]:
        if isinstance(index, slice):
            return self._items[: self._length][index]
        if not -self._length <= index < self._length:
            raise IndexError(index)
        return self._items[index % self._length]

    def __iter__(self) -> Iterator[MessageView]:
        items = self._items
        for i in range(self._length):
            yield items[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageList):
            return NotImplemented
        return self._length == other._length and all(
            a == b for a, b in zip(self, other, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MessageList(<{self._length} messages>)"


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
    message_count: int = 0

    @property
    def cold(self) -> bool:
        return self.messages is None


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
