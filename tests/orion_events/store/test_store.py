"""The store on a real FileLog: concurrency, rejections, restart, locking and torn-tail recovery.

Every test writes real files under tmp_path (with real fsyncs) and checks them by reading the
JSONL lines back, not by asking the store what it thinks it wrote.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from orion_events.domain.errors import (
    DataDirLocked,
    InvalidInput,
    PreconditionFailed,
    SessionNotFound,
)
from orion_events.domain.ids import new_id, utc_now
from orion_events.domain.views import SessionView, SettingsView
from orion_events.ops.verify import verify_dir
from orion_events.storage.files.log import FileLog
from orion_events.store.store import Store
from service.payloads import session_json, settings_json
from tests.orion_events.support import (
    assert_gap_free,
    log_path,
    open_store,
    open_with_report,
    read_lines,
)


def session_dump(view: SessionView) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two independent renderings of a view: the API's JSON and every attrs field."""
    fields = attrs.asdict(view, recurse=False)
    fields["messages"] = [attrs.asdict(m) for m in view.messages]
    return session_json(view), fields


def snapshot(store: Store) -> dict[str, Any]:
    """Everything the store serves: each live session in full, the list order, the settings."""
    page = store.sessions()
    return {
        "order": [v.id for v in page.sessions],
        "sessions": {v.id: session_dump(store.session(v.id)) for v in page.sessions},
        "settings": (settings_json(store.settings), attrs.asdict(store.settings)),
    }


# -- concurrency ------------------------------------------------------------------------------


async def test_200_concurrent_messages_to_one_session_are_gap_free(
    store: Store, data_dir: Path
) -> None:
    session = await store.create_session(title="busy")
    contents = [f"message {i}" for i in range(200)]

    views = await asyncio.gather(
        *(store.add_message(session.id, role="user", content=c) for c in contents)
    )

    for content, view in zip(contents, views, strict=True):
        assert view.messages[-1].content == content
    lines = assert_gap_free(log_path(data_dir, session.id), 201)
    logged = [line["data"]["content"] for line in lines[1:]]
    assert sorted(logged) == sorted(contents)
    assert len(set(logged)) == 200
    # Each answer's version is the seq its own event got in the file.
    seq_of = {line["data"]["content"]: line["seq"] for line in lines[1:]}
    for content, view in zip(contents, views, strict=True):
        assert view.version == seq_of[content]
        assert view.messages[-1].id == lines[view.version - 1]["data"]["message_id"]

    final = store.session(session.id)
    assert final.version == 201
    assert final.message_count == 200
    assert [m.content for m in final.messages] == logged


async def test_concurrent_writes_across_50_sessions_are_gap_free_per_session(
    store: Store, data_dir: Path
) -> None:
    sessions = await asyncio.gather(*(store.create_session(title=f"s{i}") for i in range(50)))
    per_session = 12

    async def writer(session_id: str, n: int) -> None:
        await store.add_message(session_id, role="assistant", content=f"{session_id}/{n}")

    await asyncio.gather(
        *(writer(s.id, n) for n in range(per_session) for s in sessions),
        *(store.update_session(s.id, metadata={"k": s.id[:8]}) for s in sessions),
    )

    assert len({s.id for s in sessions}) == 50
    for s in sessions:
        lines = assert_gap_free(log_path(data_dir, s.id), per_session + 2)
        assert all(line["stream"] == s.id for line in lines)
        contents = sorted(
            line["data"]["content"] for line in lines if line["type"] == "message_added"
        )
        assert contents == sorted(f"{s.id}/{n}" for n in range(per_session))
        view = store.session(s.id)
        assert view.version == per_session + 2
        assert view.message_count == per_session
        assert view.metadata == {"k": s.id[:8]}


