"""Snapshots of the projections: derived, optional, checked against the logs before use.

A snapshot holds every view, the idempotency keys, the global feed index and, for each log, the
mark it was taken at (seq, byte length, hash of that line, digest of every byte before it). A
start-up that finds one hashes each log's prefix (a read, no parsing or folding) against its
mark and then decodes only what was appended since; if any mark does not hold (a log was
restored, cut or changed anywhere), the snapshot is not used at all and the logs are replayed in
full, so damage is still found and named. Views folded under other projector rules
(`rules`) are not resumed from either, though the marks still find loss. Snapshots are written
to a temporary file and renamed, so one is either whole or absent, and deleting them is always
safe.
"""

from __future__ import annotations

import logging
import struct
import sys
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import orjson
from attrs import frozen

from orion_events.domain import packing
from orion_events.domain.tree import KEY_SIZE, MessageTree, from_parts
from orion_events.domain.views import MessageList, SessionView, SettingsBook, SettingsView
from orion_events.storage.files.durable import DEFAULT_IO, PosixIO
from orion_events.storage.port import StreamMark

log = logging.getLogger(__name__)

# 4: binary, messages packed as in memory (2: JSON, cold sessions as summaries); 5: each
# session's message tree (SPEC §8) beside its messages; 6: each session's owner (SPEC §9).
FORMAT = 6
FILE_NAME = "snapshot.bin"
OLD_FILE_NAMES = ("snapshot.json",)  # earlier formats: never read, removed on the next write


@frozen
class Snapshot:
    position: int  # the last global position it covers
    marks: Mapping[str, StreamMark]
    sessions: list[SessionView]
    settings: SettingsBook
    keys: Mapping[tuple[str, str], tuple[str, int, str]]
    feed: Mapping[str, bytes]  # the feed index's columns, as array bytes
    rules: int = 1  # the projector's RULES_VERSION its views were folded under (1: unrecorded)


_MAGIC = b"orion-snapshot\n"
_HEADER_LENGTH = struct.Struct("<Q")
_BIG_ENDIAN = sys.byteorder == "big"


def _session_row(view: SessionView) -> list[Any]:
    # Every session's tree follows the header; then a hot one's messages, packed (a cold one's
    # stay in its log: messages None). The row says how many of each.
    parents, _, _, current, named = view.tree.parts()
    return [
        view.id,
        view.created_at,
        view.updated_at,
        view.version,
        view.title,
        view.title_source,
        view.metadata,
        view.deleted,
        view.forked_from,
        None if view.messages is None else len(view.messages),
        len(parents),
        current,
        [[number, message_id] for number, message_id in named.items()],
        view.owner,
    ]


def _session_of(row: list[Any], messages: MessageList | None, tree: MessageTree) -> SessionView:
    (sid, created, updated, version, title, source, metadata, deleted, forked, *_) = row
    return SessionView(
        sid,
        created,
        updated,
        version,
        title,
        source,
        metadata,
        messages,
        deleted,
        None if forked is None else (forked[0], forked[1]),
        tree,
        row[13],
    )


def encode(snapshot: Snapshot) -> bytes:
    return b"".join(_encoded(snapshot))


def _encoded(snapshot: Snapshot) -> list[bytes | bytearray]:
    """The magic line, the length of a JSON header, the header, the feed index's columns (as
    array bytes), then per session its tree (each message's parent as i32, live flag as a
    byte, key as 16 bytes) and, when it is hot, its packed messages as they are held in memory:
    where each ends (i64 each), then their bytes. No message is decoded or encoded, so a
    snapshot costs what copying its bytes costs."""
    settings = snapshot.settings
    names = list(packing.NAMES.names)  # before the messages: every number in them is in here
    packed = [
        (v.tree.parts(), None if v.messages is None else v.messages.packed)
        for v in snapshot.sessions
    ]
    header = orjson.dumps(
        {
            "format": FORMAT,
            "rules": snapshot.rules,
            "position": snapshot.position,
            "marks": {
                s: [m.seq, m.length, m.last_hash, m.last_line, m.digest]
                for s, m in snapshot.marks.items()
            },
            "sessions": [_session_row(v) for v in snapshot.sessions],
            "settings": {
                "shared": attrs.asdict(settings.shared),
                "users": {user: attrs.asdict(view) for user, view in settings.users.items()},
                "version": settings.version,
            },
            "keys": [[*k, *v] for k, v in snapshot.keys.items()],
            "feed": {name: len(raw) for name, raw in snapshot.feed.items()},  # bytes that follow
            "names": names,
        }
    )
    parts: list[bytes | bytearray] = [_MAGIC, _HEADER_LENGTH.pack(len(header)), header]
    parts.extend(snapshot.feed.values())  # in the header's order
    for (parents, live, keys, _, _), messages in packed:
        if _BIG_ENDIAN:  # little-endian on disk, as packed messages are
            parents.byteswap()
        parts += [parents.tobytes(), live, keys]
        if messages is not None:
            data, ends = messages
            if _BIG_ENDIAN:
                ends.byteswap()
            parts += [ends.tobytes(), data]
    return parts


