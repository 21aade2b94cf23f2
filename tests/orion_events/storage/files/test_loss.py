"""Loss cannot hide (SPEC §5): what a data dir shows of acknowledged writes it no longer holds.

Each case takes a real data dir written by a real store, removes what a disk that dropped
unsynced writes (or a careless copy) would remove, and checks that start-up reports it by kind,
health is degraded, nothing is served as if intact, and `verify` names the file and the kind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orion_events.domain.errors import SessionReadOnly, StorageUnavailable
from orion_events.domain.events import MessageAdded
from orion_events.ops.purge import purge
from orion_events.ops.verify import verify_dir
from orion_events.storage.codec import GENESIS
from tests.orion_events.storage.files.test_recovery import valid_line
from tests.orion_events.support import (
    assert_verifies,
    lines_of,
    log_path,
    open_store,
    open_with_report,
    write_sessions,
)


def kinds(data_dir: Path) -> dict[Path, str]:
    """Every report verify makes that is not intact: path -> kind."""
    return {r.path: r.as_json()["kind"] for r in verify_dir(data_dir) if not r.ok}


async def two_sessions(data_dir: Path) -> tuple[str, str]:
    """Two sessions of 4 events each, written and closed: the clean stop leaves a snapshot."""
    first, second = await write_sessions(data_dir, 2, title="s{i}", content="{sid} {n}")
    assert (data_dir / "snapshots").is_dir()
    return first.id, second.id


async def test_an_empty_log_is_loss_not_an_absent_session(data_dir: Path) -> None:
    lost, kept = await two_sessions(data_dir)
    shutil.rmtree(data_dir / "snapshots")  # the log's own state alone tells
    log_path(data_dir, lost).write_bytes(b"")

    assert kinds(data_dir) == {log_path(data_dir, lost): "empty_log"}
    store, report = await open_with_report(data_dir)
    try:
        assert "empty_log" in report.damaged[lost]
        health = store.health()
        assert health["status"] == "degraded"
        assert lost in health["read_only_sessions"]
        assert store.session(kept).version == 4
    finally:
        await store.close()
    assert log_path(data_dir, lost).read_bytes() == b""  # the evidence stays


async def test_a_session_log_without_its_creation_is_loss(data_dir: Path) -> None:
    lost, _ = await two_sessions(data_dir)
    shutil.rmtree(data_dir / "snapshots")
    path = log_path(data_dir, lost)
    # A whole, valid chain that starts with a message: its creation line is gone.
    line = valid_line(lost, 1, MessageAdded("m1", "user", "orphan"), prev=GENESIS, position=1)
    path.write_bytes(line)

    assert kinds(data_dir) == {path: "no_creation"}
    store, report = await open_with_report(data_dir)
    try:
        assert "no_creation" in report.damaged[lost]
        assert store.health()["status"] == "degraded"
    finally:
        await store.close()


@pytest.mark.parametrize("keep", [0, 1, 3], ids=["no line", "one line", "three lines"])
async def test_a_log_shorter_than_its_snapshot_saw_it_is_a_lost_tail(
    data_dir: Path, keep: int
) -> None:
    lost, kept = await two_sessions(data_dir)
    path = log_path(data_dir, lost)
    path.write_bytes(b"".join(lines_of(path)[:keep]))

    expected = "empty_log" if keep == 0 else "lost_tail"
    assert kinds(data_dir) == {path: expected}
    for _ in range(2):  # the snapshot is not replaced while the loss stands: found again
        store, report = await open_with_report(data_dir)
        try:
            assert expected in report.damaged[lost]
            assert not report.from_snapshot
            assert lost in store.health()["read_only_sessions"]
            if keep:
                # Served as far as it goes, never written: a new event would take a seq that
                # clients were already answered for.
                assert store.session(lost).version == keep
                with pytest.raises(SessionReadOnly):
                    await store.add_message(lost, role="user", content="refused")
            view = await store.add_message(kept, role="user", content="others carry on")
            assert view.message_count >= 4
        finally:
            await store.close()
    assert kinds(data_dir) == {path: expected}


async def test_a_log_the_snapshot_holds_that_is_gone_is_a_lost_log(data_dir: Path) -> None:
    lost, kept = await two_sessions(data_dir)
    log_path(data_dir, lost).unlink()

    assert kinds(data_dir) == {log_path(data_dir, lost): "lost_log"}
    store, report = await open_with_report(data_dir)
    try:
        assert "lost_log" in report.damaged[lost]
        health = store.health()
        assert health["status"] == "degraded"
        assert "lost_log" in health["problems"][lost]
        assert store.session(kept).version == 4
    finally:
        await store.close()
    assert kinds(data_dir) == {log_path(data_dir, lost): "lost_log"}


async def test_a_missing_sessions_dir_beside_used_logs_is_reported_and_not_remade(
    data_dir: Path,
) -> None:
    store = await open_store(data_dir)
    try:
        await store.create_session(title="gone with its directory")
        await store.change_settings({"theme": "light"})
    finally:
        await store.close()
    shutil.rmtree(data_dir / "sessions")
    shutil.rmtree(data_dir / "snapshots")  # settings.jsonl alone shows the dir was in use

    assert kinds(data_dir) == {data_dir / "sessions": "lost_dir"}
    store, report = await open_with_report(data_dir)
    try:
        assert "lost_dir" in report.damaged["sessions/"]
        assert store.health()["status"] == "degraded"
        assert store.settings.theme == "light"
        with pytest.raises(StorageUnavailable, match="restore it from a backup"):
            await store.create_session(title="would hide the loss")
    finally:
        await store.close()
    assert not (data_dir / "sessions").exists()
    assert kinds(data_dir) == {data_dir / "sessions": "lost_dir"}

    # The operator accepts the loss by making the directory again: the service carries on.
    (data_dir / "sessions").mkdir()
    store, report = await open_with_report(data_dir)
    try:
        assert report.damaged == {}
        await store.create_session(title="after the operator's choice")
    finally:
        await store.close()


async def test_a_new_data_dir_and_one_with_settings_only_are_not_loss(data_dir: Path) -> None:
    store, report = await open_with_report(data_dir)
    try:
        assert report.damaged == {}
        await store.change_settings({"theme": "light"})
    finally:
        await store.close()
    store, report = await open_with_report(data_dir)
    await store.close()
    assert report.damaged == {}
    assert_verifies(data_dir)


async def test_a_log_never_named_is_set_aside_and_a_copy_holding_one_verifies(
    data_dir: Path,
) -> None:
    """A crash while creating a log leaves it under its temporary name: it was never answered,
    so verify (of a `cp -a` taken then) passes it over and start-up moves it to quarantine/."""
    lost, _ = await two_sessions(data_dir)
    creating = data_dir / "sessions" / "5a1f0c9e-0000-4000-8000-000000000001.jsonl.new"
    creating.write_bytes(lines_of(log_path(data_dir, lost))[0])
    assert_verifies(data_dir)

    store, report = await open_with_report(data_dir)
    try:
        assert report.damaged == {}
        assert store.health()["status"] == "ok"
    finally:
        await store.close()
    assert not creating.exists()
    kept = list((data_dir / "quarantine").iterdir())
    assert [p.name.startswith(creating.name) for p in kept] == [True]
    assert_verifies(data_dir)


async def test_a_purge_is_not_reported_as_loss(data_dir: Path) -> None:
    purged, kept = await two_sessions(data_dir)
    await purge(data_dir, purged, by="test")
    assert kinds(data_dir) == {}
    store, report = await open_with_report(data_dir)
    try:
        assert report.damaged == {}
        assert store.session(kept).version == 4
    finally:
        await store.close()
