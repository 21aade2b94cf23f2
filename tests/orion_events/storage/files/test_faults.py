"""Storage faults: failed writes and fsyncs on real files, and a real file system that fills up.

Faults are raised by a PosixIO subclass, the log's seam for its two system calls, so everything
else (the files, the cut-back truncation, the fsyncs that do succeed) is real. After every fault
the tests read the log files back byte for byte and restart a fresh store on the directory to
check that what was acknowledged survives and what was answered with an error does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orion_events.domain.errors import StorageUnavailable
from orion_events.domain.views import SessionView
from orion_events.storage.files.durable import PosixIO
from orion_events.store.store import Store
from tests.orion_events.support import (
    FaultyIO,
    assert_chain,
    assert_verifies,
    dump,
    everything,
    log_path,
    open_store,
    read_lines,
)

FAULTS = [errno.EIO, errno.ENOSPC, errno.EACCES]


# -- helpers ------------------------------------------------------------------------------------


def disk_message_ids(path: Path) -> list[str]:
    """The ids of the messages a session's log holds now (after its last clear)."""
    ids: list[str] = []
    for line in read_lines(path, may_be_empty=True):
        if line["type"] == "messages_cleared":
            ids = []
        elif line["type"] == "message_added":
            ids.append(line["data"]["message_id"])
    return ids


@contextlib.asynccontextmanager
async def restarted(data_dir: Path, served: dict[str, Any]) -> AsyncIterator[Store]:
    """A fresh store on `data_dir`, which must serve exactly `served`; closed on the way out."""
    again = await open_store(data_dir)
    try:
        assert everything(again) == served
        yield again
    finally:
        await again.close()


def dir_bytes(data_dir: Path) -> dict[str, bytes]:
    """Every log file under the data dir, by relative path."""
    found = {}
    for path in sorted(data_dir.rglob("*.jsonl")):
        found[str(path.relative_to(data_dir))] = path.read_bytes()
    return found


# -- failed writes ------------------------------------------------------------------------------


@pytest.mark.parametrize("partial", [False, True], ids=["nothing-written", "half-written"])
@pytest.mark.parametrize("fault", FAULTS, ids=errno.errorcode.get)
async def test_failed_write_changes_nothing_and_the_log_carries_on(
    data_dir: Path, fault: int, partial: bool
) -> None:
    io = FaultyIO()
    store = await open_store(data_dir, io)
    try:
        session = await store.create_session(title="faults")
        acked = []
        for i in range(3):
            view = await store.add_message(session.id, role="user", content=f"kept {i}")
            acked.append(view.messages[-1].id)
        bystander = await store.create_session(title="bystander")
        path = log_path(data_dir, session.id)
        before_bytes = path.read_bytes()
        before_view = dump(store.session(session.id))
        before_all = everything(store)
        before_health = store.health()
        assert before_health["status"] == "ok"

        io.write_errno, io.partial = fault, partial
        with pytest.raises(StorageUnavailable):
            await store.add_message(session.id, role="user", content="lost single")
        assert io.raised == [("write", path.resolve())]
        assert path.read_bytes() == before_bytes
        assert dump(store.session(session.id)) == before_view

        # A burst of commands shares one append: it fails as a whole and leaves nothing.
        burst = await asyncio.gather(
            *(
                store.add_message(session.id, role="assistant", content=f"lost burst {i:03d}")
                for i in range(4)
            ),
            return_exceptions=True,
        )
        assert [type(r) for r in burst] == [StorageUnavailable] * 4, burst
        assert len(io.raised) == 2
        if partial:
            # The half-writes really reached the file before the log cut it back; the burst's
            # half held whole lines, which had to go too.
            (single, single_size), (half_burst, burst_size) = io.partial_writes
            assert single_size == len(before_bytes) + len(single) > len(before_bytes)
            assert burst_size == len(before_bytes) + len(half_burst) > len(before_bytes)
            assert half_burst.count(b"\n") >= 1
        assert path.read_bytes() == before_bytes
        assert everything(store) == before_all
        assert store.health() == before_health  # nothing became read-only; counts unchanged

        io.write_errno = None
        after = await store.add_message(session.id, role="user", content="after the fault")
        assert after.version == before_view["version"] + 1
        lines = assert_chain(path, after.version)
        assert lines[-1]["data"]["content"] == "after the fault"
        assert path.read_bytes().startswith(before_bytes)
        acked.append(after.messages[-1].id)
        await store.add_message(bystander.id, role="user", content="bystander still fine")
        served = everything(store)
    finally:
        await store.close()

    assert b"lost" not in path.read_bytes()
    assert disk_message_ids(path) == acked
    async with restarted(data_dir, served) as again:
        assert [m.id for m in again.session(session.id).messages] == acked
        assert again.health()["status"] == "ok"
    assert_verifies(data_dir)


