"""What readers see of the file log: appends once published, by stream and in global order.

A durable append is published on the event loop: its events join the global feed, the line
indexes of its log, and a cache of the most recent events, so that live readers of the feed
need no disk read; a stream's mark moves past it only then, so no read reaches into a batch
still being committed.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path

from orion_events.domain.events import Recorded
from orion_events.indexes.feed import FeedEntry, FeedIndex
from orion_events.storage.codec import decode
from orion_events.storage.files.commit import Pending, StreamFile
from orion_events.storage.files.lineindex import LineIndexes, LogSpan
from orion_events.storage.port import StreamMark
from orion_events.storage.readpool import ReadPool

_READ_HANDLES = 32  # logs a feed read keeps open at once
# The most recent events are kept in memory for live readers of the feed, so they need no disk
# read: this many, and no more than this many bytes of their lines, since one event may hold a
# whole imported conversation.
RECENT_EVENTS = 8192
RECENT_BYTES = 8 * 1024 * 1024


class LogReads:
    """The file log's read side: the global feed, the recent events, each log's line index."""

    def __init__(self, path_of: Callable[[str], Path]) -> None:
        self._path_of = path_of
        self.feed = FeedIndex()  # replaced by the one start-up builds
        self._recent: dict[int, Recorded] = {}
        self._recent_order: deque[tuple[int, int]] = deque()  # (position, its line's length)
        self._recent_bytes = 0
        self._advanced = asyncio.Event()
        self._ended = False
        self.pool = ReadPool()
        self._lines = LineIndexes(self.pool)

    def publish(self, pending: Pending) -> None:
        """Make a durable append readable in the global feed."""
        offset = pending.offset
        for recorded, line in zip(pending.records, pending.data.splitlines(True), strict=True):
            self.feed.add(
                FeedEntry(recorded.position, recorded.stream, recorded.seq, offset, len(line))
            )
            self._lines.published(recorded.stream, offset, offset + len(line))
            last_line = offset
            offset += len(line)
            self._recent[recorded.position] = recorded
            self._recent_order.append((recorded.position, len(line)))
            self._recent_bytes += len(line)
        while len(self._recent_order) > RECENT_EVENTS or self._recent_bytes > RECENT_BYTES:
            position, size = self._recent_order.popleft()
            del self._recent[position]
            self._recent_bytes -= size
        last, file = pending.records[-1], pending.file
        file.mark = StreamMark(
            last.seq, offset, pending.last_hash, last_line, file.digest.hexdigest()
        )

    async def read(
        self, file: StreamFile | None, after: int = 0, limit: int | None = None
    ) -> list[Recorded]:
        span = await self.span(file, after, limit)
        if span is None:
            return []
        return await self.pool.run(span.read, size=span.count)

    async def span(
        self, file: StreamFile | None, after: int = 0, limit: int | None = None
    ) -> LogSpan | None:
        if file is None or file.mark is None:
            return None  # unknown, or its first append failed: nothing durable to read
        # As far as readers see the log (its mark moves as appends are published), never into
        # a batch still being committed.
        index = await self._lines.of(file.stream, file.path, file.mark.seq, file.mark.length)
        start, end, count = index.span(after, limit)
        return LogSpan(file.path, file.stream, start, end, after + 1, count) if count else None

    async def read_all(self, after: int, limit: int) -> list[Recorded]:
        entries = self.feed.after(after, limit)
        if all(e.position in self._recent for e in entries):
            return [self._recent[e.position] for e in entries]
        return await self.pool.run(self._read_entries, entries, size=len(entries))

    def _read_entries(self, entries: list[FeedEntry]) -> list[Recorded]:
        """Read the lines of `entries` straight from their files (each was checked at start-up
        or written by this process, so only its own hash is checked again)."""
        out: list[Recorded] = []
        handles: dict[str, int] = {}
        try:
            for entry in entries:
                recent = self._recent.get(entry.position)
                if recent is not None:
                    out.append(recent)
                    continue
                fd = handles.get(entry.stream)
                if fd is None:
                    if len(handles) >= _READ_HANDLES:  # a page may span a thousand logs
                        os.close(handles.pop(next(iter(handles))))
                    fd = handles[entry.stream] = os.open(self._path_of(entry.stream), os.O_RDONLY)
                line = os.pread(fd, entry.length, entry.offset)
                recorded, _ = decode(line[:-1], stream=entry.stream, seq=entry.seq, prev=None)
                out.append(recorded)
        finally:
            for fd in handles.values():
                os.close(fd)
        return out

    def announce(self) -> None:
        """Wake the live readers waiting for the feed to advance."""
        self._advanced.set()
        self._advanced = asyncio.Event()

    async def wait_beyond(self, position: int) -> None:
        while self.feed.last_position <= position and not self._ended:
            await self._advanced.wait()

    def end(self) -> None:
        """The log is closing: live readers end."""
        self._ended = True
        self.announce()

    def close(self) -> None:
        self.pool.close()
