"""Snapshots: a start from one serves exactly what a full replay serves; they are derived,
checked against the logs before use, and safe to lose."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from orion_events.domain import packing
from orion_events.domain.projector import RULES_VERSION
from orion_events.ops.purge import purge
from orion_events.storage.files.log import FileLog
from orion_events.store import snapshot
from orion_events.store.snapshot import FILE_NAME as SNAPSHOT_FILE
from orion_events.store.store import Store
from service.payloads import event_json, message_json, session_json, settings_json
from tests.orion_events.support import lines_of, log_path, open_store, open_with_report


async def _state(store: Store) -> dict[str, Any]:
    """Everything a client can read, including deleted sessions' views and the whole feed."""
    sessions = {
        sid: session_json(v)
        | {"deleted": v.deleted, "every": [message_json(v, n) for n in v.tree.live_numbers()]}
        for sid, v in store._current.sessions.items()
    }
    feed = [event_json(r) for r in await store.feed(0, 1_000_000)]
    return {
        "sessions": sessions,
        "settings": settings_json(store.settings),
        "feed": feed,
        "keys": dict(store._current.keys),
        "health": store.health() | {"search": None},
    }


async def _write_history(store: Store, tag: str) -> list[str]:
    ids = []
    for i in range(4):
        view = await store.create_session(title=None if i % 2 else f"{tag} {i}")
        ids.append(view.id)
        for n in range(5):
            await store.add_message(
                view.id, role="user", content=f"{tag} {i} {n}", idempotency_key=f"{tag}-{i}-{n}"
            )
    await store.update_session(ids[0], title=f"{tag} renamed", metadata={"k": tag})
    first = store.session(ids[1]).messages[0].id
    await store.edit_message(ids[1], first, content=f"{tag} edited")
    await store.delete_session(ids[2])
    await store.fork_session(ids[3], version=3)
    # branches: a regenerated reply and its follow-up, a switch back, a message deleted from
    # the middle (its replies move up), a branch pruned, and a fork of a branch
    tree = ids[3]
    root, reply = (m.id for m in store.session(tree).live_messages[:2])
    regen = await store.add_message(tree, role="assistant", content=f"{tag} regen", parent_id=root)
    await store.add_message(tree, role="user", content=f"{tag} follow-up")
    await store.set_current(tree, reply)
    await store.delete_message(tree, reply)
    await store.fork_session(tree, message_id=regen.current_id)
    await store.delete_message(tree, regen.current_id, subtree=True)
    await store.change_settings({"theme": "light", "max_tokens": 100 + len(tag)})
    return ids


async def _full_replay_state(data_dir: Path) -> dict[str, Any]:
    """The state a start without any snapshot gives (the snapshot is moved away meanwhile)."""
    snapshot = data_dir / "snapshots" / SNAPSHOT_FILE
    aside = data_dir.parent / "snapshot.aside"
    snapshot.rename(aside)
    store = await open_store(data_dir)
    try:
        return await _state(store)
    finally:
        store._snapshots.position = store._log.last_position  # write none at close
        await store.close()
        aside.rename(snapshot)


async def test_a_start_from_a_snapshot_and_its_tails_equals_a_full_replay(data_dir: Path) -> None:
    store = await open_store(data_dir)
    await _write_history(store, "before")
    await store.close()  # writes the snapshot
    assert (data_dir / "snapshots" / SNAPSHOT_FILE).is_file()

    # More is written after the snapshot, and the next close is kept from snapshotting, so the
    # next start must read these tails from the logs.
    store = await open_store(data_dir)
    await _write_history(store, "after")
    store._snapshots.position = store._log.last_position
    await store.close()

    replayed = await _full_replay_state(data_dir)
    store, report = await open_with_report(data_dir)
    try:
        assert report.from_snapshot
        assert await _state(store) == replayed
        # Search is rebuilt from the resumed views and finds words from before and after.
        assert (await store.search("before renamed")).total == 1
        assert (await store.search("after edited")).total == 1
    finally:
        await store.close()


async def test_a_log_changed_before_its_mark_makes_the_snapshot_unused(data_dir: Path) -> None:
    store = await open_store(data_dir)
    ids = await _write_history(store, "x")
    await store.close()
    path = data_dir / "sessions" / f"{ids[0]}.jsonl"
    data = bytearray(path.read_bytes())
    data[data.index(b"x 0 1")] ^= 0x01  # line 3: well before the snapshot's mark
    path.write_bytes(bytes(data))

    store, report = await open_with_report(data_dir)
    try:
        assert not report.from_snapshot
        # Replayed in full, so the damage is found and named, and the session is read-only.
        assert ids[0] in store.health()["read_only_sessions"]
        assert store.session(ids[0]).version == 2
    finally:
        await store.close()