Command = Callable[[Store, str], Awaitable[Any]]

COMMANDS: dict[str, Command] = {
    "create_session": lambda s, sid: s.create_session(title="new one"),
    "add_message": lambda s, sid: s.add_message(sid, role="user", content="hello again"),
    "rename": lambda s, sid: s.update_session(sid, title="renamed"),
    "metadata": lambda s, sid: s.update_session(sid, metadata={"k": "v"}),
    "clear_messages": lambda s, sid: s.clear_messages(sid),
    "delete_session": lambda s, sid: s.delete_session(sid),
    "change_settings": lambda s, sid: s.change_settings({"theme": "light"}),
    "reset_settings": lambda s, sid: s.reset_settings(),
}


@pytest.mark.parametrize("name", list(COMMANDS))
async def test_every_command_that_fails_to_write_changes_nothing(data_dir: Path, name: str) -> None:
    command = COMMANDS[name]
    io = FaultyIO()
    store = await open_store(data_dir, io)
    try:
        session = await store.create_session(title="target", metadata={"a": "b"})
        await store.add_message(session.id, role="user", content="first")
        await store.change_settings({"language": "de"})
        before_files = dir_bytes(data_dir)
        before_all = everything(store)
        before_health = store.health()

        io.write_errno, io.partial = errno.EIO, True
        with pytest.raises(StorageUnavailable):
            await command(store, session.id)
        assert len(io.raised) == 1
        assert everything(store) == before_all
        assert store.health() == before_health
        after_files = dir_bytes(data_dir)
        for rel, data in before_files.items():
            assert after_files[rel] == data, rel
        # A log the failed command had to create may stay behind, but only empty.
        assert all(after_files[rel] == b"" for rel in set(after_files) - set(before_files))

        io.write_errno = None
        await command(store, session.id)
        served = everything(store)
        assert served != before_all
    finally:
        await store.close()

    async with restarted(data_dir, served):
        pass  # serving exactly what was served is the check
    assert_verifies(data_dir)


# -- failed fsyncs ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [errno.EIO, errno.ENOSPC], ids=errno.errorcode.get)
async def test_failed_fsync_makes_that_log_refuse_writes_until_restart(
    data_dir: Path, fault: int
) -> None:
    io = FaultyIO()
    store = await open_store(data_dir, io)
    try:
        victim = await store.create_session(title="victim")
        other = await store.create_session(title="other")
        victim_acked, other_acked = [], []
        for i in range(3):
            view = await store.add_message(victim.id, role="user", content=f"v{i}")
            victim_acked.append(view.messages[-1].id)
            view = await store.add_message(other.id, role="user", content=f"o{i}")
            other_acked.append(view.messages[-1].id)
        victim_path, other_path = log_path(data_dir, victim.id), log_path(data_dir, other.id)
        victim_bytes = victim_path.read_bytes()
        victim_view = dump(store.session(victim.id))

        io.fsync_errno, io.only = fault, {victim_path.resolve()}
        with pytest.raises(StorageUnavailable):
            await store.add_message(victim.id, role="user", content="lost at fsync")
        assert io.raised == [("fsync", victim_path.resolve())]
        assert dump(store.session(victim.id)) == victim_view
        assert victim_path.read_bytes() == victim_bytes

        # The disk is fine again, but the page cache of that file cannot be trusted: no write
        # to it is accepted (and none is retried and then acknowledged) until a restart.
        io.fsync_errno = None
        refused = await asyncio.gather(
            store.add_message(victim.id, role="user", content="lost later"),
            store.update_session(victim.id, title="lost rename"),
            store.clear_messages(victim.id),
            store.delete_session(victim.id),
            *(store.add_message(other.id, role="user", content=f"o-burst {i}") for i in range(5)),
            return_exceptions=True,
        )
        assert [type(r) for r in refused[:4]] == [StorageUnavailable] * 4, refused
        assert all(isinstance(r, SessionView) for r in refused[4:]), refused
        other_acked += [r.messages[-1].id for r in refused[4:]]  # type: ignore[union-attr]
        with pytest.raises(StorageUnavailable):
            await store.add_message(victim.id, role="user", content="lost once more")
        assert len(io.raised) == 1
        assert victim_path.read_bytes() == victim_bytes
        assert dump(store.session(victim.id)) == victim_view

        fresh = await store.create_session(title="created after the fault")
        view = await store.add_message(other.id, role="assistant", content="other still writes")
        other_acked.append(view.messages[-1].id)
        assert disk_message_ids(other_path) == other_acked

        health = store.health()
        assert health["status"] == "degraded"
        assert health["read_only_sessions"] == [victim.id]
        assert "sync failed" in health["problems"][victim.id]
        assert health["sessions"] == 3
        served = everything(store)
    finally:
        await store.close()

    assert b"lost" not in victim_path.read_bytes()
    async with restarted(data_dir, served) as again:
        assert again.health()["status"] == "ok"
        view = await again.add_message(victim.id, role="user", content="after restart")
        assert view.version == victim_view["version"] + 1
        assert [m.id for m in view.messages] == [*victim_acked, view.messages[-1].id]
        assert again.session(fresh.id).title == "created after the fault"
    lines = assert_chain(victim_path, victim_view["version"] + 1)
    assert not any("lost" in str(line["data"]) for line in lines)
    assert_verifies(data_dir)


