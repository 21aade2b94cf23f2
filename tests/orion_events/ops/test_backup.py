"""Backups taken under load (by `backup()` and by a plain `cp -a`), and restoring them.

The load is real: writer tasks keep appending to ~20 sessions through a real store (real files,
real fsyncs) while the copy runs on another thread or in another process. Each copy is then
checked against the live history as it stood when the writers stopped: its log files must be
byte prefixes of the live ones, every session in it a prefix of the live session, and nothing
acknowledged before the copy started may be missing from it.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from orion_events.domain.errors import DataDirLocked
from orion_events.ops.backup import BackupError, BackupReport, backup, restore
from orion_events.ops.verify import verify_dir
from orion_events.storage.files.durable import PosixIO
from orion_events.store.store import Store
from tests.orion_events.support import (
    assert_verifies,
    everything,
    lines_of,
    log_path,
    open_store,
    open_with_report,
    write_sessions,
)

# -- helpers ------------------------------------------------------------------------------------


def tree(directory: Path) -> dict[str, bytes | None]:
    """Every entry under `directory` (None for a directory), by relative path."""
    return {
        str(p.relative_to(directory)): None if p.is_dir() else p.read_bytes()
        for p in sorted(directory.rglob("*"))
    }


def siblings(directory: Path) -> set[str]:
    return {p.name for p in directory.parent.iterdir()}


def assert_restore_refused(saved: Path, data_dir: Path, error: type[Exception]) -> None:
    """restore() raises `error` and leaves the data dir and what is beside it exactly as it was."""
    before = tree(data_dir)
    around = siblings(data_dir)
    with pytest.raises(error):
        restore(saved, data_dir)
    assert tree(data_dir) == before
    assert siblings(data_dir) == around


async def served(data_dir: Path) -> dict[str, Any]:
    store = await open_store(data_dir)
    try:
        return everything(store)
    finally:
        await store.close()


class SlowDisk(PosixIO):
    """A device that lands each write in two steps, 1 ms apart (all but the last bytes, then
    those), so that a copy taken at a random moment can catch a line half-written."""

    def write(self, fd: int, data: bytes) -> None:
        super().write(fd, data[:-5])
        time.sleep(0.001)
        super().write(fd, data[-5:])


@attrs.define
class Load:
    """Writer tasks posting to every session of a store until stopped; what they got acked."""

    store: Store
    session_ids: list[str]
    acked: dict[str, list[str]]
    stop: asyncio.Event = attrs.field(factory=asyncio.Event)
    progress: asyncio.Condition = attrs.field(factory=asyncio.Condition)
    tasks: list[asyncio.Task[None]] = attrs.field(factory=list)

    @property
    def total(self) -> int:
        return sum(map(len, self.acked.values()))

    def acked_now(self) -> dict[str, list[str]]:
        return {sid: list(ids) for sid, ids in self.acked.items()}

    async def _writer(self, session_id: str, writer: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            view = await self.store.add_message(
                session_id, role="user", content=f"{session_id[:8]} w{writer} #{n} " + "." * n
            )
            self.acked[session_id].append(view.messages[-1].id)
            async with self.progress:
                self.progress.notify_all()
            if n % 9 == 0:
                await self.store.update_session(session_id, metadata={"n": str(n)})

    def start(self, writers_per_session: int = 2) -> None:
        for sid in self.session_ids:
            for w in range(writers_per_session):
                self.tasks.append(asyncio.create_task(self._writer(sid, w)))

    async def until(self, total: int) -> None:
        """Wait until the writers have had `total` messages acknowledged in all."""
        async with asyncio.timeout(60), self.progress:
            await self.progress.wait_for(lambda: self.total >= total)

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)


async def start_load(store: Store, sessions: int = 20) -> Load:
    created = [await store.create_session(title=f"load {i}") for i in range(sessions)]
    await store.change_settings({"theme": "light"})
    load = Load(store, [v.id for v in created], {v.id: [] for v in created})
    load.start()
    await load.until(200)
    return load


@attrs.frozen
class Copy:
    path: Path
    acked_before: dict[str, list[str]]  # what the writers had been answered when it started
    in_flight: bool  # the copy caught a line that was still being written


async def take_copies(
    load: Load,
    count: int,
    copy: Callable[[Path], Awaitable[bool]],
    dest_root: Path,
    *,
    attempts: int = 40,
) -> list[Copy]:
    """At least `count` copies, taken at random moments of the load, until one of them caught a
    line in flight (`copy` says whether it did); fails if none did in `attempts` copies."""
    seed = int(os.environ.get("ORION_BACKUP_SEED", random.randrange(1 << 30)))
    print(f"copy moments: seed {seed} (ORION_BACKUP_SEED={seed} repeats them)")
    rng = random.Random(seed)
    copies: list[Copy] = []
    while len(copies) < count or not any(c.in_flight for c in copies):
        assert len(copies) < attempts, f"no copy ever caught a write in flight (seed {seed})"
        await load.until(load.total + 40)  # the logs grow between copies
        await asyncio.sleep(rng.uniform(0, 0.03))  # any moment of a commit
        before = load.acked_now()
        caught = await copy(dest_root / f"copy{len(copies)}")
        copies.append(Copy(dest_root / f"copy{len(copies)}", before, caught))
    return copies


async def check_copy_against_live(
    copy: Copy, live_bytes: dict[str, bytes], live_ids: dict[str, list[str]]
) -> None:
    assert_verifies(copy.path)
    for sid in copy.acked_before:
        data = log_path(copy.path, sid).read_bytes()
        assert live_bytes[sid].startswith(data), f"{sid}: the copy is no prefix of the live log"
    store = await open_store(copy.path)
    try:
        for sid, before in copy.acked_before.items():
            ids = [m.id for m in store.session(sid).messages]
            assert ids == live_ids[sid][: len(ids)]
            assert set(before) <= set(ids), f"{sid}: acknowledged messages missing"
        assert store.health()["status"] == "ok"
    finally:
        await store.close()


# -- backup() under load ------------------------------------------------------------------------


async def test_backup_under_load_is_a_verified_prefix_holding_everything_acknowledged(
    data_dir: Path, tmp_path: Path
) -> None:
    store = await open_store(data_dir, SlowDisk())
    reports: dict[Path, BackupReport] = {}
    try:
        load = await start_load(store)

        async def run_backup(dest: Path) -> bool:
            reports[dest] = report = await asyncio.to_thread(backup, data_dir, dest)
            return report.trimmed > 0

        copies = await take_copies(load, 5, run_backup, tmp_path / "backups")
        await load.finish()
        live_ids = {sid: [m.id for m in store.session(sid).messages] for sid in load.session_ids}
        assert {sid: set(ids) for sid, ids in live_ids.items()} == {
            sid: set(ids) for sid, ids in load.acked.items()
        }
    finally:
        await store.close()
    live_bytes = {sid: log_path(data_dir, sid).read_bytes() for sid in load.session_ids}

    sizes = []
    for copy in copies:
        await check_copy_against_live(copy, live_bytes, live_ids)
        report = reports[copy.path]
        assert report.files == len(load.session_ids) + 1  # the sessions and the settings
        files = [log_path(copy.path, sid) for sid in load.session_ids]
        files.append(copy.path / "settings.jsonl")
        contents = [f.read_bytes() for f in files]
        assert report.bytes == sum(map(len, contents))
        assert report.events == sum(c.count(b"\n") for c in contents)
        assert (copy.path / "settings.jsonl").read_bytes() == (
            data_dir / "settings.jsonl"
        ).read_bytes()
        sizes.append(report.bytes)
    assert sizes == sorted(sizes)  # later backups hold more of the growing logs
    assert sizes[0] < sizes[-1]


async def test_backup_refuses_a_non_empty_destination_and_copies_a_damaged_log_whole(
    data_dir: Path, tmp_path: Path
) -> None:
    sessions = await write_sessions(data_dir, 3, title="b{i}", content="{n}")

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(BackupError):
        backup(data_dir, occupied)
    assert tree(occupied) == {"keep.txt": b"mine"}

    # A damaged log is copied whole, so the backup keeps the evidence, and the report names it.
    path = log_path(data_dir, sessions[1].id)
    lines = lines_of(path)
    path.write_bytes(b"".join([lines[0], lines[2], lines[1], lines[3]]))
    copy = tmp_path / "from-damaged"
    report = backup(data_dir, copy)
    assert list(report.damaged) == [str(path)]
    assert "line 2" in report.damaged[str(path)]
    assert log_path(copy, sessions[1].id).read_bytes() == path.read_bytes()
    bad = [r for r in verify_dir(copy) if not r.ok]
    assert [(r.path.name, r.damage.line if r.damage else None) for r in bad] == [(path.name, 2)]


# -- cp -a under load ---------------------------------------------------------------------------


async def test_cp_a_under_load_gives_a_copy_the_store_starts_on_and_verify_accepts(
    data_dir: Path, tmp_path: Path
) -> None:
    cp = shutil.which("cp")
    if cp is None:
        pytest.skip("no cp on this machine")
    store = await open_store(data_dir, SlowDisk())
    torn: dict[Path, set[str]] = {}
    try:
        load = await start_load(store)

        async def cp_a(dest: Path) -> bool:
            dest.parent.mkdir(parents=True, exist_ok=True)
            process = await asyncio.create_subprocess_exec(cp, "-a", str(data_dir), str(dest))
            assert await process.wait() == 0
            bad = [r for r in verify_dir(dest) if not r.ok]
            # A plain copy may catch a last line half-written, and nothing worse.
            assert all(r.damage is not None and r.damage.at_tail for r in bad), bad
            torn[dest] = {r.path.stem for r in bad}
            return bool(bad)

        copies = await take_copies(load, 4, cp_a, tmp_path / "copies")
        await load.finish()
        live_ids = {sid: [m.id for m in store.session(sid).messages] for sid in load.session_ids}
    finally:
        await store.close()
    live_bytes = {sid: log_path(data_dir, sid).read_bytes() for sid in load.session_ids}

    for copy in copies:
        # Starting a store on the copy cuts the torn tails the copy caught, and nothing else.
        raw = {sid: log_path(copy.path, sid).read_bytes() for sid in load.session_ids}
        opened, report = await open_with_report(copy.path)
        await opened.close()
        assert report.damaged == {}
        assert set(report.cut_tails) == torn[copy.path]
        for sid in load.session_ids:
            kept = log_path(copy.path, sid).read_bytes()
            assert raw[sid].startswith(kept)
            assert (kept == raw[sid]) == (sid not in torn[copy.path])
        await check_copy_against_live(copy, live_bytes, live_ids)


# -- restore ------------------------------------------------------------------------------------


async def _populate(data_dir: Path, label: str, sessions: int) -> None:
    store = await open_store(data_dir)
    try:
        for i in range(sessions):
            view = await store.create_session(title=f"{label} {i}", metadata={"from": label})
            for n in range(i + 1):
                await store.add_message(view.id, role="user", content=f"{label} {i}/{n}")
        await store.change_settings({"language": label[:2].lower()})
    finally:
        await store.close()


async def _backup_of(tmp_path: Path, label: str, sessions: int = 4) -> tuple[Path, Path]:
    source = tmp_path / f"{label}-live"
    await _populate(source, label, sessions)
    dest = tmp_path / f"{label}-backup"
    backup(source, dest)
    return source, dest


async def test_restore_moves_the_old_logs_aside_and_serves_the_backup(
    data_dir: Path, tmp_path: Path
) -> None:
    source, saved = await _backup_of(tmp_path, "backup")
    expected = await served(source)
    await _populate(data_dir, "current", 3)
    current = await served(data_dir)
    old = tree(data_dir)
    saved_tree = tree(saved)

    aside = restore(saved, data_dir)

    assert aside is not None
    assert aside.parent == data_dir.parent
    assert aside.name.startswith(f"{data_dir.name}.")
    assert aside.name in siblings(data_dir)
    # Everything the old logs held is in the aside dir, byte for byte.
    moved = tree(aside)
    for rel, data in old.items():
        if rel.startswith("sessions") or rel == "settings.jsonl":
            assert moved[rel] == data, rel
    assert await served(aside) == current
    # The data dir now holds exactly the backup's logs and serves what the backup serves.
    restored = tree(data_dir)
    for rel, data in saved_tree.items():
        assert restored[rel] == data, rel
    assert {r for r in restored if r.startswith("sessions/")} == {
        r for r in saved_tree if r.startswith("sessions/")
    }
    assert_verifies(data_dir)
    assert await served(data_dir) == expected
    assert tree(saved) == saved_tree  # the backup itself is untouched

    store = await open_store(data_dir)
    try:
        some = store.sessions().sessions[0]
        view = await store.add_message(some.id, role="user", content="after restore")
        assert view.version == some.version + 1
    finally:
        await store.close()


async def test_restore_into_an_empty_dir_needs_nothing_moved_aside(tmp_path: Path) -> None:
    source, saved = await _backup_of(tmp_path, "fresh")
    target = tmp_path / "brand-new"
    assert restore(saved, target) is None
    assert await served(target) == await served(source)


async def test_restore_refuses_while_a_filelog_holds_the_dir(
    data_dir: Path, tmp_path: Path
) -> None:
    _, saved = await _backup_of(tmp_path, "backup")
    await _populate(data_dir, "current", 2)
    store = await open_store(data_dir)
    try:
        assert_restore_refused(saved, data_dir, DataDirLocked)
        some = store.sessions().sessions[0]
        view = await store.add_message(some.id, role="user", content="still mine")
        assert view.version == some.version + 1
        served_before_close = everything(store)
    finally:
        await store.close()
    assert await served(data_dir) == served_before_close


def _damage_middle(saved: Path) -> None:
    path = max((saved / "sessions").iterdir(), key=lambda p: p.stat().st_size)
    lines = lines_of(path)
    assert len(lines) >= 3
    path.write_bytes(b"".join([lines[0], *lines[2:]]))


def _torn_tail(saved: Path) -> None:
    path = sorted((saved / "sessions").iterdir())[0]
    with path.open("ab") as f:
        f.write(b'{"seq":99,"id":"torn')


def _stray_file(saved: Path) -> None:
    (saved / "sessions" / "notes.txt").write_text("not a log")


def _missing(saved: Path) -> None:
    shutil.rmtree(saved)


UNVERIFIABLE: dict[str, Callable[[Path], None]] = {
    "damage in the middle of a log": _damage_middle,
    "a torn tail": _torn_tail,
    "a stray file": _stray_file,
    "no backup directory at all": _missing,
}


@pytest.mark.parametrize("case", list(UNVERIFIABLE))
async def test_restore_refuses_a_backup_that_does_not_verify_and_changes_nothing(
    data_dir: Path, tmp_path: Path, case: str
) -> None:
    _, saved = await _backup_of(tmp_path, "backup")
    UNVERIFIABLE[case](saved)
    await _populate(data_dir, "current", 3)
    current = await served(data_dir)

    assert_restore_refused(saved, data_dir, BackupError)

    assert await served(data_dir) == current


async def test_restoring_twice_in_a_row_keeps_both_replaced_versions(
    data_dir: Path, tmp_path: Path
) -> None:
    _, first = await _backup_of(tmp_path, "first")
    second_source, second = await _backup_of(tmp_path, "second", sessions=2)
    await _populate(data_dir, "original", 3)
    original = await served(data_dir)

    aside_1 = restore(first, data_dir)
    aside_2 = restore(second, data_dir)

    assert aside_1 is not None
    assert aside_2 is not None
    assert aside_1 != aside_2
    assert await served(aside_1) == original
    assert await served(data_dir) == await served(second_source)