async def test_a_broken_or_missing_snapshot_costs_only_time(data_dir: Path) -> None:
    store = await open_store(data_dir)
    await _write_history(store, "y")
    await store.close()
    replayed = await _full_replay_state(data_dir)

    snapshot = data_dir / "snapshots" / SNAPSHOT_FILE
    snapshot.write_bytes(snapshot.read_bytes()[:1000])  # cut short: not a whole snapshot any more
    store = await open_store(data_dir)
    try:
        assert await _state(store) == replayed
    finally:
        await store.close()  # writes a good one again

    snapshot.unlink()
    store = await open_store(data_dir)
    try:
        assert await _state(store) == replayed
    finally:
        await store.close()


async def test_a_snapshot_from_before_trees_is_ignored_not_misread(data_dir: Path) -> None:
    """Format 4 held no trees: its rows and bytes laid out differently. One is never read as
    today's: the start replays the logs and gives what a start without snapshot gives."""
    store = await open_store(data_dir)
    await _write_history(store, "old")
    await store.close()
    replayed = await _full_replay_state(data_dir)
    path = data_dir / "snapshots" / SNAPSHOT_FILE
    raw = path.read_bytes()
    start = raw.index(b"\n") + 1
    length = int.from_bytes(raw[start : start + 8], "little")
    header = orjson.loads(raw[start + 8 : start + 8 + length])
    assert header["format"] == snapshot.FORMAT == 6
    header["format"] = 4
    header["sessions"] = [[*row[:9], row[9], row[9] or 0] for row in header["sessions"]]
    encoded = orjson.dumps(header)
    path.write_bytes(
        raw[:start] + len(encoded).to_bytes(8, "little") + encoded + raw[start + 8 + length :]
    )
    assert snapshot.read_marks(data_dir / "snapshots") is None
    store, report = await open_with_report(data_dir)
    try:
        assert not report.from_snapshot
        assert await _state(store) == replayed
    finally:
        await store.close()


async def test_a_snapshot_leaves_out_a_session_with_a_write_in_flight(data_dir: Path) -> None:
    store = await open_store(data_dir)
    ids = await _write_history(store, "z")
    # A write queued but not yet applied: the snapshot must not mark its log as covered.
    task = asyncio.ensure_future(store.add_message(ids[0], role="user", content="in flight"))
    await asyncio.sleep(0)
    await store.write_snapshot()
    await task
    store._snapshots.position = store._log.last_position
    await store.close()

    replayed = await _full_replay_state(data_dir)
    store = await open_store(data_dir)
    try:
        assert await _state(store) == replayed
        assert store.session(ids[0]).messages[-1].content == "in flight"
    finally:
        await store.close()


async def test_purge_deletes_snapshots_holding_the_purged_text(data_dir: Path) -> None:
    store = await open_store(data_dir)
    ids = await _write_history(store, "secret")
    await store.close()
    snapshot = data_dir / "snapshots" / SNAPSHOT_FILE
    assert ids[0].encode() in snapshot.read_bytes()

    await purge(data_dir, ids[0], by="test")
    assert not snapshot.exists()
    store = Store(FileLog(data_dir))
    await store.open()
    try:
        assert ids[0] not in store._current.sessions
        assert ids[1] in store._current.sessions
    finally:
        await store.close()


async def test_a_snapshot_numbering_names_differently_is_renumbered(data_dir: Path) -> None:
    # Packed messages hold a number for their (role, agent, model); a snapshot written by
    # another process numbered them in its own order, which it carries beside the messages.
    sent = [(role, f"model {n}") for n, role in enumerate(["user", "assistant", "system", "tool"])]
    store = await open_store(data_dir)
    sid = (await store.create_session(title="names")).id
    for n, (role, model) in enumerate(sent):
        await store.add_message(sid, role=role, content=str(n), model=model)
    await store.close()
    path = data_dir / "snapshots" / SNAPSHOT_FILE
    raw = path.read_bytes()
    start = raw.index(b"\n") + 1
    length = int.from_bytes(raw[start : start + 8], "little")
    header = orjson.loads(raw[start + 8 : start + 8 + length])
    # Swap what the first and the last message's numbers meant in the writer's table.
    first, last = (packing.NAMES.number((role, None, model)) for role, model in sent[::3])
    names = header["names"]
    names[first], names[last] = names[last], names[first]
    encoded = orjson.dumps(header)
    rest = raw[start + 8 + length :]
    path.write_bytes(raw[:start] + len(encoded).to_bytes(8, "little") + encoded + rest)

    store, report = await open_with_report(data_dir)
    try:
        assert report.from_snapshot
        read = [(m.role, m.model) for m in store.session(sid).messages]
    finally:
        await store.close()
    assert read == [sent[3], sent[1], sent[2], sent[0]]


