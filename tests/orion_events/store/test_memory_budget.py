"""A memory budget: summaries of every session stay, messages of the recently used ones only;
a cold session is read back from its own log and serves exactly what it would have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orion_events.storage.files.log import FileLog
from orion_events.store.snapshot import FILE_NAME as SNAPSHOT_FILE
from orion_events.store.store import Store
from service.payloads import session_json

BUDGET = 100_000  # bytes: a handful of the sessions below
SESSIONS, MESSAGES = 30, 20


async def _open(data_dir: Path, budget: int | None) -> tuple[Store, Any]:
    store = Store(FileLog(data_dir), cache_bytes=budget)
    return store, await store.open()


async def _fill(data_dir: Path) -> list[str]:
    store, _ = await _open(data_dir, None)
    ids = []
    for s in range(SESSIONS):
        view = await store.create_session(title=None if s % 3 else f"chat {s}")
        ids.append(view.id)
        for m in range(MESSAGES):
            content = f"session{s} message{m} " + "x" * 1000
            await store.add_message(
                view.id, role="user" if m % 2 == 0 else "assistant", content=content
            )
    await store.close()
    return ids


async def _everything(store: Store, ids: list[str]) -> dict[str, Any]:
    return {sid: session_json(await store.loaded(sid)) for sid in ids}


async def test_a_budget_keeps_few_sessions_hot_and_serves_every_one_whole(data_dir: Path) -> None:
    ids = await _fill(data_dir)
    unbounded, _ = await _open(data_dir, None)
    expected = await _everything(unbounded, ids)
    await unbounded.close()
    (data_dir / "snapshots" / SNAPSHOT_FILE).unlink()  # this test reads the logs themselves

    store, report = await _open(data_dir, BUDGET)
    try:
        assert not report.from_snapshot
        assert all(store.session(sid).cold for sid in ids)  # under a budget, all start cold
        assert [session_json(v, messages=False) for v in store.sessions().sessions] == [
            {k: v for k, v in expected[s.id].items() if k != "messages"}
            for s in store.sessions().sessions
        ]
        assert await _everything(store, ids) == expected
        cache = store.health()["cache"]
        assert cache["budget_bytes"] == BUDGET
        assert 0 < cache["hot_bytes"] <= BUDGET
        assert 1 <= cache["hot_sessions"] < SESSIONS
        assert sum(not store.session(sid).cold for sid in ids) == cache["hot_sessions"]
    finally:
        await store.close()


async def test_writes_forks_and_search_work_on_cold_sessions(data_dir: Path) -> None:
    ids = await _fill(data_dir)
    store, _ = await _open(data_dir, BUDGET)
    try:
        target = ids[7]
        assert store.session(target).cold
        view = await store.add_message(target, role="user", content="appended while cold")
        assert view.version == MESSAGES + 2
        assert [m.content for m in view.messages][-1] == "appended while cold"
        first = view.messages[0].id
        for sid in ids:  # push the target out of the budget again
            await store.loaded(sid)
        assert store.session(target).cold
        edited = await store.edit_message(target, first, content="edited while cold")
        assert edited.messages[0].content == "edited while cold"
        assert edited.message_count == MESSAGES + 1

        for sid in ids:
            await store.loaded(sid)
        assert store.session(ids[3]).cold
        fork = await store.fork_session(ids[3], version=5)
        assert fork.message_count == 4
        assert [m.content.split()[:2] for m in fork.messages] == [
            ["session3", f"message{m}"] for m in range(4)
        ]

        found = await store.search("session12 message19")
        assert [hit.session_id for hit in found.hits] == [ids[12]]
        assert (await store.search("edited while cold")).hits[0].session_id == target
    finally:
        await store.close()


async def test_a_snapshot_of_cold_sessions_holds_summaries_and_resumes(data_dir: Path) -> None:
    ids = await _fill(data_dir)
    store, _ = await _open(data_dir, BUDGET)
    await store.add_message(ids[0], role="user", content="hot at close")
    await store.close()  # snapshot: most sessions cold, their messages left in the logs
    assert b"session20 message3" not in (data_dir / "snapshots" / SNAPSHOT_FILE).read_bytes()

    store, report = await _open(data_dir, BUDGET)
    try:
        assert report.from_snapshot
        resumed = await _everything(store, ids)
    finally:
        store._snapshots.position = store._log.last_position
        await store.close()
    (data_dir / "snapshots" / SNAPSHOT_FILE).unlink()
    replayed_store, _ = await _open(data_dir, None)
    try:
        assert resumed == await _everything(replayed_store, ids)
    finally:
        await replayed_store.close()
