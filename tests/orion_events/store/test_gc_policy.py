"""The store's collector policy: no automatic full collections while it is open, its own one
every so many appended events (each freezing the survivors), the settings given back at close."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from orion_events.store.gc_policy import HeapKeeper
from tests.orion_events.support import open_store


async def test_full_collections_follow_appends_and_freeze_the_survivors(tmp_path: Path) -> None:
    before = gc.get_threshold()
    full_runs: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full_runs.append(gc.get_freeze_count())

    store = await open_store(tmp_path / "var")
    gc.callbacks.append(watch)
    try:
        young, middle, full = gc.get_threshold()
        assert (young, middle) == before[:2]
        assert full > 1_000_000  # automatic full collections are off
        session = await store.create_session(title="heap")
        every = HeapKeeper().every
        for n in range(every - 2):
            await store.add_message(session.id, role="user", content=f"m{n}")
            await asyncio.sleep(0)
        assert full_runs == []  # not due yet, and none came on its own
        for n in range(2):
            await store.add_message(session.id, role="user", content=f"more {n}")
        await asyncio.sleep(0)
        assert len(full_runs) == 1
        assert gc.get_freeze_count() > full_runs[0]  # the survivors were frozen after it
    finally:
        gc.callbacks.remove(watch)
        await store.close()
    assert gc.get_threshold() == before


async def test_two_stores_open_at_once_give_the_settings_back_once_both_close(
    tmp_path: Path,
) -> None:
    before = gc.get_threshold()
    first = await open_store(tmp_path / "a")
    second = await open_store(tmp_path / "b")
    await first.close()
    await second.close()
    assert gc.get_threshold() == before
