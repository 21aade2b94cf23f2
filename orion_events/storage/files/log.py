"""The JSONL-file backend of the log port (storage/port.py): a log file per stream.

The file backend is the only code that touches the data directory. Appends from every stream are
group-committed: while one batch is being written and synced on the commit thread (commit.py),
the next one gathers, so one thread hop and one sync per touched file serve many requests, and
an append returns only once its bytes, and a new log's name, are durable.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from array import array
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from orion_events.domain.errors import (
    DataDirLocked,
    SessionReadOnly,
    StorageUnavailable,
    VersionConflict,
)
from orion_events.domain.events import Recorded
from orion_events.domain.streams import TOP_LEVEL_STREAMS, is_session_id
from orion_events.indexes.feed import FeedEntry, FeedIndex
from orion_events.storage.codec import GENESIS, Damage, Scan, decode, encode_batch, scan
from orion_events.storage.files import loss
from orion_events.storage.files.commit import (
    MAX_OPEN_LOGS,
    NEW_SUFFIX,
    Committer,
    Pending,
    StreamFile,
    SyncMode,
    new_digest,
)
from orion_events.storage.files.durable import PosixIO, require_syncfs
from orion_events.storage.files.lineindex import LineIndexes, LogSpan
from orion_events.storage.port import LoadedStream, Resume, StreamMark
from orion_events.storage.readpool import ReadPool

log = logging.getLogger(__name__)

_HASHERS = min(4, os.cpu_count() or 1)  # threads checking a snapshot's marks
_READ_HANDLES = 32  # logs a feed read keeps open at once
RECENT_EVENTS = 8192  # kept in memory for live readers of the feed, so they need no disk read


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
        sync: SyncMode = "fdatasync",
        max_open: int = MAX_OPEN_LOGS,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._io = io or PosixIO()
        self._group_commit = group_commit
        self._sync_mode = sync
        self._commit = Committer(self._io, sync, max_open)
        self.sessions_dir = self.data_dir / "sessions"
        self.quarantine_dir = self.data_dir / "quarantine"
        self._files: dict[str, StreamFile] = {}
        self._lost: dict[str, Damage] = {}  # logs (or sessions/) gone that once held events
        self._pending: list[Pending] = []
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orion-commit")
        self._commit_task: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        self._closing = False
        self._next_position = 1
        self._feed = FeedIndex()
        self._recent: dict[int, Recorded] = {}
        self._recent_order: deque[int] = deque()
        self._advanced = asyncio.Event()
        self._reads = ReadPool()
        self._lines = LineIndexes(self._reads)

    @property
    def io(self) -> PosixIO:
        return self._io

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
        self._commit_task = asyncio.create_task(self._commit_loop(), name="orion-committer")
        return loaded

    def _open_sync(
        self, each: Callable[[LoadedStream], None] | None, resume: Resume | None
    ) -> list[LoadedStream]:
        if not self.data_dir.exists():
            self._io.make_dirs(self.data_dir)
        if self._sync_mode == "syncfs":
            require_syncfs(self.data_dir)
        self._lock()
        streams = self._find_logs(resume.marks if resume is not None else {})
        marks: Mapping[str, StreamMark] = {}
        digests: dict[str, Any] = {}
        if resume is not None and not resume.whole:
            problem, digests = self._check_marks(resume.marks, set(streams))
            if problem is None:
                marks = resume.marks
            else:
                log.warning("not using the snapshot: %s; replaying every log", problem)
        loaded: list[LoadedStream] = []
        logs = []
        seen = resume.marks if resume is not None else {}
        for stream, lost in self._lost.items():  # nothing to read: only the report
            path = self.data_dir / stream if stream == "sessions/" else self.path_of(stream)
            self._files[stream] = StreamFile(stream, path, damage=lost)
            gone = LoadedStream(stream, [], lost, None)
            if each is None:
                loaded.append(gone)
            else:
                each(gone)
        for stream in streams:
            stream_load, offsets = self._load_file(
                stream, marks.get(stream), digests.get(stream), seen.get(stream)
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

    def _find_logs(self, marks: Mapping[str, StreamMark]) -> list[str]:
        """Every log in the data dir; logs and directories that were lost go in `_lost`.

        Logs being created when a crash came (never named, never answered) are set aside.
        """
        streams = [s for s in TOP_LEVEL_STREAMS if self.path_of(s).exists()]
        top = {s: self.path_of(s).stat().st_size for s in streams}
        gone = loss.missing_sessions_dir(self.data_dir, top)
        if gone is not None:
            # Not made again: an empty sessions/ would hide the loss from the next start.
            self._lost["sessions/"] = gone
            log.error("%s: %s", self.sessions_dir, gone.message)
        else:
            self._io.make_dirs(self.sessions_dir)  # its name durable before any log in it
        unnamed = [self.data_dir / f"{s}.jsonl{NEW_SUFFIX}" for s in TOP_LEVEL_STREAMS]
        for path in sorted(self.sessions_dir.iterdir()) if gone is None else []:
            if path.suffix == ".jsonl" and is_session_id(path.stem):
                streams.append(path.stem)
            elif path.name.endswith(".jsonl" + NEW_SUFFIX):
                unnamed.append(path)
            else:
                log.warning("ignoring %s: not a session log", path)
        self._set_aside([p for p in unnamed if p.exists()])
        self._lost.update(loss.missing_logs(marks, set(streams)))
        for stream, damage in self._lost.items():
            if stream != "sessions/":
                log.error("%s: %s", self.path_of(stream), damage.message)
        return streams

    def _set_aside(self, paths: list[Path]) -> None:
        """Move logs that were never named (a crash while creating them) to quarantine/."""
        if not paths:
            return
        self._io.make_dirs(self.quarantine_dir)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for path in paths:
            kept = unique_path(self.quarantine_dir / f"{path.name}.{stamp}")
            self._io.rename(path, kept)
            log.warning("%s was never named (a crash while creating it); kept in %s", path, kept)

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
            digest = new_digest()
            digest.update(prefix)
            if len(prefix) < mark.length or digest.hexdigest() != mark.digest:
                return f"{path} changed before seq {mark.seq}"
            digests[stream] = digest
        return digests

    def _lock(self) -> None:
        self._lock_fd = lock_data_dir(self.data_dir)

    def _load_file(
        self, stream: str, mark: StreamMark | None, digest: Any, seen: StreamMark | None
    ) -> tuple[LoadedStream, list[int]]:
        """Read and check one log, or only what follows `mark` when a snapshot covers the rest.

        `seen` is where a snapshot saw the log end, used or not: a log shorter is loss.
        """
        path = self.path_of(stream)
        base, seq, last_hash, last_line = 0, 0, GENESIS, -1
        if mark is not None:
            base, seq, last_hash, last_line = mark.length, mark.seq, mark.last_hash, mark.last_line
        with open(path, "rb") as f:
            f.seek(base)
            data = f.read()
        result = scan(data, stream, first_seq=seq + 1, prev=last_hash, base=base)
        seq += len(result.records)
        file = StreamFile(stream, path, seq, result.last_hash, result.good_length)
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
        if file.damage is None:
            file.damage = self._loss_in(stream, result, seq, seen)
        if file.damage is not None:
            log.error("%s is damaged at %s: served read-only", path, file.damage.describe())
        self._files[stream] = file
        resumed = 0 if mark is None else mark.seq
        return LoadedStream(stream, result.records, file.damage, cut_tail, resumed), result.offsets

    @staticmethod
    def _loss_in(stream: str, result: Scan, seq: int, seen: StreamMark | None) -> Damage | None:
        """What a whole, valid log still shows of lost writes: its start, or its end."""
        if seq == len(result.records):  # read from its first line, not resumed past a mark
            first = result.records[0] if result.records else None
            at_start = loss.of_log(
                stream, result.good_length, first, session=stream not in TOP_LEVEL_STREAMS
            )
            if at_start is not None:
                return at_start
        return None if seen is None else loss.against_mark(result.good_length, seq, seen)

    def _cut_tail(self, file: StreamFile, tail: bytes, result: Scan) -> None:
        """Keep a torn or failing last line aside in quarantine/, then cut it from the log.

        It was never acknowledged: an append is answered only after its fsync, and a crash before
        the fsync finished is the only way a last line can be torn.
        """
        assert result.damage is not None
        self._io.make_dirs(self.quarantine_dir)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        kept = unique_path(
            self.quarantine_dir / f"{file.stream}.line{result.damage.line}.{stamp}.tail"
        )
        # Kept durably before the cut, so no crash in between loses the bytes from both places.
        self._io.write_file(kept, [tail])
        self._io.truncate_file(file.path, result.good_length)
        log.warning(
            "%s: cut %d bytes at %s; kept in %s",
            file.path,
            len(tail),
            result.damage.describe(),
            kept,
        )

    # -- appends ------------------------------------------------------------------------------

    async def append(self, stream: str, records: Sequence[Recorded]) -> list[Recorded]:
        if self._closing or self._commit_task is None:
            raise StorageUnavailable("the log is closed")
        file = self._files.get(stream)
        if file is None:
            file = self._files[stream] = StreamFile(stream, self.path_of(stream))
        if file.damage is not None:
            raise SessionReadOnly(
                f"this session's log is damaged at {file.damage.describe()}; it is read-only"
            )
        if file.failed is not None:
            raise StorageUnavailable(f"this log is read-only until restart: {file.failed}")
        if "sessions/" in self._lost and stream not in TOP_LEVEL_STREAMS:
            raise StorageUnavailable(
                f"{self.sessions_dir} is missing, though the data dir was in use: restore it "
                "from a backup, or create it to go on without what it held"
            )
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
        self._pending.append(Pending(file, data, positioned, last_hash, done))
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
                    errors = await loop.run_in_executor(self._executor, self._commit.commit, batch)
                except Exception as exc:  # anything but the OSErrors commit() answers itself
                    errors = self._commit.abandon(before, exc)
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

    # -- reads and shutdown -------------------------------------------------------------------

    async def read(self, stream: str, after: int = 0, limit: int | None = None) -> list[Recorded]:
        span = await self.span(stream, after, limit)
        if span is None:
            return []
        return await self._reads.run(span.read, size=span.count)

    async def span(self, stream: str, after: int = 0, limit: int | None = None) -> LogSpan | None:
        file = self._files.get(stream)
        if file is None or file.mark is None:
            return None  # unknown, or its first append failed: nothing durable to read
        # As far as readers see the log (its mark moves as appends are published), never into
        # a batch still being committed.
        index = await self._lines.of(stream, file.path, file.mark.seq, file.mark.length)
        start, end, count = index.span(after, limit)
        return LogSpan(file.path, stream, start, end, after + 1, count) if count else None

    @property
    def reads(self) -> ReadPool:
        return self._reads

    def _publish(self, pending: Pending) -> None:
        """Make a durable append readable in the global feed."""
        offset = pending.offset
        for recorded, line in zip(pending.records, pending.data.splitlines(True), strict=True):
            self._feed.add(
                FeedEntry(recorded.position, recorded.stream, recorded.seq, offset, len(line))
            )
            self._lines.published(recorded.stream, offset, offset + len(line))
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
        return await self._reads.run(self._read_entries, entries, size=len(entries))

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
                    fd = handles[entry.stream] = os.open(self.path_of(entry.stream), os.O_RDONLY)
                line = os.pread(fd, entry.length, entry.offset)
                recorded, _ = decode(line[:-1], stream=entry.stream, seq=entry.seq, prev=None)
                out.append(recorded)
        finally:
            for fd in handles.values():
                os.close(fd)
        return out

    @property
    def has_loss(self) -> bool:
        """Whether start-up found acknowledged writes gone (loss.py): while it stands, no new
        snapshot may replace the one whose marks show it."""
        return bool(self._lost) or any(
            f.damage is not None and f.damage.kind in loss.KINDS for f in self._files.values()
        )

    def damaged(self) -> dict[str, Damage]:
        return {s: f.damage for s, f in self._files.items() if f.damage is not None}

    def failed(self) -> dict[str, str]:
        return {s: f.failed for s, f in self._files.items() if f.failed is not None}

    async def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        self._announce()  # live readers end
        if self._commit_task is not None:
            await self._commit_task
            self._commit_task = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._executor.shutdown(wait=True)
        self._commit.close()
        self._reads.close()


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


def unique_path(path: Path) -> Path:
    """`path`, or the first `path.N` that does not exist yet: never overwrite kept bytes."""
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{n}")
        n += 1
    return candidate