async def test_failed_fsync_across_a_group_commit_fails_every_log_in_it(data_dir: Path) -> None:
    io = FaultyIO()
    store = await open_store(data_dir, io)
    try:
        sessions = [await store.create_session(title=f"s{i}") for i in range(4)]
        await store.change_settings({"theme": "light"})
        before = everything(store)
        before_files = dir_bytes(data_dir)

        io.fsync_errno = errno.EIO
        results = await asyncio.gather(
            *(store.add_message(s.id, role="user", content="lost") for s in sessions),
            store.change_settings({"theme": "auto"}),
            return_exceptions=True,
        )
        assert [type(r) for r in results] == [StorageUnavailable] * 5, results
        assert everything(store) == before
        assert dir_bytes(data_dir) == before_files
        health = store.health()
        assert health["status"] == "degraded"
        assert set(health["read_only_sessions"]) == {s.id for s in sessions} | {"settings"}

        io.fsync_errno = None
        with pytest.raises(StorageUnavailable):
            await store.change_settings({"theme": "auto"})
        newcomer = await store.create_session(title="a new log works")
        await store.add_message(newcomer.id, role="user", content="fine")
        served = everything(store)
    finally:
        await store.close()

    async with restarted(data_dir, served) as again:
        assert again.settings.theme == "light"
        assert (await again.change_settings({"theme": "auto"})).theme == "auto"
        for s in sessions:
            assert (await again.add_message(s.id, role="user", content="back")).version == 2
    assert_verifies(data_dir)


# -- an unforeseen error in a commit ------------------------------------------------------------


