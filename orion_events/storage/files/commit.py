"""The commit side of the file log: what one batch of appends does on the commit thread.

A batch writes every touched log, then makes all of them durable before any append in it is
answered: each file is fdatasync'd, side by side on a few threads when the batch touches many
(ext4 and xfs serve concurrent fsyncs with one journal commit, so eight syncs in parallel cost
little more than one), and a new log only gets its name once its first lines are durable: it is
written under a temporary name, synced, renamed into place, and its directory synced. So no log
ever exists, after any crash, without its creation event; an empty or headless log is loss, and
is reported as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import attrs
from attrs import define

from orion_events.domain.errors import StorageUnavailable
from orion_events.domain.events import Recorded
from orion_events.storage.codec import GENESIS, Damage
from orion_events.storage.files.durable import PosixIO
from orion_events.storage.port import StreamMark

log = logging.getLogger(__name__)

SyncMode = Literal["fdatasync", "syncfs"]
SYNC_THREADS = 8  # more gained nothing on ext4 here: the journal commit is the limit
MAX_OPEN_LOGS = 256  # log files kept open for appending; the least recently used are closed
NEW_SUFFIX = ".new"  # a log being created: never acknowledged, removed at start-up


def new_digest() -> Any:
    return hashlib.blake2b(digest_size=16)


@define(eq=False)  # identity: one object per open log
class StreamFile:
    """Commit-side state of one log file."""

    stream: str
    path: Path
    seq: int = 0
    last_hash: str = GENESIS
    length: int = 0  # bytes known durable
    fd: int | None = None
    damage: Damage | None = None
    failed: str | None = None  # a sync failed: the page cache is untrusted until restart
    # Where readers (and snapshots) see it end: updated on the event loop as appends publish.
    mark: StreamMark | None = None
    # BLAKE2b of every durable byte, kept running by the commit thread for snapshot marks.
    digest: Any = attrs.Factory(new_digest)

    @property
    def creating(self) -> Path:
        """Where the log's first batch is written before it is named: beside it, so the rename
        is atomic and one directory sync makes it durable."""
        return self.path.with_name(self.path.name + NEW_SUFFIX)


@define
class Pending:
    file: StreamFile
    data: bytes
    records: list[Recorded]
    last_hash: str
    done: asyncio.Future[None]
    offset: int = -1  # where its bytes start in the file, once durable


class Committer:
    """Writes and syncs batches; runs on the log's one commit thread, which alone writes logs."""

    def __init__(
        self, io: PosixIO, mode: SyncMode = "fdatasync", max_open: int = MAX_OPEN_LOGS
    ) -> None:
        self._io = io
        self._mode = mode
        self._syncers = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="orion-sync")
        # Logs with an open fd, least recently appended to first. Thousands of sessions each
        # written now and then must not hold thousands of descriptors: under the common soft
        # limit of 1,024 they would run the process out of them, and every create would fail.
        self._open_files: OrderedDict[StreamFile, None] = OrderedDict()
        self.max_open = max(1, max_open)

    def commit(self, batch: list[Pending]) -> dict[str, StorageUnavailable]:
        """Write then sync every stream in the batch; the errors by stream of those that failed.

        A failed write is cut back to the last durable length so no partial line stays behind;
        a failed sync leaves the page cache untrusted, so that log refuses writes until a restart
        re-reads it from disk. A log whose first batch fails is removed: it was never answered.
        """
        by_file: dict[StreamFile, list[Pending]] = {}
        for pending in batch:
            by_file.setdefault(pending.file, []).append(pending)
        errors: dict[str, StorageUnavailable] = {}
        written: list[StreamFile] = []
        self._make_room(len(by_file), keep=by_file)
        for file, entries in by_file.items():
            try:
                if file.fd is None:
                    file.fd = self._open(file)
                self._open_files[file] = None
                self._open_files.move_to_end(file)
                self._io.write(file.fd, b"".join(p.data for p in entries))
            except OSError as exc:
                errors[file.stream] = self._undo_write(file, exc)
                continue
            written.append(file)
        for file, sync_error in self._sync(written).items():
            errors[file.stream] = self._fail_sync(file, sync_error)
        for file in written:
            if file.stream in errors:
                continue
            entries = by_file[file]
            for pending in entries:
                pending.offset = file.length
                file.length += len(pending.data)
                file.digest.update(pending.data)
            file.seq, file.last_hash = entries[-1].records[-1].seq, entries[-1].last_hash
        self._make_room(0, keep={})  # a batch that went over gives its extra fds back
        return errors

    def _make_room(self, needed: int, keep: dict[StreamFile, list[Pending]]) -> None:
        """Close the least recently used logs until `needed` more fit under `max_open`; a batch
        touching more logs than that goes over for its own duration (its fds are needed)."""
        while len(self._open_files) + needed > self.max_open:
            oldest = next((f for f in self._open_files if f not in keep), None)
            if oldest is None:
                return
            self.forget(oldest)

    def forget(self, file: StreamFile) -> None:
        """Close a log's fd (it is opened again on its next append)."""
        self._open_files.pop(file, None)
        if file.fd is not None:
            fd, file.fd = file.fd, None
            with contextlib.suppress(OSError):  # a close that fails still frees the fd
                os.close(fd)

    @property
    def open_count(self) -> int:
        return len(self._open_files)

    def _open(self, file: StreamFile) -> int:
        """The log's fd for appending; a log with nothing durable yet is opened under its
        temporary name, truncating whatever an earlier failed attempt left there."""
        if file.length:
            return self._io.open(file.path, os.O_WRONLY | os.O_APPEND)
        return self._io.open(file.creating, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC)

    def _sync(self, files: list[StreamFile]) -> dict[StreamFile, OSError]:
        """Make the written files durable, then name the new ones; the files that failed."""
        failed = self._sync_data(files)
        new = [f for f in files if f.length == 0 and f not in failed]
        directories: dict[Path, list[StreamFile]] = {}
        for file in new:
            try:
                os.rename(file.creating, file.path)
            except OSError as exc:
                failed[file] = exc
                continue
            directories.setdefault(file.path.parent, []).append(file)
        for directory, named in directories.items():
            try:
                self._io.fsync_dir(directory)
            except OSError as exc:
                failed.update((f, exc) for f in named)
        return failed

    def _sync_data(self, files: list[StreamFile]) -> dict[StreamFile, OSError]:
        if self._mode == "syncfs" and len(files) > 1:
            try:
                self._io.syncfs(files[0].fd)  # type: ignore[arg-type]
                return {}
            except OSError as exc:
                log.warning("syncfs failed (%s); syncing each log to find which failed", exc)
        if len(files) == 1:
            return self._sync_one(files[0])
        failed: dict[StreamFile, OSError] = {}
        for result in self._syncers.map(self._sync_one, files):
            failed.update(result)
        return failed

    def _sync_one(self, file: StreamFile) -> dict[StreamFile, OSError]:
        try:
            self._io.fdatasync(file.fd)  # type: ignore[arg-type]
        except OSError as exc:
            return {file: exc}
        return {}

    def abandon(
        self, files: dict[StreamFile, int], exc: Exception
    ) -> dict[str, StorageUnavailable]:
        """Fail a batch whose commit raised something unforeseen, and keep the committer alive.

        Where the commit stopped is unknown: a write may be half done, a sync may have failed
        unseen, or a file's length, seq and hash may be advanced while another's are not. So,
        as after a failed sync, every log the batch touched refuses writes until a restart
        re-reads it from disk; logs it did not touch are as they were and carry on. Refusing
        every log instead would turn one bad batch (or one bug) into an outage of all sessions.
        Runs on the event loop, not the commit thread, which may be the very thing that failed
        (an executor shut down); it is idle, so nothing races the fds.
        """
        log.error("commit failed unexpectedly; its logs are read-only until restart", exc_info=exc)
        reason = f"the commit failed unexpectedly: {type(exc).__name__}: {exc}"
        errors: dict[str, StorageUnavailable] = {}
        for file, length in files.items():
            file.length = length
            self._cut_back(file)
            if length:
                file.failed = reason
            else:  # removed: the log starts afresh, as if this batch had never come
                file.seq, file.last_hash, file.digest = 0, GENESIS, new_digest()
            errors[file.stream] = StorageUnavailable(
                f"could not write the log: {type(exc).__name__}"
            )
        return errors

    def _undo_write(self, file: StreamFile, exc: OSError) -> StorageUnavailable:
        if not self._cut_back(file) and file.length:
            file.failed = "could not cut back a failed write"
        log.error("%s: write failed: %s", file.path, exc)
        return StorageUnavailable(f"could not write the log: {_reason(exc)}")

    def _fail_sync(self, file: StreamFile, exc: OSError) -> StorageUnavailable:
        log.error("%s: sync failed, read-only until restart: %s", file.path, exc)
        # Best effort: the lines are answered 503, so they should not turn up after a restart.
        self._cut_back(file)
        if file.length:  # a log that never was has no page cache to distrust
            file.failed = f"sync failed: {_reason(exc)}"
        return StorageUnavailable(f"could not make the log durable: {_reason(exc)}")

    def _cut_back(self, file: StreamFile) -> bool:
        """Take the log back to its durable length; a log that has none is removed entirely,
        under either name, so a failed create leaves no file (and no session) behind."""
        try:
            if file.length == 0:
                self.forget(file)
                for path in (file.creating, file.path):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
            elif file.fd is not None:
                os.ftruncate(file.fd, file.length)
        except OSError as exc:
            log.error("%s: could not cut back: %s", file.path, exc)
            return False
        return True

    def close(self) -> None:
        for file in list(self._open_files):
            self.forget(file)
        self._syncers.shutdown(wait=True)


def _reason(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "error")
    return f"{name} ({exc.strerror or exc})"