async def test_rejected_commands_append_nothing_while_valid_ones_in_the_burst_succeed(
    store: Store, data_dir: Path
) -> None:
    busy = await store.create_session(title="busy")
    await store.add_message(busy.id, role="user", content="first")
    quiet = await store.create_session(title="only rejected commands reach this one")
    await store.add_message(quiet.id, role="user", content="hello")
    gone = await store.create_session(title="deleted")
    await store.delete_session(gone.id)

    quiet_path, gone_path = log_path(data_dir, quiet.id), log_path(data_dir, gone.id)
    quiet_bytes, gone_bytes = quiet_path.read_bytes(), gone_path.read_bytes()
    busy_lines_before = read_lines(log_path(data_dir, busy.id))
    quiet_version = store.session(quiet.id).version

    results = await asyncio.gather(
        store.add_message(busy.id, role="user", content="valid 1"),
        store.add_message(busy.id, role="wizard", content="bad role"),
        store.add_message(busy.id, role="user", content="stale", expected_version=1),
        store.add_message(busy.id, role="user", content="valid 2"),
        store.add_message(quiet.id, role="nobody", content="bad role"),
        store.add_message(
            quiet.id, role="user", content="stale", expected_version=quiet_version - 1
        ),
        store.update_session(quiet.id, title="stale", expected_version=quiet_version + 5),
        store.clear_messages(quiet.id, expected_version=0),
        store.add_message(gone.id, role="user", content="to a deleted session"),
        store.update_session(gone.id, title="renamed after delete"),
        store.clear_messages(gone.id),
        store.delete_session(gone.id),
        store.add_message(busy.id, role="assistant", content="valid 3"),
        return_exceptions=True,
    )

    expected = [
        SessionView,
        InvalidInput,
        PreconditionFailed,
        SessionView,
        InvalidInput,
        PreconditionFailed,
        PreconditionFailed,
        PreconditionFailed,
        SessionNotFound,
        SessionNotFound,
        SessionNotFound,
        SessionNotFound,
        SessionView,
    ]
    assert [type(r) for r in results] == expected, results
    assert quiet_path.read_bytes() == quiet_bytes
    assert gone_path.read_bytes() == gone_bytes
    busy_lines = assert_gap_free(log_path(data_dir, busy.id), len(busy_lines_before) + 3)
    assert busy_lines[: len(busy_lines_before)] == busy_lines_before
    added = sorted(line["data"]["content"] for line in busy_lines[len(busy_lines_before) :])
    assert added == ["valid 1", "valid 2", "valid 3"]
    assert store.session(quiet.id).version == quiet_version
    with pytest.raises(SessionNotFound):
        store.session(gone.id)


async def test_same_expected_version_in_one_burst_lets_exactly_one_through(
    store: Store, data_dir: Path
) -> None:
    session = await store.create_session()
    version = session.version

    results = await asyncio.gather(
        *(
            store.add_message(
                session.id, role="user", content=f"race {i}", expected_version=version
            )
            for i in range(10)
        ),
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, SessionView)]
    losers = [r for r in results if isinstance(r, PreconditionFailed)]
    assert (len(winners), len(losers)) == (1, 9), results
    lines = assert_gap_free(log_path(data_dir, session.id), 2)
    assert lines[1]["data"]["content"] == winners[0].messages[-1].content


# -- restart ----------------------------------------------------------------------------------


async def test_restart_rebuilds_every_session_and_the_settings(data_dir: Path) -> None:
    store = await open_store(data_dir)
    try:
        untitled = await store.create_session()
        await store.add_message(untitled.id, role="system", content="be brief")
        await store.add_message(untitled.id, role="user", content="  What   is\n an event log?  ")
        await store.add_message(
            untitled.id, role="assistant", content="An append-only…", agent="a", model="m"
        )

        renamed = await store.create_session(title="Draft", metadata={"team": "core"})
        await store.update_session(renamed.id, title="Final", metadata={"team": "ops", "x": "1"})
        await store.add_message(renamed.id, role="user", content="keeps the client title")

        cleared = await store.create_session(title="cleared")
        await asyncio.gather(
            *(store.add_message(cleared.id, role="tool", content=f"t{i}") for i in range(5))
        )
        await store.clear_messages(cleared.id)
        await store.add_message(cleared.id, role="user", content="after the clear")

        deleted = await store.create_session(title="to delete")
        await store.add_message(deleted.id, role="user", content="doomed")
        await store.delete_session(deleted.id)

        await store.change_settings({"theme": "light", "temperature": 1.25})
        await store.reset_settings()
        await store.change_settings({"language": "de-CH", "max_tokens": 512})
        await store.change_settings({"enable_sounds": False})

        before = snapshot(store)
    finally:
        await store.close()

    assert before["settings"][0]["language"] == "de-CH"
    assert before["settings"][0]["theme"] == "dark"  # the reset took effect before the change
    assert before["sessions"][untitled.id][0]["title"] == "What is an event log?"
    assert before["sessions"][renamed.id][0]["title"] == "Final"
    assert [m["content"] for m in before["sessions"][cleared.id][0]["messages"]] == [
        "after the clear"
    ]
    assert deleted.id not in before["sessions"]

    again = await open_store(data_dir)
    try:
        after = snapshot(again)
        assert after == before
        assert again.settings == SettingsView(**before["settings"][1])
        with pytest.raises(SessionNotFound):
            again.session(deleted.id)
        with pytest.raises(SessionNotFound):
            await again.add_message(deleted.id, role="user", content="back from the dead?")
        assert log_path(data_dir, deleted.id).exists()  # the tombstone, not a removal
        assert read_lines(log_path(data_dir, deleted.id))[-1]["type"] == "session_deleted"
        assert again.health()["status"] == "ok"
    finally:
        await again.close()
    assert all(report.ok for report in verify_dir(data_dir))