def decode(raw: bytes) -> Snapshot:
    if not raw.startswith(_MAGIC):
        raise ValueError("not a snapshot of this format")
    at = len(_MAGIC) + _HEADER_LENGTH.size
    (header_length,) = _HEADER_LENGTH.unpack_from(raw, len(_MAGIC))
    doc = orjson.loads(raw[at : at + header_length])
    if doc.get("format") != FORMAT:
        raise ValueError(f"snapshot format {doc.get('format')!r} is not {FORMAT}")
    at += header_length
    feed = {}
    for name, length in doc["feed"].items():
        feed[name] = raw[at : at + length]
        at += length
        if len(feed[name]) != length:
            raise ValueError("the snapshot is cut short")
    numbers = packing.renumbering(doc["names"])
    # Each buffer copied once, straight out of the file's bytes: a slice of `raw` first would
    # make every session's messages twice and leave the heap fragmented by the freed copies.
    view = memoryview(raw)
    sessions = []
    for row in doc["sessions"]:
        count, length, current, named = row[9:13]
        parents = array("i")
        parents.frombytes(view[at : at + 4 * length])
        if _BIG_ENDIAN:
            parents.byteswap()
        at += 4 * length
        live = bytes(view[at : at + length])
        at += length
        keys = bytes(view[at : at + KEY_SIZE * length])
        at += KEY_SIZE * length
        if len(parents) != length or len(keys) != KEY_SIZE * length:
            raise ValueError("the snapshot is cut short")
        tree = from_parts(parents, live, keys, current, dict(named))
        messages = None
        if count is not None:
            ends = array("q")
            ends.frombytes(view[at : at + 8 * count])
            if _BIG_ENDIAN:
                ends.byteswap()
            at += 8 * count
            size = ends[-1] if count else 0
            data = bytearray(view[at : at + size])
            if len(ends) != count or len(data) != size:
                raise ValueError("the snapshot is cut short")
            at += size
            if numbers is not None:
                for i in range(count):
                    packing.renumber(data, ends[i - 1] if i else 0, numbers)
            messages = MessageList.of_packed(data, ends)
        if messages is not None and len(messages) != length:
            raise ValueError(f"session {row[0]}: {len(messages)} messages, {length} in its tree")
        sessions.append(_session_of(row, messages, tree))
    if at != len(raw):
        raise ValueError("the snapshot has bytes past its last session")
    return Snapshot(
        position=doc["position"],
        marks={s: StreamMark(*m) for s, m in doc["marks"].items()},
        sessions=sessions,
        settings=SettingsBook(
            SettingsView(**doc["settings"]["shared"]),
            {user: SettingsView(**view) for user, view in doc["settings"]["users"].items()},
            doc["settings"]["version"],
        ),
        keys={(k[0], k[1]): (k[2], k[3], k[4]) for k in doc["keys"]},
        feed=feed,
        rules=doc.get("rules", 1),
    )


def write(directory: Path, snapshot: Snapshot, io: PosixIO = DEFAULT_IO) -> Path:
    """Write atomically: a reader finds the old snapshot, the new one, or none; never half."""
    io.make_dirs(directory)
    target = directory / FILE_NAME
    io.replace_file(target, _encoded(snapshot))  # no copy of the whole: messages are most of it
    old = [directory / name for name in OLD_FILE_NAMES if (directory / name).exists()]
    io.remove_files(old)
    return target


def read_marks(directory: Path) -> Mapping[str, StreamMark] | None:
    """Only the marks of the snapshot in `directory` (its header alone is read), or None."""
    try:
        with open(directory / FILE_NAME, "rb") as f:
            head = f.read(len(_MAGIC) + _HEADER_LENGTH.size)
            if len(head) < len(_MAGIC) + _HEADER_LENGTH.size or not head.startswith(_MAGIC):
                return None
            (header_length,) = _HEADER_LENGTH.unpack_from(head, len(_MAGIC))
            doc = orjson.loads(f.read(header_length))
        if doc.get("format") != FORMAT:
            return None
        return {s: StreamMark(*m) for s, m in doc["marks"].items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        log.warning("ignoring snapshot in %s: %s", directory, exc)
        return None


def read(directory: Path) -> Snapshot | None:
    """The snapshot in `directory`, or None when there is none or it cannot be used."""
    path = directory / FILE_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return decode(raw)
    except (ValueError, KeyError, TypeError, IndexError, struct.error) as exc:
        log.warning("ignoring snapshot %s: %s", path, exc)
        return None
