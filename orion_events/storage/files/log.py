"""The JSONL-file backend of the log port (storage/port.py): a log file per stream.

The file backend is the only code that touches the data directory. Appends from every stream are
group-committed: while one batch is being written and synced on the commit thread (commit.py),
the next one gathers, so one thread hop and one sync per touched file serve many requests, and
an append returns only once its bytes, and a new log's name, are durable. Start-up is in
startup.py, reads in reads.py.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from orion_events.domain.errors import SessionReadOnly, StorageUnavailable, VersionConflict
from orion_events.domain.events import Recorded
from orion_events.domain.streams import TOP_LEVEL_STREAMS
from orion_events.storage.codec import Damage, encode_batch
from orion_events.storage.commit_queue import CommitQueue
from orion_events.storage.files import loss
from orion_events.storage.files.commit import (
    MAX_OPEN_LOGS,
    Committer,
    Pending,
    StreamFile,
    SyncMode,
)
from orion_events.storage.files.datadir import lock_data_dir, log_path
from orion_events.storage.files.durable import PosixIO, require_syncfs
from orion_events.storage.files.lineindex import LogSpan
from orion_events.storage.files.reads import LogReads
from orion_events.storage.files.startup import DataDirLoader
from orion_events.storage.port import LoadedStream, Resume, StreamMark
from orion_events.storage.readpool import ReadPool


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
        self._sync_mode = sync
        self._commit = Committer(self._io, sync, max_open)
        self.sessions_dir = self.data_dir / "sessions"
        self.quarantine_dir = self.data_dir / "quarantine"
        self._files: dict[str, StreamFile] = {}
        self._lost: dict[str, Damage] = {}  # logs (or sessions/) gone that once held events
        self._queue = CommitQueue(self._commit_batch, grouped=group_commit)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orion-commit")
        self._commit_task: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        self._closing = False
        self._next_position = 1
        self._reads = LogReads(self.path_of)

    @property
    def io(self) -> PosixIO:
        return self._io

    def path_of(self, stream: str) -> Path:
        return log_path(self.data_dir, stream)

    # -- start-up ---------------------------------------------------------------------------

    async def open(
        self, each: Callable[[LoadedStream], None] | None = None, resume: Resume | None = None
    ) -> list[LoadedStream]:
        loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(self._executor, self._open_sync, each, resume)
        self._commit_task = asyncio.create_task(self._queue.run(), name="orion-committer")
        return loaded

    def _open_sync(
        self, each: Callable[[LoadedStream], None] | None, resume: Resume | None
    ) -> list[LoadedStream]:
        if not self.data_dir.exists():
            self._io.make_dirs(self.data_dir)
        if self._sync_mode == "syncfs":
            require_syncfs(self.data_dir)
        self._lock_fd = lock_data_dir(self.data_dir)
        loader = DataDirLoader(self.data_dir, self._io, self._files, self._lost)
        loaded, self._reads.feed = loader.load(each, resume)
        self._next_position = self._reads.feed.last_position + 1
        return loaded

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
        self._queue.put(Pending(file, data, positioned, last_hash, done))
        await done
        return positioned

    async def _commit_batch(self, batch: list[Pending]) -> None:
        """Commit `batch` on the commit thread, publish what became durable, answer each."""
        loop = asyncio.get_running_loop()
        before = {p.file: p.file.length for p in batch}
        try:
            errors = await loop.run_in_executor(self._executor, self._commit.commit, batch)
        except Exception as exc:  # anything but the OSErrors commit() answers itself
            errors = self._commit.abandon(before, exc)
        for pending in batch:
            error = errors.get(pending.file.stream)
            if error is None:
                self._reads.publish(pending)
            if pending.done.done():
                continue
            if error is None:
                pending.done.set_result(None)
            else:
                pending.done.set_exception(error)
        # After the appenders resume (their wake-ups are queued first), so a live reader
        # woken by this finds the views already current.
        loop.call_soon(self._reads.announce)

    # -- reads --------------------------------------------------------------------------------

    async def read(self, stream: str, after: int = 0, limit: int | None = None) -> list[Recorded]:
        return await self._reads.read(self._files.get(stream), after, limit)

    async def span(self, stream: str, after: int = 0, limit: int | None = None) -> LogSpan | None:
        return await self._reads.span(self._files.get(stream), after, limit)

    @property
    def reads(self) -> ReadPool:
        return self._reads.pool

    async def read_all(self, after: int, limit: int) -> list[Recorded]:
        return await self._reads.read_all(after, limit)

    @property
    def last_position(self) -> int:
        return self._reads.feed.last_position

    async def wait_beyond(self, position: int) -> None:
        await self._reads.wait_beyond(position)

    # -- what snapshots and health checks see ---------------------------------------------------

    def marks(self) -> dict[str, StreamMark]:
        """Where each healthy log ends for readers: what a snapshot taken now covers."""
        return {
            stream: file.mark
            for stream, file in self._files.items()
            if file.mark is not None and file.damage is None and file.failed is None
        }

    def feed_columns(self) -> dict[str, bytes]:
        return self._reads.feed.columns()

    @property
    def snapshot_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def has_loss(self) -> bool:
        """Whether start-up found acknowledged writes gone (loss.py): while it stands, no new
        snapshot may replace the one whose marks show it."""
        return bool(self._lost) or any(
            f.damage is not None and f.damage.kind in loss.KINDS for f in self._files.values()
        )

    def failed(self) -> dict[str, str]:
        return {s: f.failed for s, f in self._files.items() if f.failed is not None}

    async def close(self) -> None:
        self._closing = True
        self._queue.close()
        self._reads.end()  # live readers end
        if self._commit_task is not None:
            await self._commit_task
            self._commit_task = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._executor.shutdown(wait=True)
        self._commit.close()
        self._reads.close()
