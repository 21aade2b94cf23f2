"""Every path that writes the data dir, then a power cut: what it answered for is still there.

The store, recovery at start-up, snapshots, backup, restore and purge each run in this process
on the forgetful disk; the disk then drops everything that was not synced, as a power cut does.
Leaving out any one sync these paths make (a file's bytes, or a name in its directory) loses
something that one of these tests checks for.
"""

from __future__ import annotations

from pathlib import Path

from orion_events.ops.backup import backup, restore
from orion_events.ops.purge import purge
from orion_events.ops.verify import verify_dir
from orion_events.store import snapshot
from tests.orion_events.support import (
    assert_verifies,
    everything,
    lines_of,
    log_path,
    open_store,
    open_with_report,
    read_lines,
    write_sessions,
)
from tests.powercut.disk import PowerCutDisk
from tests.powercut.support import sync_dir, write


def files(directory: Path) -> dict[str, bytes]:
    """Every file under `directory`, by relative path."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def data_dir_on(disk: PowerCutDisk) -> Path:
    return disk.mountpoint / "var"


async def served(data_dir: Path) -> dict[str, object]:
    store = await open_store(data_dir)
    try:
        return everything(store)
    finally:
        await store.close()


async def test_what_a_store_answered_and_its_snapshot_survive_a_cut(
    power_cut_disk: PowerCutDisk,
) -> None:
    data_dir = data_dir_on(power_cut_disk)
    store = await open_store(data_dir)
    try:
        sessions = [await store.create_session(title=f"s{i}") for i in range(3)]
        for n in range(4):
            for s in sessions:
                await store.add_message(s.id, role="user", content=f"{s.id} {n}")
        await store.change_settings({"theme": "light"})
        await store.update_session(sessions[0].id, title="renamed")
        answered = everything(store)
    finally:
        await store.close()  # writes the snapshot

    dropped = power_cut_disk.cut()
    # The lock file's name is never synced (nothing it holds matters); nothing else is lost.
    assert dropped["dropped_files"] <= 1, dropped
    saved = snapshot.read(data_dir / "snapshots")
    assert saved is not None
    assert {v.id for v in saved.sessions} == {s.id for s in sessions}
    store, report = await open_with_report(data_dir)
    try:
        assert report.from_snapshot
        assert report.damaged == {}
        assert everything(store) == answered
    finally:
        await store.close()
    assert_verifies(data_dir)


async def test_a_first_session_survives_a_cut_while_the_store_serves(
    power_cut_disk: PowerCutDisk,
) -> None:
    """On a new data dir: sessions/ itself, the log's name in it and its bytes are durable
    before the answer, with nothing else (a snapshot, a settings log) syncing the data dir."""
    data_dir = data_dir_on(power_cut_disk)
    store = await open_store(data_dir)
    try:
        session = await store.create_session(title="first")
        await store.add_message(session.id, role="user", content="hello")
        power_cut_disk.cut()
        assert [line["seq"] for line in read_lines(log_path(data_dir, session.id))] == [1, 2]
        assert_verifies(data_dir)
    finally:
        await store.close()


async def test_a_log_never_named_is_set_aside_durably(power_cut_disk: PowerCutDisk) -> None:
    data_dir = data_dir_on(power_cut_disk)
    (session,) = await write_sessions(data_dir, 1, title="t", content="{sid} {n}")
    creating = data_dir / "sessions" / "5a1f0c9e-0000-4000-8000-000000000001.jsonl.new"
    first_line = lines_of(log_path(data_dir, session.id))[0]
    write(creating, first_line, sync=True)
    sync_dir(creating.parent)
    power_cut_disk.cut()

    store = await open_store(data_dir)
    power_cut_disk.cut()
    await store.close()

    assert not creating.exists()
    assert list(files(data_dir / "quarantine").values()) == [first_line]


async def test_a_recovery_survives_a_cut_right_after_it(power_cut_disk: PowerCutDisk) -> None:
    """Start-up cuts a torn tail and keeps its bytes in quarantine/: after a cut that follows at
    once, the log is still cut and the bytes are still kept, in a quarantine/ that still is."""
    data_dir = data_dir_on(power_cut_disk)
    (session,) = await write_sessions(data_dir, 1, title="t", content="{sid} {n}")
    path = log_path(data_dir, session.id)
    intact = path.read_bytes()
    torn = lines_of(path)[-1][:40]
    # A torn line on disk (a crash mid-write), and no snapshot that saw it (it was never
    # answered); both made durable, so only the recovery's own syncs are under test.
    write(path, intact + torn, sync=True)
    for old in (data_dir / "snapshots").iterdir():
        old.unlink()
    power_cut_disk.cut()  # settle: what follows starts from durable state
    assert path.read_bytes() == intact + torn

    store, report = await open_with_report(data_dir)
    assert set(report.cut_tails) == {session.id}
    power_cut_disk.cut()  # before anything else is written or synced
    await store.close()  # (its writes land after the cut and touch neither log nor quarantine)

    assert path.read_bytes() == intact
    kept = files(data_dir / "quarantine")
    assert list(kept.values()) == [torn]


async def test_a_backup_survives_a_cut_right_after_it(power_cut_disk: PowerCutDisk) -> None:
    data_dir = data_dir_on(power_cut_disk)
    await write_sessions(data_dir, 3, title="t{i}", content="{sid} {n}")
    await served(data_dir)  # and a settings log: every kind of file is copied
    store = await open_store(data_dir)
    try:
        await store.change_settings({"language": "fr"})
    finally:
        await store.close()
    power_cut_disk.cut()
    source = {k: v for k, v in files(data_dir).items() if k.endswith(".jsonl")}

    dest = power_cut_disk.mountpoint / "backups" / "b1"
    report = backup(data_dir, dest)
    assert report.files == len(source)
    power_cut_disk.cut()

    assert files(dest) == source
    assert_verifies(dest)


async def test_a_restore_survives_a_cut_right_after_it(power_cut_disk: PowerCutDisk) -> None:
    data_dir = data_dir_on(power_cut_disk)
    saved = power_cut_disk.mountpoint / "saved"
    await write_sessions(saved, 2, title="saved {i}", content="{sid} {n}")
    store = await open_store(saved)
    try:
        await store.change_settings({"theme": "light"})  # a log at the top of the data dir too
    finally:
        await store.close()
    await write_sessions(data_dir, 2, title="replaced {i}", content="{sid} {n}")
    power_cut_disk.cut()
    wanted = {k: v for k, v in files(saved).items() if k.endswith(".jsonl")}
    replaced = {k: v for k, v in files(data_dir).items() if k.endswith(".jsonl")}
    expected = await served(saved)

    aside = restore(saved, data_dir)
    assert aside is not None
    power_cut_disk.cut()

    assert {k: v for k, v in files(data_dir).items() if k.endswith(".jsonl")} == wanted
    assert {k: v for k, v in files(aside).items() if k.endswith(".jsonl")} == replaced
    assert await served(data_dir) == expected


async def test_a_purge_survives_a_cut_right_after_it(power_cut_disk: PowerCutDisk) -> None:
    data_dir = data_dir_on(power_cut_disk)
    purged, kept = await write_sessions(data_dir, 2, title="t{i}", content="{sid} {n}")
    power_cut_disk.cut()
    assert (data_dir / "snapshots").is_dir()

    await purge(data_dir, purged.id, by="test", reason="privacy")
    power_cut_disk.cut()

    # Gone for good, the snapshot holding its text too, and the record of it kept.
    assert not log_path(data_dir, purged.id).exists()
    assert list((data_dir / "snapshots").iterdir()) == []
    operations = (data_dir / "operations.jsonl").read_bytes()
    assert purged.id.encode() in operations
    assert all(r.ok for r in verify_dir(data_dir))
    store, report = await open_with_report(data_dir)
    try:
        assert report.damaged == {}
        assert [v.id for v in store.sessions().sessions] == [kept.id]
    finally:
        await store.close()
