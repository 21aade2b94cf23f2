"""Where each line of a log file starts, so that a read of a few events reads only their lines.

A log has no index of its own: the lines are the record, and a line's place is only known by
counting newlines. So the index of a log is built on its first history read, by one pass over
the file (finding newlines runs at C speed; it is 8 bytes a line in one array), and is then kept
current by the commit path, which knows where each line it appends starts. Everything here that
touches the file or decodes runs on the read thread (storage/readpool.py), never on the event loop.
"""

from __future__ import annotations

import asyncio
import os
from array import array
from pathlib import Path

import attrs

from orion_events.domain.errors import CorruptLog
from orion_events.domain.events import Recorded
from orion_events.storage.codec import GENESIS, LineDamage, decode
from orion_events.storage.readpool import ReadPool

_CHUNK = 1 << 20  # bytes read at a time while indexing: a long log is never in memory whole


class LineIndex:
    """seq -> byte offset of the lines of one log that readers may see.

    It is created, on the event loop, covering the log as readers see it then (`lines` lines in
    `length` bytes), and filled once the pass over those bytes comes back; lines the log
    publishes meanwhile are kept aside and follow them.
    """

    __slots__ = ("_built", "_later", "_starts", "length", "lines")

    def __init__(self, lines: int, length: int) -> None:
        self.lines = lines  # what readers may see now
        self.length = length  # the bytes those lines take
        self._starts: array[int] | None = None  # None while the pass over the file runs
        self._later = array("q")  # starts of lines published while it ran
        self._built = (lines, length)  # what the pass covers

    @property
    def ready(self) -> bool:
        return self._starts is not None

    def fill(self, starts: array[int]) -> None:
        """Take the starts found by `line_starts` over the first `_built` bytes."""
        if len(starts) != self._built[0]:
            raise CorruptLog(
                f"{len(starts)} lines in the first {self._built[1]} bytes, "
                f"where {self._built[0]} were written"
            )
        starts.extend(self._later)
        self._starts, self._later = starts, array("q")

    def add(self, start: int, end: int) -> None:
        """One more line, durable and published, at bytes [start, end)."""
        (self._later if self._starts is None else self._starts).append(start)
        self.lines += 1
        self.length = end

    def span(self, after: int, limit: int | None) -> tuple[int, int, int]:
        """The byte range of the lines of seqs after `after` (at most `limit` of them), and how
        many lines it holds (0: none)."""
        starts = self._starts
        assert starts is not None, "read before the index was built"
        total = len(starts)
        if after >= total:
            return 0, 0, 0
        last = total if limit is None else min(total, after + limit)
        end = starts[last] if last < total else self.length
        return starts[after], end, last - after


def line_starts(path: Path, length: int) -> array[int]:
    """Where each line in the first `length` bytes of `path` starts (on the read thread).

    Those bytes were checked line by line when the log was opened, or written by this process
    since: a line cannot hold a raw newline (JSON escapes it), so each one ends a line.
    """
    starts = array("q")
    fd = os.open(path, os.O_RDONLY)
    try:
        offset = line = 0
        while offset < length:
            chunk = os.pread(fd, min(_CHUNK, length - offset), offset)
            if not chunk:
                raise CorruptLog(f"{path} is shorter than the {length} bytes written to it")
            at = chunk.find(b"\n")
            while at >= 0:
                starts.append(line)
                line = offset + at + 1
                at = chunk.find(b"\n", at + 1)
            offset += len(chunk)
    finally:
        os.close(fd)
    if line != length:
        raise CorruptLog(f"{path} does not end its first {length} bytes with a whole line")
    return starts


@attrs.frozen
class LogSpan:
    """Lines of one log file by byte range, as far as readers see it: what a reader in another
    process needs to read them itself (storage/readproc.py)."""

    path: Path
    stream: str
    start: int
    end: int
    first_seq: int
    count: int

    def read(self) -> list[Recorded]:
        return read_lines(self.path, self.stream, self.start, self.end, self.first_seq, self.count)


def read_lines(
    path: Path, stream: str, start: int, end: int, first_seq: int, count: int
) -> list[Recorded]:
    """Decode the `count` lines in bytes [start, end) of `path`, the first at `first_seq` (on
    the read thread).

    Each line's own hash is checked, and the chain across the lines read; the first line's link
    to the one before it only when it is the log's first (the rest of the chain was checked when
    the log was opened, or written by this process). Damage is an error, never a short answer:
    these bytes were good when they were written or opened, so the file changed underneath.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.pread(fd, end - start, start)
    finally:
        os.close(fd)
    lines = data.split(b"\n")
    if len(data) != end - start or len(lines) != count + 1 or lines[-1]:
        raise CorruptLog(
            f"{path}: bytes {start} to {end} no longer hold lines {first_seq} to "
            f"{first_seq + count - 1}"
        )
    out: list[Recorded] = []
    prev: str | None = GENESIS if first_seq == 1 else None
    for seq, line in enumerate(lines[:-1], start=first_seq):
        try:
            recorded, prev = decode(line, stream=stream, seq=seq, prev=prev)
        except LineDamage as exc:
            raise CorruptLog(f"{path} line {seq}: {exc.kind}: {exc.message}") from None
        out.append(recorded)
    return out


class LineIndexes:
    """The line index of every log read since start, each built on its first read."""

    def __init__(self, pool: ReadPool) -> None:
        self._pool = pool
        self._indexes: dict[str, LineIndex] = {}
        self._building: dict[str, asyncio.Task[None]] = {}

    async def of(self, stream: str, path: Path, lines: int, length: int) -> LineIndex:
        """The index of `stream`'s log, whose readers see `lines` lines in `length` bytes now."""
        index = self._indexes.get(stream)
        if index is None:
            index = self._indexes[stream] = LineIndex(lines, length)
            task = asyncio.ensure_future(self._build(stream, path, index, lines, length))
            task.add_done_callback(_retrieved)
            self._building[stream] = task
        if not index.ready:
            # Shielded: a reader that leaves does not stop the pass others wait on.
            await asyncio.shield(self._building[stream])
        return index

    async def _build(
        self, stream: str, path: Path, index: LineIndex, lines: int, length: int
    ) -> None:
        """Index the first `lines` lines, `length` bytes: the log as it was when asked for."""
        try:
            index.fill(await self._pool.run(line_starts, path, length, size=lines))
        except BaseException:
            del self._indexes[stream]  # the next read tries again
            raise
        finally:
            del self._building[stream]

    def published(self, stream: str, start: int, end: int) -> None:
        """A line at bytes [start, end) of `stream`'s log is now durable and readable."""
        index = self._indexes.get(stream)
        if index is not None:
            index.add(start, end)


def _retrieved(task: asyncio.Task[None]) -> None:
    """A pass whose readers all left still has its failure looked at (no warning at exit)."""
    if not task.cancelled():
        task.exception()