# -- the data-dir lock --------------------------------------------------------------------------


async def test_second_filelog_on_the_same_dir_is_refused(data_dir: Path) -> None:
    first = FileLog(data_dir)
    await first.open()
    second = FileLog(data_dir)
    try:
        with pytest.raises(DataDirLocked) as refused:
            await second.open()
        assert str(data_dir) in refused.value.message
    finally:
        await second.close()
        await first.close()

    # Once the first lets go, the dir can be opened again.
    third = FileLog(data_dir)
    await third.open()
    await third.close()


# -- torn tails ---------------------------------------------------------------------------------


async def test_torn_last_line_is_cut_quarantined_reported_and_writes_continue(
    data_dir: Path,
) -> None:
    store = await open_store(data_dir)
    try:
        session = await store.create_session(title="torn")
        for i in range(3):
            await store.add_message(session.id, role="user", content=f"m{i}")
        other = await store.create_session(title="untouched")
        before = session_dump(store.session(session.id))
        other_before = session_dump(store.session(other.id))
    finally:
        await store.close()

    path = log_path(data_dir, session.id)
    intact = path.read_bytes()
    last_line = intact.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    torn = last_line.replace(b'"seq":4', b'"seq":5')[: len(last_line) // 2]
    assert b"\n" not in torn
    with path.open("ab") as f:
        f.write(torn)
    assert not all(r.ok for r in verify_dir(data_dir))

    store, report = await open_with_report(data_dir)
    try:
        assert set(report.cut_tails) == {session.id}
        assert "line 5" in report.cut_tails[session.id]
        assert report.damaged == {}
        assert store.health()["status"] == "ok"
        assert path.read_bytes() == intact
        assert session_dump(store.session(session.id)) == before
        assert session_dump(store.session(other.id)) == other_before

        view = await store.add_message(session.id, role="assistant", content="after recovery")
        assert view.version == 5
        lines = assert_gap_free(path, 5)
        assert lines[-1]["data"]["content"] == "after recovery"
        assert lines[-1]["prev"] == lines[-2]["hash"]
    finally:
        await store.close()

    kept = list((data_dir / "quarantine").iterdir())
    assert [p.read_bytes() for p in kept] == [torn]
    assert all(r.ok for r in verify_dir(data_dir))


async def test_torn_tail_appears_in_the_load_report(data_dir: Path) -> None:
    store = await open_store(data_dir)
    try:
        torn_session = await store.create_session(title="torn")
        clean_session = await store.create_session(title="clean")
    finally:
        await store.close()
    with log_path(data_dir, torn_session.id).open("ab") as f:
        f.write(b'{"seq":2,"id":"')

    store, report = await open_with_report(data_dir)
    try:
        assert set(report.cut_tails) == {torn_session.id}
        assert "line 2" in report.cut_tails[torn_session.id]
        assert report.damaged == {}
        assert report.sessions == 2
        assert report.events == 2
        assert store.session(clean_session.id).version == 1
    finally:
        await store.close()

    # Cut once: the next start finds nothing to report.
    store, report = await open_with_report(data_dir)
    await store.close()
    assert report.cut_tails == {}


def test_new_ids_are_distinct_canonical_version_4_uuids() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lowercase, dashed: what the log and the routes expect
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    # Every variant digit occurs, so the two variant bits are random, not fixed.
    assert {text[19] for text in ids} == set("89ab")


def test_utc_now_is_the_logs_timestamp_form() -> None:
    before = datetime.now(UTC)
    text = utc_now()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text)
    assert before <= datetime.fromisoformat(text.replace("Z", "+00:00")) <= after
