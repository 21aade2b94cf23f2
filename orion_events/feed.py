"""The global order of all logs: where the event at each position lives, in compact arrays."""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable

from attrs import frozen


@frozen
class FeedEntry:
    position: int
    stream: str
    seq: int
    offset: int  # of the line in its log file
    length: int  # of the line, newline included


class FeedIndex:
    """Position -> (stream, seq, byte range), ~24 bytes an event, appended in position order.

    Positions only ever grow but may have holes: an append that failed, or a line cut after a
    crash, used a position that no event holds.
    """

    __slots__ = (
        "_lengths",
        "_offsets",
        "_positions",
        "_seqs",
        "_stream_ids",
        "_stream_ids_by_name",
        "_streams",
    )

    def __init__(self) -> None:
        self._positions = array("q")
        self._stream_ids = array("i")
        self._seqs = array("q")
        self._offsets = array("q")
        self._lengths = array("i")
        self._streams: list[str] = []
        self._stream_ids_by_name: dict[str, int] = {}

    @classmethod
    def from_entries(cls, entries: Iterable[FeedEntry]) -> tuple[FeedIndex, list[FeedEntry]]:
        """The index of `entries`, and those left out because another event holds their
        position (logs mixed from two data dirs): the first keeps its place in the feed."""
        index, clashes = cls(), []
        for entry in sorted(entries, key=lambda e: e.position):
            if index._positions and entry.position <= index._positions[-1]:
                clashes.append(entry)
            else:
                index.add(entry)
        return index, clashes

    def add(self, entry: FeedEntry) -> None:
        if self._positions and entry.position <= self._positions[-1]:
            raise ValueError(f"position {entry.position} is not after {self._positions[-1]}")
        stream_id = self._stream_ids_by_name.get(entry.stream)
        if stream_id is None:
            stream_id = self._stream_ids_by_name[entry.stream] = len(self._streams)
            self._streams.append(entry.stream)
        self._positions.append(entry.position)
        self._stream_ids.append(stream_id)
        self._seqs.append(entry.seq)
        self._offsets.append(entry.offset)
        self._lengths.append(entry.length)

    def after(self, position: int, limit: int) -> list[FeedEntry]:
        start = bisect_right(self._positions, position)
        return [self._entry(i) for i in range(start, min(start + limit, len(self._positions)))]

    def _entry(self, i: int) -> FeedEntry:
        return FeedEntry(
            self._positions[i],
            self._streams[self._stream_ids[i]],
            self._seqs[i],
            self._offsets[i],
            self._lengths[i],
        )

    @property
    def last_position(self) -> int:
        return self._positions[-1] if self._positions else 0

    def __len__(self) -> int:
        return len(self._positions)
