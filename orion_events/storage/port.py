"""The log port: what the store needs from a log, whichever backend keeps it (files/, postgres/).

A backend appends durably and in order, hands every stream over at start-up, and reads back a
stream's events, or every stream's in global order, costing what it returns. What only some
backends can do (snapshots beside the log, following a log that other processes write) is not
part of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from attrs import frozen

from orion_events.domain.events import Recorded
from orion_events.storage.codec import Damage
from orion_events.storage.files.durable import PosixIO
from orion_events.storage.files.lineindex import LogSpan
from orion_events.storage.readpool import ReadPool


@frozen
class StreamMark:
    """Where a log stood when the snapshot was taken."""

    seq: int
    length: int
    last_hash: str
    last_line: int  # offset of the line at `seq`
    digest: str  # BLAKE2b of the log's first `length` bytes: any change before the mark shows


@frozen
class LoadedStream:
    """One stream as found at start-up: its good events and what, if anything, was wrong."""

    stream: str
    records: list[Recorded]
    damage: Damage | None  # damage in the middle: the stream is read-only
    cut_tail: Damage | None  # a torn or bad last line that was cut off and quarantined
    resumed_after: int = 0  # records follow this seq, which a snapshot covers (0: whole log)


@frozen
class Resume:
    """What a snapshot covers: each log's mark, the feed index then, and its last position."""

    marks: Mapping[str, StreamMark]
    feed: Mapping[str, bytes]
    position: int
    # Read every log whole anyway (the snapshot's views are of no use): the marks then only
    # say how far each log reached, so that loss is still found.
    whole: bool = False


class EventLog(Protocol):
    """What the store needs from a log; a database-backed log implements the same."""

    async def open(
        self, each: Callable[[LoadedStream], None] | None = None, resume: Resume | None = None
    ) -> list[LoadedStream]:
        """Take ownership of the log, repair torn tails, and hand over every stream's events.

        With `each`, every stream goes to it as soon as it is read (perhaps on another thread)
        and is not kept, so a start-up can fold and drop events log by log; without, all are
        returned. With `resume` (a snapshot's marks), logs that still extend their mark are
        read only past it; if any does not, or `resume.whole`, every log is read whole.
        """
        ...

    async def append(self, stream: str, records: Sequence[Recorded]) -> list[Recorded]:
        """Durably append `records`, whose seqs must continue the stream; return once on disk.

        Returns the records as written, each with its global position.
        """
        ...

    async def read(self, stream: str, after: int = 0, limit: int | None = None) -> list[Recorded]:
        """The durable events of one stream with seqs after `after`, in order: at most `limit`
        of them (all by default).

        It costs what it returns, not what the stream holds: only those events are read and
        decoded (each one's hash checked, and the chain across them), off the event loop.
        """
        ...

    async def span(self, stream: str, after: int = 0, limit: int | None = None) -> LogSpan | None:
        """Where the events `read` would return lie in the log's file, for a reader in another
        process (storage/readproc.py); None when there are none, or the log is not a file."""
        ...

    @property
    def reads(self) -> ReadPool:
        """The thread that the CPU work of reads runs on, shared with whoever reads this log."""
        ...

    async def read_all(self, after: int, limit: int) -> list[Recorded]:
        """Durable events of every stream with positions after `after`, in position order.

        Never returns position n + 1 before n is readable: positions become readable in order.
        """
        ...

    @property
    def last_position(self) -> int:
        """The highest readable position."""
        ...

    async def wait_beyond(self, position: int) -> None:
        """Return once an event after `position` is readable (at once if one is)."""
        ...

    async def close(self) -> None:
        """Finish in-flight appends and release the log."""
        ...


# What only some logs can do. The store asks with isinstance, and a log without the capability
# is taken as a log that never needs it.


@runtime_checkable
class SnapshotsBeside(Protocol):
    """A log beside which snapshots of the views are kept (the file log: in its data dir),
    with what a snapshot records of it. A log without (PostgreSQL) is read whole at start."""

    @property
    def snapshot_dir(self) -> Path: ...

    def marks(self) -> Mapping[str, StreamMark]:
        """Where each healthy log ends for readers now (what a snapshot covers)."""
        ...

    def feed_columns(self) -> Mapping[str, bytes]:
        """The global feed index as it stands, for a snapshot."""
        ...


@runtime_checkable
class Shared(Protocol):
    """A log that other processes may append to too (`shared`): the store then follows it."""

    @property
    def shared(self) -> bool: ...


@runtime_checkable
class Followed(Protocol):
    """A shared log whose replicas say how far they have applied a stream, so that a write
    which must take effect on every replica at once (a key revoked) can wait for them all."""

    async def followed(self, stream: str, seq: int) -> None:
        """This replica has applied `stream` up to `seq`."""
        ...

    async def followed_by_all(self, stream: str, seq: int, within: float) -> bool:
        """Wait until every other live replica has applied `stream` up to `seq` (False:
        `within` seconds passed first)."""
        ...


@runtime_checkable
class ReportsLoss(Protocol):
    """A log that can find at start-up that acknowledged writes are gone (`has_loss`)."""

    @property
    def has_loss(self) -> bool: ...


@runtime_checkable
class HasIO(Protocol):
    """A log whose file I/O goes through a seam (`io`) that snapshots beside it go through too,
    so a test sees (or fails) their syncs."""

    @property
    def io(self) -> PosixIO: ...


@runtime_checkable
class ReportsFailures(Protocol):
    """A log that stops taking appends to a stream after a failed write, and says which."""

    def failed(self) -> dict[str, str]: ...
