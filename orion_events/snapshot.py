"""Snapshots of the projections: derived, optional, checked against the logs before use.

A snapshot holds every view, the idempotency keys, the global feed index and, for each log, the
mark it was taken at (seq, byte length, hash of that line, digest of every byte before it). A
start-up that finds one hashes each log's prefix (a read, no parsing or folding) against its
mark and then decodes only what was appended since; if any mark does not hold (a log was
restored, cut or changed anywhere), the snapshot is not used at all and the logs are replayed in
full, so damage is still found and named. Snapshots are written to a temporary file and
renamed, so one is either whole or absent, and deleting them is always safe.
"""

from __future__ import annotations

import base64
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import orjson
from attrs import frozen

from orion_events.projector import intern
from orion_events.views import MessageList, MessageView, SessionView, SettingsView

log = logging.getLogger(__name__)

FORMAT = 2  # 2: cold sessions (summary only) and message counts
FILE_NAME = "snapshot.json"


@frozen
class StreamMark:
    """Where a log stood when the snapshot was taken."""

    seq: int
    length: int
    last_hash: str
    last_line: int  # offset of the line at `seq`
    digest: str  # BLAKE2b of the log's first `length` bytes: any change before the mark shows


@frozen
class Snapshot:
    position: int  # the last global position it covers
    marks: Mapping[str, StreamMark]
    sessions: list[SessionView]
    settings: SettingsView
    keys: Mapping[tuple[str, str], tuple[str, int, str]]
    feed: Mapping[str, bytes]  # the feed index's columns, as array bytes


def _session_row(view: SessionView) -> list[Any]:
    # A cold session is kept as its summary alone: its messages stay in its log.
    messages = (
        None
        if view.messages is None
        else [[m.id, m.role, m.content, m.timestamp, m.agent, m.model] for m in view.messages]
    )
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
        messages,
        view.message_count,
    ]


def _session_of(row: list[Any]) -> SessionView:
    (sid, created, updated, version, title, source, metadata, deleted, forked, messages, count) = (
        row
    )
    return SessionView(
        sid,
        created,
        updated,
        version,
        title,
        source,
        metadata,
        None
        if messages is None
        else MessageList(
            [
                MessageView(mid, sys.intern(role), content, at, intern(agent), intern(model))
                for mid, role, content, at, agent, model in messages
            ]
        ),
        deleted,
        None if forked is None else (forked[0], forked[1]),
        count,
    )


def encode(snapshot: Snapshot) -> bytes:
    settings = snapshot.settings
    return orjson.dumps(
        {
            "format": FORMAT,
            "position": snapshot.position,
            "marks": {
                s: [m.seq, m.length, m.last_hash, m.last_line, m.digest]
                for s, m in snapshot.marks.items()
            },
            "sessions": [_session_row(v) for v in snapshot.sessions],
            "settings": attrs.asdict(settings),
            "keys": [[*k, *v] for k, v in snapshot.keys.items()],
            "feed": {name: base64.b64encode(raw).decode() for name, raw in snapshot.feed.items()},
        }
    )


def decode(raw: bytes) -> Snapshot:
    doc = orjson.loads(raw)
    if doc.get("format") != FORMAT:
        raise ValueError(f"snapshot format {doc.get('format')!r} is not {FORMAT}")
    return Snapshot(
        position=doc["position"],
        marks={s: StreamMark(*m) for s, m in doc["marks"].items()},
        sessions=[_session_of(row) for row in doc["sessions"]],
        settings=SettingsView(**doc["settings"]),
        keys={(k[0], k[1]): (k[2], k[3], k[4]) for k in doc["keys"]},
        feed={name: base64.b64decode(text) for name, text in doc["feed"].items()},
    )


def write(directory: Path, snapshot: Snapshot) -> Path:
    """Write atomically: a reader finds the old snapshot, the new one, or none; never half."""
    directory.mkdir(exist_ok=True)
    target = directory / FILE_NAME
    temporary = directory / f"{FILE_NAME}.tmp"
    with open(temporary, "wb") as out:
        out.write(encode(snapshot))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return target


def read(directory: Path) -> Snapshot | None:
    """The snapshot in `directory`, or None when there is none or it cannot be used."""
    path = directory / FILE_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return decode(raw)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring snapshot %s: %s", path, exc)
        return None
