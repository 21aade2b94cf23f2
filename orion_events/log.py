"""The append log: the small interface every backend offers, and the JSONL-file backend.

The file backend is the only code that touches the data directory. Appends from every stream are
group-committed: while one batch is being written and fsync'd on the commit thread, the next one
gathers, so one thread hop and one fsync per touched file serve many requests, and an append
returns only once its bytes are durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import hashlib
import logging
import os
import re
import time
from array import array
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import aiofiles.os
import attrs
from attrs import define, frozen

from orion_events.codec import GENESIS, Damage, Scan, decode, encode_batch, scan
from orion_events.errors import DataDirLocked, SessionReadOnly, StorageUnavailable, VersionConflict
from orion_events.events import Recorded
from orion_events.feed import FeedEntry, FeedIndex
from orion_events.snapshot import StreamMark

log = logging.getLogger(__name__)

_libc_syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)

SETTINGS_STREAM = "settings"
OPERATIONS_STREAM = "operations"  # the operator log: purges and other offline actions
# Logs that live at the top of the data dir rather than under sessions/.
TOP_LEVEL_STREAMS = (SETTINGS_STREAM, OPERATIONS_STREAM)
_HASHERS = min(4, os.cpu_count() or 1)  # threads checking a snapshot's marks
RECENT_EVENTS = 8192  # kept in memory for live readers of the feed, so they need no disk read
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_session_id(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


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


class EventLog(Protocol):
    """What the store needs from a log; a database-backed log implements the same."""

    async def open(
        self, each: Callable[[LoadedStream], None] | None = None, resume: Resume | None = None
    ) -> list[LoadedStream]:
        """Take ownership of the log, repair torn tails, and hand over every stream's events.

        With `each`, every stream goes to it as soon as it is read (perhaps on another thread)
        and is not kept, so a start-up can fold and drop events log by log; without, all are
        returned. With `resume` (a snapshot's marks), logs that still extend their mark are
        read only past it; if any does not, every log is read whole.
        """
        ...

    async def append(self, stream: str, records: Sequence[Recorded]) -> list[Recorded]:
        """Durably append `records`, whose seqs must continue the stream; return once on disk.

        Returns the records as written, each with its global position.
        """
        ...

    async def read(self, stream: str, after: int = 0) -> list[Recorded]:
        """The durable events of one stream with seqs after `after` (all by default), in order.

        The chain is checked from the event at `after` on, so a tail costs what it holds.
        """
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

    @property
    def snapshot_dir(self) -> Path | None:
        """Where snapshots of the views live beside this log; None: this log takes none."""
        ...

    def marks(self) -> Mapping[str, StreamMark]:
        """Where each healthy log ends for readers now (what a snapshot covers)."""
        ...

    def feed_columns(self) -> Mapping[str, bytes]:
        """The global feed index as it stands, for a snapshot."""
        ...


def _new_digest() -> Any:
    return hashlib.blake2b(digest_size=16)


@define(eq=False)  # identity: one object per open log
class _StreamFile:
    """Commit-side state of one log file."""

    stream: str
    path: Path
    seq: int = 0
    last_hash: str = GENESIS
    length: int = 0  # bytes known durable
    fd: int | None = None
    damage: Damage | None = None
    failed: str | None = None  # fsync failed: the page cache is untrusted until restart
    # Where readers (and snapshots) see it end: updated on the event loop as appends publish.
    mark: StreamMark | None = None
    # BLAKE2b of every durable byte, kept running by the commit thread for snapshot marks.
    digest: Any = attrs.Factory(_new_digest)


@define
class _Pending:
    file: _StreamFile
    data: bytes
    records: list[Recorded]
    last_hash: str
    done: asyncio.Future[None]
    offset: int = -1  # where its bytes start in the file, once durable


class PosixIO:
    """The two system calls a commit makes; tests swap in one that raises real OSErrors."""

    def write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def fsync_dir(self, directory: Path) -> None:
        fsync_dir(directory)

    def syncfs(self, fd: int) -> None:
        """Flush the whole file system holding `fd` (Linux); elsewhere, raise to fall back."""
        if _libc_syncfs is None:
            raise OSError(errno.ENOSYS, "syncfs is not available")
        if _libc_syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))


class FileLog:
    """Per-stream JSONL files under a data directory, with group commit.

    `group_commit=False` commits each append on its own (one write and one fsync per append):
    the baseline the benchmark compares group commit against.
    """

    shared = False  # this process alone appends (the data dir is locked)

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        io: PosixIO | None = None,
        group_commit: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._io = io or PosixIO()
        self._group_commit = group_commit
        self.sessions_dir = self.data_dir / "sessions"
        self.quarantine_dir = self.data_dir / "quarantine"
        self._files: dict[str, _StreamFile] = {}
        self._pending: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orion-commit")
        self._committer: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        self._closing = False
        self._next_position = 1
        self._feed = FeedIndex()
        self._recent: dict[int, Recorded] = {}
        self._recent_order: deque[int] = deque()
        self._advanced = asyncio.Event()

    def path_of(self, stream: str) -> Path:
        if stream in TOP_LEVEL_STREAMS:
            return self.data_dir / f"{stream}.jsonl"
        if not is_session_id(stream):
            raise ValueError(f"not a stream id: {stream!r}")
        return self.sessions_dir / f"{stream}.jsonl"

    # -- start-up ---------------------------------------------------------------------------

    async def open(
        self, each: Callable[[LoadedStream], None] | None = None, resume: Resume | None = None
    ) -> list[LoadedStream]:
        loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(self._executor, self._open_sync, each, resume)
        self._committer = asyncio.create_task(self._commit_loop(), name="orion-committer")
        return loaded

    def _open_sync(
        self, each: Callable[[LoadedStream], None] | None, resume: Resume | None
    ) -> list[LoadedStream]:
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        streams = [s for s in TOP_LEVEL_STREAMS if self.path_of(s).exists()]
        for path in sorted(self.sessions_dir.iterdir()):
            if path.suffix == ".jsonl" and is_session_id(path.stem):
                streams.append(path.stem)
            else:
                log.warning("ignoring %s: not a session log", path)
        marks: Mapping[str, StreamMark] = {}
        digests: dict[str, Any] = {}
        if resume is not None:
            problem, digests = self._check_marks(resume.marks, set(streams))
            if problem is None:
                marks = resume.marks
            else:
                log.warning("not using the snapshot: %s; replaying every log", problem)
        loaded: list[LoadedStream] = []
        logs = []
        for stream in streams:
            stream_load, offsets = self._load_file(
                stream, self.path_of(stream), marks.get(stream), digests.get(stream)
            )
            if each is None:
                loaded.append(stream_load)
            else:
                each(stream_load)
            # Arrays, not lists: a million Python ints held to the end of the load would leave
            # their memory behind, fragmented among the views', once freed.
            positions = array("q", [r.position for r in stream_load.records])
            first = stream_load.resumed_after + 1
            lines = (stream, first, positions, array("q", offsets), self._files[stream].length)
            logs.append(lines)
        if marks and resume is not None:
            # The snapshot's index holds every event up to its position; what the logs add
            # since (tails, new logs) comes after it.
            self._feed, clashes = FeedIndex.resumed(resume.feed, resume.position, logs)
        else:
            self._feed, clashes = FeedIndex.from_logs(logs)
        if clashes:
            log.warning(
                "%d events share a global position with another (first: %s seq %d at %d); "
                "they stay in their session logs but not in the global feed",
                len(clashes),
                clashes[0].stream,
                clashes[0].seq,
                clashes[0].position,
            )
        self._next_position = self._feed.last_position + 1
        return loaded

    def _check_marks(
        self, marks: Mapping[str, StreamMark], streams: set[str]
    ) -> tuple[str | None, dict[str, Any]]:
        """Why the logs no longer extend what a snapshot saw (None when every one does), and
        the running digest of each marked log's prefix, to go on with.

        Hashing every log's prefix is most of a start from a snapshot; reads and BLAKE2b both
        let go of the GIL, so a few threads hash the logs side by side.
        """
        for stream in marks:
            if stream not in streams:
                return f"{stream} has no log any more", {}
        items = list(marks.items())
        step = max(1, len(items) // (4 * _HASHERS))
        chunks = [items[i : i + step] for i in range(0, len(items), step)]
        digests: dict[str, Any] = {}
        with ThreadPoolExecutor(_HASHERS, thread_name_prefix="orion-marks") as pool:
            for checked in pool.map(self._prefix_digests, chunks):
                if isinstance(checked, str):
                    return checked, {}
                digests.update(checked)
        return None, digests

    def _prefix_digests(self, marks: list[tuple[str, StreamMark]]) -> dict[str, Any] | str:
        """The digest of each log's prefix up to its mark, or why one does not match."""
        digests: dict[str, Any] = {}
        for stream, mark in marks:
            path = self.path_of(stream)
            try:
                with open(path, "rb") as f:
                    prefix = f.read(mark.length)
            except OSError as exc:
                return f"{path}: {exc}"
            digest = _new_digest()
            digest.update(prefix)
            if len(prefix) < mark.length or digest.hexdigest() != mark.digest:
                return f"{path} changed before seq {mark.seq}"
            digests[stream] = digest
        return digests

    def _lock(self) -> None:
        self._lock_fd = lock_data_dir(self.data_dir)

    def _load_file(
        self, stream: str, path: Path, mark: StreamMark | None, digest: Any = None
    ) -> tuple[LoadedStream, list[int]]:
        """Read and check one log, or only what follows `mark` when a snapshot covers the rest."""
        base, seq, last_hash, last_line = 0, 0, GENESIS, -1
        if mark is not None:
            base, seq, last_hash, last_line = mark.length, mark.seq, mark.last_hash, mark.last_line
        with open(path, "rb") as f:
            f.seek(base)
            data = f.read()
        result = scan(data, stream, first_seq=seq + 1, prev=last_hash, base=base)
        seq += len(result.records)
        file = _StreamFile(stream, path, seq, result.last_hash, result.good_length)
        if digest is not None:
            file.digest = digest
        file.digest.update(memoryview(data)[: result.good_length - base])
        if result.records:
            last_line = result.offsets[-1]
        if seq:
            file.mark = StreamMark(
                seq, result.good_length, result.last_hash, last_line, file.digest.hexdigest()
            )
        cut_tail = None
        if result.damage is not None and result.damage.is_torn_tail:
            self._cut_tail(file, data[result.good_length - base :], result)
            cut_tail = result.damage
        elif result.damage is not None:
            file.damage = result.damage
            log.error("%s is damaged at %s: served read-only", path, result.damage.describe())
        self._files[stream] = file
        resumed = 0 if mark is None else mark.seq
        return LoadedStream(stream, result.records, file.damage, cut_tail, resumed), result.offsets

    def _cut_tail(self, file: _StreamFile, tail: bytes, result: Scan) -> None:
        """Keep a torn or failing last line aside in quarantine/, then cut it from the log.

        It was never acknowledged: an append is answered only after its fsync, and a crash before
        the fsync finished is the only way a last line can be torn.
        """
        assert result.damage is not None
        self.quarantine_dir.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        kept = unique_path(
            self.quarantine_dir / f"{file.stream}.line{result.damage.line}.{stamp}.tail"
        )
        with open(kept, "xb") as out:
            out.write(tail)
            out.flush()
            os.fsync(out.fileno())
        self._io.fsync_dir(self.quarantine_dir)
        with open(file.path, "r+b") as f:
            f.truncate(result.good_length)
            os.fsync(f.fileno())
        log.warning(
            "%s: cut %d bytes at %s; kept in %s",
            file.path,
            len(tail),
            result.damage.describe(),
            kept,
        )

    # -- appends ------------------------------------------------------------------------------

    async def append(self, stream: str, records: Sequence[Recorded]) -> list[Recorded]:
        if self._closing or self._committer is None:
            raise StorageUnavailable("the log is closed")
        file = self._files.get(stream)
        if file is None:
            file = self._files[stream] = _StreamFile(stream, self.path_of(stream))
        if file.damage is not None:
            raise SessionReadOnly(
                f"this session's log is damaged at {file.damage.describe()}; it is read-only"
            )
        if file.failed is not None:
            raise StorageUnavailable(f"this log is read-only until restart: {file.failed}")
        if not records or records[0].seq != file.seq + 1:
            raise VersionConflict(f"stream {stream} is at seq {file.seq}")
        # Positions are given in the order appends arrive, which is the order they are written
        # and committed in, so position n is never readable after n + 1.
        first = self._next_position
        positioned = [
            Recorded(r.stream, r.seq, r.id, r.at, r.event, first + i, r.meta)
            for i, r in enumerate(records)
        ]
        self._next_position += len(positioned)
        data, last_hash = encode_batch(positioned, file.last_hash)
        done = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(file, data, positioned, last_hash, done))
        self._wakeup.set()
        await done
        return positioned

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._group_commit:
                batch, self._pending = self._pending, []
            else:
                batch, self._pending = self._pending[:1], self._pending[1:]
                if self._pending:
                    self._wakeup.set()
            if batch:
                before = {p.file: p.file.length for p in batch}
                try:
                    errors = await loop.run_in_executor(self._executor, self._commit_sync, batch)
                except Exception as exc:  # anything but the OSErrors _commit_sync answers itself
                    errors = self._abandon(before, exc)
                for pending in batch:
                    error = errors.get(pending.file.stream)
                    if error is None:
                        self._publish(pending)
                    if pending.done.done():
                        continue
                    if error is None:
                        pending.done.set_result(None)
                    else:
                        pending.done.set_exception(error)
                # After the appenders resume (their wake-ups are queued first), so a live reader
                # woken by this finds the views already current.
                loop.call_soon(self._announce)
            if self._closing and not self._pending:
                return

    def _commit_sync(self, batch: list[_Pending]) -> dict[str, StorageUnavailable]:
        """Write then fsync every stream in the batch; the errors by stream of those that failed.

        Runs on the commit thread: the only place that writes logs. A failed write is cut back to
        the last durable length so no partial line stays behind; a failed fsync leaves the page
        cache untrusted, so that log refuses writes until a restart re-reads it from disk.
        """
        by_file: dict[str, list[_Pending]] = {}
        for pending in batch:
            by_file.setdefault(pending.file.stream, []).append(pending)
        errors: dict[str, StorageUnavailable] = {}
        written: list[tuple[_StreamFile, list[_Pending], int]] = []
        new_dirs: set[Path] = set()
        for stream, entries in by_file.items():
            file = entries[0].file
            data = b"".join(p.data for p in entries)
            try:
                if file.fd is None:
                    if not file.path.exists():
                        new_dirs.add(file.path.parent)
                    file.fd = os.open(file.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._io.write(file.fd, data)
            except OSError as exc:
                errors[stream] = self._undo_write(file, exc)
                continue
            written.append((file, entries, len(data)))
        for file, sync_error in self._sync([w[0] for w in written], new_dirs).items():
            errors[file.stream] = self._fail_fsync(file, sync_error)
        for file, entries, _ in written:
            if file.stream not in errors:
                for pending in entries:
                    pending.offset = file.length
                    file.length += len(pending.data)
                    file.digest.update(pending.data)
                file.seq, file.last_hash = entries[-1].records[-1].seq, entries[-1].last_hash
        return errors

    def _sync(self, files: list[_StreamFile], new_dirs: set[Path]) -> dict[_StreamFile, OSError]:
        """Make the written files (and new directory entries) durable; the files that failed.

        Many files take one syncfs, not one fsync each: per-file fsyncs cap durable appends
        across sessions near 10k/s, one syncfs per batch does not. If syncfs fails, fsync each
        file: the kernel reports a writeback error to fsync per file, so only the log that
        really failed turns read-only.
        """
        if len(files) > 1:
            try:
                self._io.syncfs(files[0].fd)  # type: ignore[arg-type]
                return {}
            except OSError as exc:
                log.warning("syncfs failed (%s); syncing each log to find which failed", exc)
        failed: dict[_StreamFile, OSError] = {}
        for directory in new_dirs:
            try:
                self._io.fsync_dir(directory)
            except OSError as exc:
                failed.update(
                    (f, exc) for f in files if f.path.parent == directory and f.length == 0
                )
        for file in files:
            if file not in failed:
                try:
                    self._io.fsync(file.fd)  # type: ignore[arg-type]
                except OSError as exc:
                    failed[file] = exc
        return failed

    def _abandon(
        self, before: dict[_StreamFile, int], exc: Exception
    ) -> dict[str, StorageUnavailable]:
        """Fail a batch whose commit raised something unforeseen, and keep the committer alive.

        Where the commit stopped is unknown: a write may be half done, an fsync may have failed
        unseen, or a file's length, seq and hash may be advanced while another's are not. So,
        as after a failed fsync, every log the batch touched refuses writes until a restart
        re-reads it from disk; logs it did not touch are as they were and carry on. Refusing
        every log instead would turn one bad batch (or one bug) into an outage of all sessions.
        """
        log.error("commit failed unexpectedly; its logs are read-only until restart", exc_info=exc)
        reason = f"the commit failed unexpectedly: {type(exc).__name__}: {exc}"
        errors: dict[str, StorageUnavailable] = {}
        for file, length in before.items():
            file.failed = reason
            file.length = length
            # Best effort, as after a failed fsync: the lines are answered 503, so they should not
            # turn up after a restart. Done here, not on the commit thread, which may be the very
            # thing that failed (an executor shut down); it is idle, so nothing races the fd.
            if file.fd is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(file.fd, length)
            errors[file.stream] = StorageUnavailable(
                f"could not write the log: {type(exc).__name__}"
            )
        return errors

    def _undo_write(self, file: _StreamFile, exc: OSError) -> StorageUnavailable:
        try:
            if file.fd is not None:
                os.ftruncate(file.fd, file.length)
        except OSError as truncate_exc:
            file.failed = f"could not cut back a failed write: {truncate_exc}"
        log.error("%s: write failed: %s", file.path, exc)
        return StorageUnavailable(f"could not write the log: {_reason(exc)}")

    def _fail_fsync(self, file: _StreamFile, exc: OSError) -> StorageUnavailable:
        file.failed = f"fsync failed: {_reason(exc)}"
        # Best effort: the lines were answered 503, so they should not turn up after a restart.
        with contextlib.suppress(OSError):
            os.ftruncate(file.fd, file.length)  # type: ignore[arg-type]
        log.error("%s: fsync failed, read-only until restart: %s", file.path, exc)
        return StorageUnavailable(f"could not make the log durable: {_reason(exc)}")

    # -- reads and shutdown -------------------------------------------------------------------

    async def read(self, stream: str, after: int = 0) -> list[Recorded]:
        file = self._files.get(stream)
        if file is None or file.length == 0:
            return []  # unknown, or its first append failed: nothing durable to read
        length = file.length  # never read past what is durable, even mid-commit
        # Open, read and close in one call on a worker thread: a reader cancelled meanwhile
        # (a client gone, a shutdown) cannot leave the file open.
        data = await _read_prefix(file.path, length)
        # Whole: a file's lines have no index by seq, and only a replica (never this log,
        # which one process owns) asks for tails often.
        records = scan(data, stream).records
        return records[after:] if after else records

    def _publish(self, pending: _Pending) -> None:
        """Make a durable append readable in the global feed."""
        offset = pending.offset
        for recorded, line in zip(pending.records, pending.data.splitlines(True), strict=True):
            self._feed.add(
                FeedEntry(recorded.position, recorded.stream, recorded.seq, offset, len(line))
            )
            last_line = offset
            offset += len(line)
            self._recent[recorded.position] = recorded
            self._recent_order.append(recorded.position)
        while len(self._recent_order) > RECENT_EVENTS:
            del self._recent[self._recent_order.popleft()]
        last, file = pending.records[-1], pending.file
        file.mark = StreamMark(
            last.seq, offset, pending.last_hash, last_line, file.digest.hexdigest()
        )

    def marks(self) -> dict[str, StreamMark]:
        """Where each healthy log ends for readers: what a snapshot taken now covers."""
        return {
            stream: file.mark
            for stream, file in self._files.items()
            if file.mark is not None and file.damage is None and file.failed is None
        }

    def feed_columns(self) -> dict[str, bytes]:
        return self._feed.columns()

    @property
    def snapshot_dir(self) -> Path:
        return self.data_dir / "snapshots"

    def _announce(self) -> None:
        self._advanced.set()
        self._advanced = asyncio.Event()

    @property
    def last_position(self) -> int:
        return self._feed.last_position

    async def wait_beyond(self, position: int) -> None:
        while self._feed.last_position <= position and not self._closing:
            await self._advanced.wait()

    async def read_all(self, after: int, limit: int) -> list[Recorded]:
        entries = self._feed.after(after, limit)
        if all(e.position in self._recent for e in entries):
            return [self._recent[e.position] for e in entries]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._read_entries, entries)

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
                    fd = handles[entry.stream] = os.open(self.path_of(entry.stream), os.O_RDONLY)
                line = os.pread(fd, entry.length, entry.offset)
                recorded, _ = decode(line[:-1], stream=entry.stream, seq=entry.seq, prev=None)
                out.append(recorded)
        finally:
            for fd in handles.values():
                os.close(fd)
        return out

    def damaged(self) -> dict[str, Damage]:
        return {s: f.damage for s, f in self._files.items() if f.damage is not None}

    def failed(self) -> dict[str, str]:
        return {s: f.failed for s, f in self._files.items() if f.failed is not None}

    async def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        self._announce()  # live readers end
        if self._committer is not None:
            await self._committer
            self._committer = None
        for file in self._files.values():
            if file.fd is not None:
                os.close(file.fd)
                file.fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._executor.shutdown(wait=True)


def lock_data_dir(data_dir: Path) -> int:
    """Hold `data_dir` for this process (released when the returned fd closes or it exits)."""
    fd = os.open(data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirLocked(
            f"{data_dir} is in use by another orion-events process; "
            "stop it first or choose another --data-dir"
        ) from None
    return fd


def _read_prefix_sync(path: Path, length: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(length)


_read_prefix = aiofiles.os.wrap(_read_prefix_sync)


def unique_path(path: Path) -> Path:
    """`path`, or the first `path.N` that does not exist yet: never overwrite kept bytes."""
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{n}")
        n += 1
    return candidate


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "error")
    return f"{name} ({exc.strerror or exc})"
