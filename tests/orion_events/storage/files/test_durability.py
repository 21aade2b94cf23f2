"""Durability on real files: every touched log is synced before an answer, side by side on
several threads, and a new log is named only once its first lines are durable.

The log's system calls go through a PosixIO subclass that makes every call for real and counts
it, and tracks which files (by inode: a new log is renamed after its sync) hold bytes no sync
has covered yet, so a test can tell an append that returned before its bytes were durable from
one that did not. The power-cut tests (tests/powercut) prove the same on a disk that forgets.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import uuid
from pathlib import Path

import pytest

from orion_events.domain.errors import StorageUnavailable
from orion_events.domain.events import MessageAdded, Recorded, SessionCreated
from orion_events.storage.files.durable import PosixIO
from orion_events.storage.files.log import FileLog
from tests.orion_events.support import (
    assert_chain,
    assert_verifies,
    everything,
    log_path,
    open_store,
)

STAMP = "2025-11-10T12:00:05.123456Z"


class CountingIO(PosixIO):
    """Real writes and syncs, each recorded as (call, real path); `dir_errno` fails fsync_dir.

    Paths are compared with ones under tmp_path, which pytest gives already resolved.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, Path]] = []
        self.unsynced: set[int] = set()  # inodes written to since their last sync
        self.sync_threads: set[str] = set()
        self.dir_errno: int | None = None

    @staticmethod
    def _path(fd: int) -> Path:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))

    def write(self, fd: int, data: bytes | bytearray) -> None:
        super().write(fd, data)
        self.unsynced.add(os.fstat(fd).st_ino)

    def fdatasync(self, fd: int) -> None:
        self.calls.append(("fdatasync", self._path(fd)))
        self.sync_threads.add(threading.current_thread().name)
        super().fdatasync(fd)
        self.unsynced.discard(os.fstat(fd).st_ino)

    def syncfs(self, fd: int) -> None:
        self.calls.append(("syncfs", self._path(fd)))
        super().syncfs(fd)
        self.unsynced.clear()  # every file here is on the one file system under tmp_path

    def fsync_dir(self, directory: Path) -> None:
        self.calls.append(("fsync_dir", directory.resolve()))
        if self.dir_errno is not None:
            raise OSError(self.dir_errno, os.strerror(self.dir_errno), str(directory))
        super().fsync_dir(directory)

    def count(self, *names: str) -> int:
        return sum(1 for name, _ in self.calls if name in names)


def new_name(path: Path) -> Path:
    return path.with_name(path.name + ".new")


def record(stream: str, seq: int) -> Recorded:
    event = (
        SessionCreated(title=None, metadata={})
        if seq == 1
        else MessageAdded(str(uuid.uuid4()), "user", f"{stream} {seq}")
    )
    return Recorded(stream, seq, str(uuid.uuid4()), STAMP, event)


# -- group commit -------------------------------------------------------------------------------

STREAMS, PER_STREAM = 8, 8
APPENDS = STREAMS * PER_STREAM


@pytest.mark.parametrize("group_commit", [True, False], ids=["group", "one-by-one"])
async def test_concurrent_appends_share_syncs_and_each_is_durable_when_it_returns(
    data_dir: Path, group_commit: bool
) -> None:
    io = CountingIO()
    log = FileLog(data_dir, io=io, group_commit=group_commit)
    await log.open()
    streams = [str(uuid.uuid4()) for _ in range(STREAMS)]

    async def write(stream: str) -> None:
        # A stream's appends follow one another (each continues the seq of the one before);
        # the streams append side by side.
        path = log.path_of(stream)
        for seq in range(1, PER_STREAM + 1):
            recorded = record(stream, seq)
            await log.append(stream, [recorded])
            assert path not in io.unsynced, f"seq {seq} of {stream} returned before a sync"
            assert assert_chain(path, seq)[-1]["id"] == recorded.id

    try:
        await asyncio.gather(*(write(s) for s in streams))
    finally:
        await log.close()

    # No file is ever left to syncfs, which saves nothing on a file system without it.
    assert io.count("syncfs") == 0
    # One sync per touched file per commit: each stream's appends follow one another, so each
    # commit holds at most one of each and every append was synced once.
    assert io.count("fdatasync") == APPENDS
    names_synced = io.calls.count(("fsync_dir", log.sessions_dir))
    if group_commit:
        # A commit of many logs syncs them side by side, not one after another, and the new
        # logs it names share one sync of their directory.
        assert len(io.sync_threads) > 1, io.sync_threads
        assert 1 <= names_synced < STREAMS
    else:
        # The baseline: one write and one sync per append, on the commit thread, and one sync
        # of sessions/ per new log.
        assert len(io.sync_threads) == 1, io.sync_threads
        assert names_synced == STREAMS
    for stream in streams:
        assert len(assert_chain(log.path_of(stream), PER_STREAM)) == PER_STREAM
    assert_verifies(data_dir)


# -- the directory entry of a new log -----------------------------------------------------------


async def test_a_new_log_is_named_durably_before_its_first_append_returns(data_dir: Path) -> None:
    io = CountingIO()
    store = await open_store(data_dir, io)
    sessions_dir = data_dir / "sessions"
    try:
        # Opening made the data dir and its sessions/, each name synced into its parent.
        assert io.calls == [("fsync_dir", data_dir.parent), ("fsync_dir", data_dir)]
        io.calls.clear()
        session = await store.create_session(title="new log")
        path = log_path(data_dir, session.id)
        # The bytes first, under a name no start-up takes for a log; then the name: a crash
        # after the answer loses neither, and none leaves a log without its first line.
        assert io.calls == [("fdatasync", new_name(path)), ("fsync_dir", sessions_dir)]
        assert path.exists()
        assert not new_name(path).exists()

        io.calls.clear()
        await store.add_message(session.id, role="user", content="the name is durable already")
        assert io.calls == [("fdatasync", path)]

        io.calls.clear()
        await store.change_settings({"theme": "light"})
        settings_path = data_dir / "settings.jsonl"
        assert io.calls == [("fdatasync", new_name(settings_path)), ("fsync_dir", data_dir)]
    finally:
        await store.close()


async def test_a_failed_fsync_of_sessions_fails_the_first_append_unacknowledged(
    data_dir: Path,
) -> None:
    io = CountingIO()
    store = await open_store(data_dir, io)
    sessions_dir = data_dir / "sessions"
    try:
        kept = await store.create_session(title="kept")
        before = everything(store)
        existing = set(sessions_dir.iterdir())

        io.dir_errno = errno.EIO
        io.calls.clear()
        with pytest.raises(StorageUnavailable):
            await store.create_session(title="lost: its name may not survive a crash")
        assert ("fsync_dir", sessions_dir) in io.calls
        assert everything(store) == before
        # No file is left behind under either name: the session never was.
        assert set(sessions_dir.iterdir()) == existing
        assert store.health()["status"] == "ok"

        # Logs that already have a durable name need no fsync of sessions/ and carry on.
        view = await store.add_message(kept.id, role="user", content="still writable")
        assert view.version == 2
        io.dir_errno = None
        fresh = await store.create_session(title="created once sessions/ syncs again")
        served = everything(store)
    finally:
        await store.close()

    again = await open_store(data_dir)
    try:
        assert everything(again) == served
        assert {v.id for v in again.sessions().sessions} == {kept.id, fresh.id}
    finally:
        await again.close()
    assert_verifies(data_dir)