class BuggyIO(PosixIO):
    """Real system calls, except that an armed write half-writes and then raises an error that
    is no OSError (a bug, a MemoryError), which no fault handler of the log expects."""

    def __init__(self) -> None:
        self.armed = False
        self.raised = 0

    def write(self, fd: int, data: bytes) -> None:
        if not self.armed:
            super().write(fd, data)
            return
        self.armed = False
        os.write(fd, data[: len(data) // 2])
        self.raised += 1
        raise RuntimeError("a bug in the commit path")


async def test_unforeseen_error_in_a_commit_fails_its_batch_and_later_appends_are_served(
    data_dir: Path,
) -> None:
    io = BuggyIO()
    store = await open_store(data_dir, io)
    try:
        victim = await store.create_session(title="victim")
        other = await store.create_session(title="other")
        victim_path = log_path(data_dir, victim.id)
        victim_bytes = victim_path.read_bytes()
        victim_view = dump(store.session(victim.id))

        io.armed = True
        with pytest.raises(StorageUnavailable):
            # Bounded: were the committer to die, this append would wait for ever.
            await asyncio.wait_for(
                store.add_message(victim.id, role="user", content="lost to a bug"), 10
            )
        assert io.raised == 1
        assert victim_path.read_bytes() == victim_bytes  # the half-write was cut back
        assert dump(store.session(victim.id)) == victim_view

        # The committer lives on: other logs, new and old, are written and acknowledged.
        view = await store.add_message(other.id, role="user", content="other still writes")
        assert view.version == 2
        fresh = await store.create_session(title="created after the bug")
        settings = await store.change_settings({"theme": "light"})
        assert settings.theme == "light"
        assert disk_message_ids(log_path(data_dir, other.id)) == [view.messages[-1].id]

        # Where that commit stopped is unknown, so its log refuses writes until a restart.
        with pytest.raises(StorageUnavailable):
            await store.add_message(victim.id, role="user", content="lost later")
        assert io.raised == 1
        health = store.health()
        assert health["status"] == "degraded"
        assert health["read_only_sessions"] == [victim.id]
        assert "RuntimeError" in health["problems"][victim.id]
        served = everything(store)
    finally:
        # Bounded too: closing waits for every write in flight, a hung one included.
        await asyncio.wait_for(store.close(), 10)

    assert victim_path.read_bytes() == victim_bytes
    async with restarted(data_dir, served) as again:
        assert again.health()["status"] == "ok"
        assert again.session(fresh.id).title == "created after the bug"
        view = await again.add_message(victim.id, role="user", content="after restart")
        assert view.version == victim_view["version"] + 1
    assert_chain(victim_path, victim_view["version"] + 1)
    assert_verifies(data_dir)


# -- faults under concurrency -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["write", "fsync"])
async def test_fault_on_one_log_fails_only_that_session_among_concurrent_writers(
    data_dir: Path, kind: str
) -> None:
    io = FaultyIO()
    store = await open_store(data_dir, io)
    per_session = 8
    try:
        sessions = await asyncio.gather(*(store.create_session(title=f"c{i}") for i in range(25)))
        victim, others = sessions[0], sessions[1:]
        victim_path = log_path(data_dir, victim.id)
        victim_bytes = victim_path.read_bytes()
        if kind == "write":
            io.write_errno, io.partial = errno.EIO, True
        else:
            io.fsync_errno = errno.EIO
        io.only = {victim_path.resolve()}

        async def post(session_id: str, n: int) -> SessionView:
            return await store.add_message(session_id, role="user", content=f"{session_id}/{n}")

        results = await asyncio.gather(
            *(post(s.id, n) for n in range(per_session) for s in sessions),
            *(store.create_session(title=f"late {i}") for i in range(5)),
            return_exceptions=True,
        )
        victim_results = results[0 : per_session * len(sessions) : len(sessions)]
        other_results = [
            r for i, r in enumerate(results) if i >= per_session * len(sessions) or i % 25 != 0
        ]
        assert all(isinstance(r, StorageUnavailable) for r in victim_results), victim_results
        assert all(isinstance(r, SessionView) for r in other_results), other_results
        assert io.raised
        assert {path for _, path in io.raised} == {victim_path.resolve()}
        assert victim_path.read_bytes() == victim_bytes
        assert store.session(victim.id).version == 1
        for s in others:
            lines = assert_chain(log_path(data_dir, s.id), per_session + 1)
            contents = sorted(line["data"]["content"] for line in lines[1:])
            assert contents == sorted(f"{s.id}/{n}" for n in range(per_session))
            assert store.session(s.id).version == per_session + 1

        io.write_errno = io.fsync_errno = None
        if kind == "write":
            view = await post(victim.id, 99)  # a failed write is cut back; the log carries on
            assert view.version == 2
        else:
            with pytest.raises(StorageUnavailable):
                await post(victim.id, 99)
            assert store.health()["read_only_sessions"] == [victim.id]
        served = everything(store)
    finally:
        await store.close()

    async with restarted(data_dir, served) as again:
        assert (await again.add_message(victim.id, role="user", content="x")).version == (
            3 if kind == "write" else 2
        )
    assert_verifies(data_dir)


# -- a real file system that fills up -----------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, mounted for the test and unmounted after it."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command on this machine")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


async def test_full_file_system_answers_storage_unavailable_and_recovers(
    small_fs: Path,
) -> None:
    filler = small_fs / "filler"
    filler.write_bytes(b"\0" * 96 * 1024)
    data_dir = small_fs / "var"
    store = await open_store(data_dir)
    try:
        sessions = [await store.create_session(title=f"full {i}") for i in range(3)]
        acked: dict[str, list[str]] = {s.id: [] for s in sessions}
        failure: tuple[str, str] | None = None
        for n in range(1000):
            target = sessions[n % 3].id
            content = f"message {n:04d} " + "x" * 3000
            try:
                view = await store.add_message(target, role="user", content=content)
            except StorageUnavailable:
                failure = (target, f"message {n:04d} ")
                break
            acked[target].append(view.messages[-1].id)
        assert failure is not None, "256 KiB never filled up"
        assert sum(map(len, acked.values())) > 10  # it wrote a while before filling up

        failed_session, failed_prefix = failure
        assert_verifies(data_dir)
        total_lines = 0
        for s in sessions:
            path = log_path(data_dir, s.id)
            data = path.read_bytes()
            assert data.endswith(b"\n")
            lines = assert_chain(path, 1 + len(acked[s.id]))
            total_lines += len(lines)
            view = store.session(s.id)
            assert view.version == len(lines)  # the view is never ahead of the disk
            assert [m.id for m in view.messages] == disk_message_ids(path) == acked[s.id]
        assert failed_prefix.encode() not in log_path(data_dir, failed_session).read_bytes()
        health = store.health()
        assert (health["status"], health["events"]) == ("ok", total_lines)

        filler.unlink()
        for s in sessions:
            view = await store.add_message(s.id, role="assistant", content="room again " * 200)
            acked[s.id].append(view.messages[-1].id)
            assert view.version == 1 + len(acked[s.id])
        served = everything(store)
    finally:
        await store.close()

    assert_verifies(data_dir)
    async with restarted(data_dir, served) as again:
        for s in sessions:
            assert [m.id for m in again.session(s.id).messages] == acked[s.id]
