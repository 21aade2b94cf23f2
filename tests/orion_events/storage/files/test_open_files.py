"""A bounded set of open log files (SPEC §12): the least recently used closed, reopened on demand.

Counted in /proc/self/fd, the kernel's own list of what this process holds open, so a log that
kept its fd would show whatever the log's own bookkeeping says.
"""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from orion_events.domain.errors import StorageUnavailable
from orion_events.storage.files.durable import PosixIO
from orion_events.storage.files.log import FileLog
from orion_events.store.store import Store
from tests.orion_events.support import assert_verifies, read_lines


def open_logs(data_dir: Path) -> int:
    """Files under `data_dir` this process has open now."""
    held = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        held += target.startswith(str(data_dir)) and target.endswith((".jsonl", ".new"))
    return held


async def test_thousands_of_sessions_written_in_turn_hold_at_most_max_open_files(
    data_dir: Path,
) -> None:
    store = Store(FileLog(data_dir, max_open=8))
    await store.open()
    most = 0
    try:
        sessions = []
        for i in range(300):
            sessions.append((await store.create_session(title=f"s{i}")).id)
            most = max(most, open_logs(data_dir))
        for round_ in range(3):  # back to the oldest: each is reopened and appended to
            for session_id in sessions:
                await store.add_message(session_id, role="user", content=f"round {round_}")
                most = max(most, open_logs(data_dir))
    finally:
        await store.close()
    assert most <= 8
    assert open_logs(data_dir) == 0
    for session_id in sessions:
        lines = read_lines(data_dir / "sessions" / f"{session_id}.jsonl")
        assert [line["seq"] for line in lines] == [1, 2, 3, 4]
    assert_verifies(data_dir)


async def test_a_batch_touching_more_logs_than_max_open_commits_whole(data_dir: Path) -> None:
    log = FileLog(data_dir, max_open=4)
    store = Store(log)
    await store.open()
    try:
        sessions = await asyncio.gather(*(store.create_session(title=f"s{i}") for i in range(40)))
        views = await asyncio.gather(
            *(store.add_message(s.id, role="user", content="all at once") for s in sessions)
        )
        assert all(v.version == 2 for v in views)
        assert open_logs(data_dir) <= 4
    finally:
        await store.close()
    store = Store(FileLog(data_dir))
    await store.open()
    try:
        assert {store.session(s.id).version for s in sessions} == {2}
    finally:
        await store.close()


class NoFilesLeft(PosixIO):
    """Real calls, but opening a log fails as a process out of descriptors does."""

    def __init__(self) -> None:
        self.exhausted = False

    def open(self, path: Path, flags: int) -> int:
        if self.exhausted:
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE), str(path))
        return super().open(path, flags)


async def test_a_create_that_cannot_open_its_log_leaves_no_file_and_no_phantom(
    data_dir: Path,
) -> None:
    io = NoFilesLeft()
    store = Store(FileLog(data_dir, io=io))
    await store.open()
    sessions_dir = data_dir / "sessions"
    try:
        kept = await store.create_session(title="kept")
        io.exhausted = True
        with pytest.raises(StorageUnavailable, match="EMFILE"):
            await store.create_session(title="never was")
        assert sorted(p.name for p in sessions_dir.iterdir()) == [f"{kept.id}.jsonl"]
        health = store.health()
        assert (health["status"], health["sessions"], health["read_only_sessions"]) == (
            "ok",
            1,
            [],
        )
        assert [v.id for v in store.sessions().sessions] == [kept.id]
        io.exhausted = False
        again = await store.create_session(title="once descriptors are back")
        assert again.version == 1
    finally:
        await store.close()
    assert_verifies(data_dir)
