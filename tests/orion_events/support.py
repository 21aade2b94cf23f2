"""Helpers the store tests share: opening a store, log paths and lines, dumps of what it serves."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import attrs
import orjson

from orion_events.domain.views import SessionView
from orion_events.ops.verify import verify_dir
from orion_events.storage.files.durable import PosixIO
from orion_events.storage.files.log import FileLog
from orion_events.store.store import LoadReport, Store


async def open_with_report(data_dir: Path) -> tuple[Store, LoadReport]:
    """A store opened on `data_dir`, and its report of what it found there (cut tails, damage)."""
    store = Store(FileLog(data_dir))
    return store, await store.open()


async def open_store(data_dir: Path, io: PosixIO | None = None) -> Store:
    store = Store(FileLog(data_dir, io=io))
    await store.open()
    return store


async def write_sessions(
    data_dir: Path, count: int, *, title: str, content: str, messages: int = 3
) -> list[SessionView]:
    """`count` sessions titled `title.format(i=…)`, each given `messages` user messages
    `content.format(sid=…, n=…)`, by a store closed again after; the sessions as created."""
    store = await open_store(data_dir)
    try:
        sessions = [await store.create_session(title=title.format(i=i)) for i in range(count)]
        for s in sessions:
            for n in range(messages):
                await store.add_message(s.id, role="user", content=content.format(sid=s.id, n=n))
    finally:
        await store.close()
    return sessions


def log_path(data_dir: Path, session_id: str) -> Path:
    return data_dir / "sessions" / f"{session_id}.jsonl"


def lines_of(path: Path) -> list[bytes]:
    """A log's raw lines, each with its newline."""
    return path.read_bytes().splitlines(keepends=True)


def read_lines(path: Path, *, may_be_empty: bool = False) -> list[dict[str, Any]]:
    """Every line of a log, parsed; fails on a missing final newline or a line that is no JSON.

    An empty file is a failure too, unless `may_be_empty`.
    """
    data = path.read_bytes()
    if may_be_empty and not data:
        return []
    assert data.endswith(b"\n"), f"{path} does not end with a newline"
    return [orjson.loads(line) for line in data.split(b"\n")[:-1]]


def assert_gap_free(
    path: Path, expected_last: int, *, may_be_empty: bool = False
) -> list[dict[str, Any]]:
    """The log holds exactly `expected_last` lines, seqs 1..expected_last."""
    lines = read_lines(path, may_be_empty=may_be_empty)
    assert [line["seq"] for line in lines] == list(range(1, expected_last + 1))
    return lines


def assert_chain(path: Path, count: int) -> list[dict[str, Any]]:
    """The log holds exactly `count` lines, seqs 1..count, each chained to the one before."""
    lines = assert_gap_free(path, count, may_be_empty=True)
    for before, after in itertools.pairwise(lines):
        assert after["prev"] == before["hash"]
    return lines


def assert_verifies(directory: Path) -> None:
    """verify finds logs under `directory`, and every one of them intact."""
    reports = verify_dir(directory)
    assert reports, f"no logs in {directory}"
    assert [r.as_json() for r in reports if not r.ok] == []


def dump(view: SessionView) -> dict[str, Any]:
    fields = attrs.asdict(view, recurse=False)
    fields["metadata"] = dict(view.metadata)
    fields["messages"] = [attrs.asdict(m) for m in view.messages]
    return fields


def everything(store: Store) -> dict[str, Any]:
    """All a store serves: every live session in full, in list order, and the settings."""
    page = store.sessions()
    return {
        "order": [v.id for v in page.sessions],
        "sessions": {v.id: dump(store.session(v.id)) for v in page.sessions},
        "settings": attrs.asdict(store.settings),
    }


class FaultyIO(PosixIO):
    """Real system calls, except that a test can make them fail with a real OSError.

    `write_errno` / `fsync_errno` arm a fault; `only` limits it to some log files (by the path
    the fd is open on). With `partial`, a failing write first writes half its bytes for real.
    Every write/fsync fault raised is recorded, so a test can prove its fault actually fired.

    An armed fsync fault also fails `syncfs` (one flush of the whole file system, which the log
    may use for a batch touching many files): a writeback error on any file of the file system
    is reported to syncfs, whichever file's fd it was given.
    """

    def __init__(self) -> None:
        self.write_errno: int | None = None
        self.fsync_errno: int | None = None
        self.partial = False
        self.only: set[Path] | None = None
        self.raised: list[tuple[str, Path]] = []
        self.syncfs_faults = 0
        self.partial_writes: list[tuple[bytes, int]] = []  # (bytes written, file size after)

    def _target(self, fd: int) -> Path | None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if self.only is None or path in self.only:
            return path
        return None

    def write(self, fd: int, data: bytes) -> None:
        path = self._target(fd) if self.write_errno is not None else None
        if path is None:
            super().write(fd, data)
            return
        assert self.write_errno is not None
        if self.partial:
            half = data[: len(data) // 2]
            assert half, "nothing to write half of"
            written = os.write(fd, half)
            self.partial_writes.append((half[:written], os.fstat(fd).st_size))
        self.raised.append(("write", path))
        raise OSError(self.write_errno, os.strerror(self.write_errno), str(path))

    def fdatasync(self, fd: int) -> None:
        path = self._target(fd) if self.fsync_errno is not None else None
        if path is None:
            super().fdatasync(fd)
            return
        assert self.fsync_errno is not None
        self.raised.append(("fsync", path))
        raise OSError(self.fsync_errno, os.strerror(self.fsync_errno), str(path))

    def syncfs(self, fd: int) -> None:
        if self.fsync_errno is None:
            super().syncfs(fd)
            return
        self.syncfs_faults += 1
        raise OSError(self.fsync_errno, os.strerror(self.fsync_errno))