async def test_a_snapshot_is_written_in_the_background_every_n_events(data_dir: Path) -> None:
    store = Store(FileLog(data_dir), snapshot_events=100)
    await store.open()
    try:
        session = await store.create_session(title="busy")
        for n in range(249):
            await store.add_message(session.id, role="user", content=f"m{n}")
        deadline = asyncio.get_running_loop().time() + 10
        while (marks := snapshot.read_marks(data_dir / "snapshots")) is None or marks[
            session.id
        ].seq < 200:
            assert asyncio.get_running_loop().time() < deadline, "no snapshot in the background"
            await asyncio.sleep(0.01)
        # Every 100 events, not only at a stop: the last one took the 200th.
        assert 200 <= marks[session.id].seq <= 250
    finally:
        await store.close()


def _as_an_older_release_wrote_it(path: Path, titles: dict[str, str]) -> None:
    """Make the snapshot at `path` one that a release before projection rules were recorded
    wrote: no `rules` in its header, and in its views the titles the older rule derived."""
    raw = path.read_bytes()
    start = raw.index(b"\n") + 1
    length = int.from_bytes(raw[start : start + 8], "little")
    header = orjson.loads(raw[start + 8 : start + 8 + length])
    assert header.pop("rules") == RULES_VERSION
    for row in header["sessions"]:
        if row[0] in titles:
            row[4], row[5] = titles[row[0]], "auto"  # title, title_source
    encoded = orjson.dumps(header)
    rest = raw[start + 8 + length :]
    path.write_bytes(raw[:start] + len(encoded).to_bytes(8, "little") + encoded + rest)


async def _titled_by_invisible_text(data_dir: Path) -> tuple[str, str]:
    """Two untitled sessions whose first user messages begin with, or are only, characters that
    show nothing; closed, so a snapshot holds them."""
    store = await open_store(data_dir)
    try:
        bom = (await store.create_session()).id
        await store.add_message(bom, role="user", content="\ufeffHello there")
        blank = (await store.create_session()).id
        await store.add_message(blank, role="user", content="\u200b")
        await store.add_message(blank, role="user", content="Later words")
    finally:
        await store.close()
    return bom, blank


async def test_a_snapshot_folded_under_older_rules_is_replayed_past(data_dir: Path) -> None:
    """Titles are derived, so a start after the title rule changed must title every session
    by the new rule, as a full replay does, not serve what an older snapshot held."""
    bom, blank = await _titled_by_invisible_text(data_dir)
    path = data_dir / "snapshots" / SNAPSHOT_FILE
    _as_an_older_release_wrote_it(path, {bom: "\ufeffHello there", blank: "\u200b"})
    replayed = await _full_replay_state(data_dir)
    assert replayed["sessions"][bom]["title"] == "Hello there"
    assert replayed["sessions"][blank]["title"] == "Later words"

    store, report = await open_with_report(data_dir)
    try:
        assert not report.from_snapshot
        assert await _state(store) == replayed
        assert [v.title for v in store.sessions().sessions] == ["Later words", "Hello there"]
        hits = (await store.search("later")).hits
        assert [(h.session_id, h.title_match) for h in hits] == [(blank, True)]
    finally:
        await store.close()  # a snapshot of these rules replaces the older one

    store, report = await open_with_report(data_dir)
    try:
        assert report.from_snapshot
        assert await _state(store) == replayed
    finally:
        await store.close()


async def test_a_snapshot_folded_under_older_rules_still_finds_lost_logs(data_dir: Path) -> None:
    """Its views are not used, but its marks still say how far each log reached: a log that
    lost its tail since is reported, not taken as whole (and the snapshot not replaced)."""
    bom, blank = await _titled_by_invisible_text(data_dir)
    path = data_dir / "snapshots" / SNAPSHOT_FILE
    _as_an_older_release_wrote_it(path, {bom: "\ufeffHello there"})
    lost = log_path(data_dir, blank)
    lost.write_bytes(b"".join(lines_of(lost)[:2]))

    for _ in range(2):
        store, report = await open_with_report(data_dir)
        try:
            assert not report.from_snapshot
            assert "lost_tail" in report.damaged[blank]
            assert store.session(bom).title == "Hello there"
        finally:
            await store.close()
