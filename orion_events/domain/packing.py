"""Messages packed into bytes: how a million messages fit in memory.

A message held as a slotted object costs its object, its id and timestamp strings and its role
and model references on top of its text: about 600 bytes for 300 bytes of content. Packed, it is
its UTF-8 text and ~30 bytes, laid out as

    id       0x01 + the 16 bytes of a canonical UUID, or 0x00 + u32 length + UTF-8
    names    u32: the number of its (role, agent, model) in NAMES
    at       0x01 + i64 microseconds since 1970 for a timestamp in the log's own form
             (2026-12-02T06:00:00.000000Z), or 0x00 + u32 length + UTF-8
    content  the rest, UTF-8

and a session's messages lie end to end in one buffer (views.MessageList). Roles, agents and
models repeat across millions of messages, so each (role, agent, model) is stored once in a
process-wide table and packed as its number; the table only grows, so a number means the same
names for the life of the process. Packed bytes are never a record: the logs are. Snapshots
carry the table beside the messages and renumber on load (`renumbering`) when it differs.
"""

from __future__ import annotations

import re
import struct
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from orion_events.domain.streams import CANONICAL_UUID

MessageFields: TypeAlias = tuple[str, str, str, str, str | None, str | None]
Names: TypeAlias = tuple[str, str | None, str | None]  # role, agent, model
Buffer: TypeAlias = bytes | bytearray

_CANONICAL_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_EPOCH = datetime(1970, 1, 1)  # naive: the log's timestamps are all UTC
_MICROSECOND = timedelta(microseconds=1)
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_TEXT = "surrogatepass"  # any str survives the round trip, even one no JSON parser would give


class NameTable:
    """(role, agent, model) by number and number by value, shared by every packed message."""

    __slots__ = ("_lock", "_numbers", "names")

    def __init__(self) -> None:
        self.names: list[Names] = []
        self._numbers: dict[Names, int] = {}
        self._lock = threading.Lock()

    def number(self, names: Names) -> int:
        number = self._numbers.get(names)
        if number is None:
            with self._lock:  # a snapshot may be decoded on another thread
                number = self._numbers.get(names)
                if number is None:
                    number = len(self.names)
                    self.names.append(names)
                    self._numbers[names] = number
        return number


NAMES = NameTable()


def id_prefix(message_id: str) -> bytes:
    """The bytes a packed message starts with when it has this id."""
    if len(message_id) == 36 and CANONICAL_UUID.fullmatch(message_id):
        return b"\x01" + bytes.fromhex(message_id.replace("-", ""))
    raw = message_id.encode("utf-8", _TEXT)
    return b"\x00" + _U32.pack(len(raw)) + raw


def _packed_at(timestamp: str) -> bytes:
    if len(timestamp) == 27 and _CANONICAL_AT.fullmatch(timestamp):
        try:
            instant = datetime.fromisoformat(timestamp[:-1])
        except ValueError:  # the form, not a date (month 13)
            pass
        else:
            return b"\x01" + _I64.pack((instant - _EPOCH) // _MICROSECOND)
    raw = timestamp.encode("utf-8", _TEXT)
    return b"\x00" + _U32.pack(len(raw)) + raw


def pack(
    message_id: str,
    role: str,
    content: str,
    timestamp: str,
    agent: str | None,
    model: str | None,
) -> bytes:
    if not (
        isinstance(message_id, str) and isinstance(content, str) and isinstance(timestamp, str)
    ):
        # A log written by hand: the replay names it, as any event it cannot fold.
        raise TypeError("a message's id, content and timestamp must be text")
    return b"".join(
        (
            id_prefix(message_id),
            _U32.pack(NAMES.number((role, agent, model))),
            _packed_at(timestamp),
            content.encode("utf-8", _TEXT),
        )
    )


def _names_at(buffer: Buffer, start: int) -> int:
    """Where the names number of the message packed at `start` is."""
    if buffer[start] == 1:
        return start + 17
    length: int = _U32.unpack_from(buffer, start + 1)[0]
    return start + 5 + length


def _id(buffer: Buffer, start: int, names: int) -> str:
    if buffer[start] == 1:
        h = buffer[start + 1 : start + 17].hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return buffer[start + 5 : names].decode("utf-8", _TEXT)


def _content_at(buffer: Buffer, names: int) -> int:
    at = names + 4
    if buffer[at] == 1:
        return at + 9
    length: int = _U32.unpack_from(buffer, at + 1)[0]
    return at + 5 + length


def unpack(buffer: Buffer, start: int = 0, end: int | None = None) -> MessageFields:
    """The fields of the message packed in buffer[start:end]."""
    if end is None:
        end = len(buffer)
    at = _names_at(buffer, start)
    message_id = _id(buffer, start, at)
    role, agent, model = NAMES.names[_U32.unpack_from(buffer, at)[0]]
    at += 4
    if buffer[at] == 1:
        micros = _I64.unpack_from(buffer, at + 1)[0]
        timestamp = (_EPOCH + micros * _MICROSECOND).isoformat(timespec="microseconds") + "Z"
        at += 9
    else:
        length = _U32.unpack_from(buffer, at + 1)[0]
        timestamp = buffer[at + 5 : at + 5 + length].decode("utf-8", _TEXT)
        at += 5 + length
    content = buffer[at:end].decode("utf-8", _TEXT)
    return (message_id, role, content, timestamp, agent, model)


def id_and_content(buffer: Buffer, start: int = 0, end: int | None = None) -> tuple[str, str]:
    """The id and content of the message packed in buffer[start:end], without its timestamp
    and names: what the search index reads of every message, at half the cost of `unpack`."""
    if end is None:
        end = len(buffer)
    names = _names_at(buffer, start)
    content = buffer[_content_at(buffer, names) : end].decode("utf-8", _TEXT)
    return _id(buffer, start, names), content


def content_size(buffer: Buffer, start: int = 0, end: int | None = None) -> int:
    """The UTF-8 length of a packed message's content, without unpacking it."""
    if end is None:
        end = len(buffer)
    return end - _content_at(buffer, _names_at(buffer, start))


def renumbering(names: Sequence[Sequence[Any]]) -> list[int] | None:
    """How numbers packed against the table `names` (another process's, as JSON gave it back)
    map onto this one's: None when they mean the same names here, so the packed bytes can be
    used as they are."""
    numbers = [NAMES.number((role, agent, model)) for role, agent, model in names]
    if all(n == i for i, n in enumerate(numbers)):
        return None
    return numbers


def renumber(buffer: bytearray, start: int, numbers: Sequence[int]) -> None:
    """Renumber, in place, the names of the message packed at `start`."""
    at = _names_at(buffer, start)
    _U32.pack_into(buffer, at, numbers[_U32.unpack_from(buffer, at)[0]])
