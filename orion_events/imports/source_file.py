"""An export file read one conversation at a time (SPEC §10): its format told from its first
item (docs/import-formats.md, "Detection"), or named by the caller, then each item handed to that
format's reader.

The file is parsed as a stream (ijson), so a 1 GB export costs the memory of its largest
conversation, not of the file. A file that is no known format is refused before anything is read
past its first item; a conversation that cannot be read is reported where it stands and the next
one is read; a file cut short ends the reading with a failure at the item where it breaks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import ijson
from attrs import frozen

from orion_events.imports import chatgpt, claude, json_stream, librechat, openwebui, orion
from orion_events.imports.conversation import BrokenConversation, Conversation

_BOM = b"\xef\xbb\xbf"  # some editors write one; the C parser takes it for bad JSON
_BUFFER = 64 * 1024
_NONE = object()  # no first item: the list is empty


@frozen
class Format:
    """One format's reader, as the file reader uses it."""

    name: str
    label: str  # what the tool calls it, for messages to people
    top: str  # "array" (a list of conversations) or "object" (one conversation per file)
    recognises: Callable[[Any], bool]
    read: Callable[[Mapping[str, Any]], Conversation]
    source_id: Callable[[Mapping[str, Any]], Any]  # for the report of an item that fails


# In the order a first item is tried against them: the more specific shapes first.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            orion.SOURCE,
            "this service's export",
            "either",
            orion.is_export,
            orion.read,
            lambda item: (item.get("session") or {}).get("id"),
        ),
        Format(
            librechat.SOURCE,
            "LibreChat's conversation export",
            "object",
            librechat.is_export,
            librechat.read,
            lambda item: item.get("conversationId"),
        ),
        Format(
            claude.SOURCE,
            "Claude's conversations.json",
            "array",
            claude.is_conversation,
            claude.read,
            lambda item: item.get("uuid"),
        ),
        Format(
            openwebui.SOURCE,
            "Open WebUI's chat export",
            "array",
            openwebui.is_chat,
            openwebui.read,
            lambda item: item.get("id"),
        ),
        Format(
            chatgpt.SOURCE,
            "ChatGPT's conversations.json",
            "array",
            chatgpt.is_conversation,
            chatgpt.read,
            lambda item: item.get("conversation_id") or item.get("id"),
        ),
    )
}


class UnknownFormat(ValueError):
    """The file is none of the formats (or not the one named): nothing of it is imported."""


@frozen
class Item:
    """One conversation of the file as read: `conversation`, or the `reason` it could not be."""

    index: int  # its place in the file, from 0
    source_id: str | None
    conversation: Conversation | None = None
    reason: str | None = None


class SourceFile:
    """An open export: `format` is known on opening (or UnknownFormat raised), `items()` reads
    the conversations, `position` says how many bytes of the file are read so far."""

    def __init__(self, path: Path, format_name: str | None = None) -> None:
        self._file: IO[bytes] = path.open("rb")
        try:
            if self._file.read(len(_BOM)) != _BOM:
                self._file.seek(0)
            start = self._file.tell()
            head = self._file.read(_BUFFER)
            if not head.strip() and len(head) < _BUFFER:
                raise UnknownFormat("the file is empty")
            self._file.seek(start)
            self._events = json_stream.events(self._file, _BUFFER)
            self.format, self._items = self._detect(format_name)
        except BaseException:
            self._file.close()
            raise

    @property
    def position(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def items(self) -> Iterator[Item]:
        """Each conversation in file order; after a break in the file, one last failed item."""
        index = 0
        items = self._items
        while True:
            try:
                raw = next(items)
            except StopIteration:
                return
            except ijson.JSONError as exc:
                yield Item(index, None, reason=f"the file breaks off here: {_short(exc)}")
                return
            yield self._read(index, raw)
            index += 1

    def _read(self, index: int, raw: Any) -> Item:
        source_id: Any = None
        try:
            if not isinstance(raw, Mapping):
                raise BrokenConversation(f"a {type(raw).__name__}, not a conversation")
            source_id = self.format.source_id(raw)
            conversation = self.format.read(raw)
        except BrokenConversation as exc:
            return Item(index, source_id if isinstance(source_id, str) else None, reason=str(exc))
        return Item(index, conversation.source_id, conversation)

    def _detect(self, format_name: str | None) -> tuple[Format, Iterator[Any]]:
        try:
            first_event = next(self._events, None)
            if first_event is None:
                raise UnknownFormat("the file is empty")
            kind = first_event[0]
            if kind not in ("start_array", "start_map"):
                raise UnknownFormat(
                    "the file holds no conversations (neither a list nor an object)"
                )
            if kind == "start_map":  # one conversation (or one export) in the whole file
                whole = json_stream.value(first_event, self._events)
                return _format_of(whole, "object", format_name), iter([whole])
            items = json_stream.array_items(self._events)
            first = next(items, _NONE)
        except ijson.JSONError as exc:
            raise UnknownFormat(f"the file is not JSON ({_short(exc)})") from None
        if first is _NONE:  # an empty list: any list format, with nothing to import
            return _format_of(None, "array", format_name, empty=True), iter(())
        return _format_of(first, "array", format_name), itertools.chain([first], items)


def _format_of(first: Any, top: str, format_name: str | None, *, empty: bool = False) -> Format:
    """The format whose shape the first item has (the named one, if it has); else
    UnknownFormat. An `empty` list is any list format."""
    candidates = [FORMATS[format_name]] if format_name is not None else list(FORMATS.values())
    for candidate in candidates:
        if candidate.top not in (top, "either"):
            continue
        if empty or candidate.recognises(first):
            return candidate
    if format_name is not None:
        raise UnknownFormat(f"the file is not {FORMATS[format_name].label}")
    names = ", ".join(f.label for f in FORMATS.values())
    raise UnknownFormat(f"the file is no known format (one of: {names})")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


__all__ = ["FORMATS", "Format", "Item", "SourceFile", "UnknownFormat"]
