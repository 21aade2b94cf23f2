"""The global order of all logs: where the event at each position lives, in compact arrays."""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

from attrs import frozen

# (stream, seq of its first line here, positions, line offsets, end offset) of one log read
LogLines: TypeAlias = tuple[str, int, Sequence[int], Sequence[int], int]


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
    def from_logs(
        cls, logs: Iterable[LogLines], *, after: int = 0
    ) -> tuple[FeedIndex, list[FeedEntry]]:
        """The index of logs given as (stream, seq of the first line, positions of its lines,
        their offsets, end offset), from after position `after`, and the
        entries left out because another event holds their position (logs mixed from two data
        dirs): the first keeps its place in the feed.

        Built column by column, with no object per event, as it runs over every event at start.
        """
        return cls()._extend(logs, after)

    @classmethod
    def resumed(
        cls, columns: Mapping[str, bytes], position: int, logs: Iterable[LogLines]
    ) -> tuple[FeedIndex, list[FeedEntry]]:
        """A snapshot's index (everything up to `position`) and what `logs` add after it."""
        index = cls()
        for name in ("_positions", "_stream_ids", "_seqs", "_offsets", "_lengths"):
            getattr(index, name).frombytes(columns[name])
        for stream in columns["_streams"].decode().split("\n") if columns["_streams"] else []:
            index._stream_id(stream)
        return index._extend(logs, position)

    def columns(self) -> dict[str, bytes]:
        out = {
            name: getattr(self, name).tobytes()
            for name in ("_positions", "_stream_ids", "_seqs", "_offsets", "_lengths")
        }
        out["_streams"] = "\n".join(self._streams).encode()
        return out

    def _extend(self, logs: Iterable[LogLines], after: int) -> tuple[FeedIndex, list[FeedEntry]]:
        index = self
        positions, stream_ids, seqs = array("q"), array("i"), array("q")
        offsets, lengths = array("q"), array("i")
        for stream, first_seq, stream_positions, starts, end in logs:
            stream_id = index._stream_id(stream)
            ends = [*starts[1:], end]
            positions.extend(stream_positions)
            # A log's seqs are its line numbers.
            seqs.extend(range(first_seq, first_seq + len(stream_positions)))
            stream_ids.extend([stream_id] * len(stream_positions))
            offsets.extend(starts)
            lengths.extend(e - s for s, e in zip(starts, ends, strict=False))
        clashes: list[FeedEntry] = []
        last = index.last_position
        for i in _position_order(positions):
            entry = (positions[i], stream_ids[i], seqs[i], offsets[i], lengths[i])
            if entry[0] <= after:
                continue  # the snapshot's index already holds it
            if entry[0] <= last:
                clashes.append(FeedEntry(entry[0], index._streams[entry[1]], *entry[2:]))
                continue
            last = entry[0]
            index._positions.append(entry[0])
            index._stream_ids.append(entry[1])
            index._seqs.append(entry[2])
            index._offsets.append(entry[3])
            index._lengths.append(entry[4])
        return index, clashes

    def _stream_id(self, stream: str) -> int:
        stream_id = self._stream_ids_by_name.get(stream)
        if stream_id is None:
            stream_id = self._stream_ids_by_name[stream] = len(self._streams)
            self._streams.append(stream)
        return stream_id

    def add(self, entry: FeedEntry) -> None:
        if self._positions and entry.position <= self._positions[-1]:
            raise ValueError(f"position {entry.position} is not after {self._positions[-1]}")
        stream_id = self._stream_id(entry.stream)
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


def _position_order(positions: array[int]) -> Iterable[int]:
    """Indexes of `positions` in ascending order of position, ties in index order.

    Positions are nearly dense (holes only where an append failed), so they are placed by
    counting into an array; sorting a list of a million indexes would hold a million Python
    ints at once at the end of every start, and their memory stays behind once freed.
    """
    if not positions:
        return []
    low, high = min(positions), max(positions)
    if high - low > 4 * len(positions) + 1024:  # sparse (hand-made logs): sort as such
        return sorted(range(len(positions)), key=positions.__getitem__)
    first = array("q", [-1]) * (high - low + 1)  # the first index at each position
    repeats: dict[int, list[int]] = {}  # later indexes at a position some index holds
    for i, position in enumerate(positions):
        slot = position - low
        if first[slot] < 0:
            first[slot] = i
        else:
            repeats.setdefault(slot, []).append(i)
    return _in_order(first, repeats)


def _in_order(first: array[int], repeats: dict[int, list[int]]) -> Iterable[int]:
    for slot, i in enumerate(first):
        if i >= 0:
            yield i
            yield from repeats.get(slot, ())
