"""Writes that change nothing append nothing (SPEC §12): the store on a real FileLog.

Each no-op is checked on the disk (no line appended, the log's bytes as they were) and on what
the store serves (the same version and updated_at, the same place in the list, the same feed),
and its preconditions still hold: a stale version is refused, a deleted session is not found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from attrs import frozen

from orion_events.domain.errors import PreconditionFailed, SessionNotFound, SessionReadOnly
from orion_events.domain.views import SessionView
from orion_events.storage.files.log import FileLog
from orion_events.store.store import Store
from tests.orion_events.support import everything, log_path, open_store


async def _sessions(store: Store) -> tuple[SessionView, SessionView, SessionView]:
    """A titled session with metadata and two messages, an empty one, and a newer third, so
    that a write which moved either of the first two would move it up the list."""
    full = await store.create_session(title="Plans", metadata={"team": "edge", "tier": "1"})
    await store.add_message(full.id, role="user", content="What first?")
    await store.add_message(full.id, role="assistant", content="The edge.")
    empty = await store.create_session(title="Empty")
    newest = await store.create_session(title="Newest")
    return store.session(full.id), store.session(empty.id), newest


@frozen
class NoOp:
    target: str  # which of _sessions' first two it writes to: "full" or "empty"
    write: Callable[[Store, SessionView, int | None], Awaitable[SessionView]]  # view, If-Match


NO_OPS: dict[str, NoOp] = {
    "rename to the same title": NoOp(
        "full", lambda s, v, at: s.update_session(v.id, title="Plans", expected_version=at)
    ),
    "the same metadata": NoOp(
        "full",
        lambda s, v, at: s.update_session(
            v.id,
            metadata={"tier": "1", "team": "edge"},  # an object: the order of keys is no part
            expected_version=at,
        ),
    ),
    "both the same": NoOp(
        "full",
        lambda s, v, at: s.update_session(
            v.id, title="Plans", metadata={"team": "edge", "tier": "1"}, expected_version=at
        ),
    ),
    "nothing to change": NoOp("full", lambda s, v, at: s.update_session(v.id, expected_version=at)),
    "edit to the same text": NoOp(
        "full",
        lambda s, v, at: s.edit_message(
            v.id, v.messages[1].id, content="The edge.", expected_version=at
        ),
    ),
    "clear an empty session": NoOp(
        "empty", lambda s, v, at: s.clear_messages(v.id, expected_version=at)
    ),
}


async def _target(store: Store, no_op: NoOp) -> SessionView:
    full, empty, _ = await _sessions(store)
    return full if no_op.target == "full" else empty


@pytest.mark.parametrize("name", list(NO_OPS))
async def test_a_session_write_that_changes_nothing_appends_nothing(
    store: Store, data_dir: Path, name: str
) -> None:
    no_op = NO_OPS[name]
    target = await _target(store, no_op)
    path = log_path(data_dir, target.id)
    before_bytes, before_served = path.read_bytes(), everything(store)
    before_order = [v.id for v in store.sessions().sessions]
    before_position, before_events = store.last_position, store.health()["events"]

    answer = await no_op.write(store, target, None)

    assert path.read_bytes() == before_bytes
    assert answer == store.session(target.id) == target
    assert (answer.version, answer.updated_at) == (target.version, target.updated_at)
    assert everything(store) == before_served
    assert [v.id for v in store.sessions().sessions] == before_order
    assert (store.last_position, store.health()["events"]) == (before_position, before_events)
    # With If-Match at the version the client holds, too: checked, and it holds.
    assert await no_op.write(store, target, target.version) == target
    assert path.read_bytes() == before_bytes


@pytest.mark.parametrize("name", list(NO_OPS))
async def test_a_no_op_with_a_stale_version_is_still_refused(
    store: Store, data_dir: Path, name: str
) -> None:
    no_op = NO_OPS[name]
    target = await _target(store, no_op)
    await store.add_message(target.id, role="user", content="moves the version on")
    if no_op.target == "empty":
        await store.clear_messages(target.id)  # empty again, at a newer version
    current = store.session(target.id)
    path = log_path(data_dir, target.id)
    before = path.read_bytes()
    with pytest.raises(PreconditionFailed):
        await no_op.write(store, current, target.version)
    assert path.read_bytes() == before
    assert store.session(target.id) == current


@pytest.mark.parametrize("name", list(NO_OPS))
async def test_a_no_op_on_a_deleted_session_is_not_found(
    store: Store, data_dir: Path, name: str
) -> None:
    no_op = NO_OPS[name]
    target = await _target(store, no_op)
    await store.delete_session(target.id)
    path = log_path(data_dir, target.id)
    before = path.read_bytes()
    for version in (None, target.version + 1):
        with pytest.raises(SessionNotFound):
            await no_op.write(store, target, version)
    assert path.read_bytes() == before


async def test_only_what_changes_is_appended(store: Store, data_dir: Path) -> None:
    full, _, _ = await _sessions(store)
    renamed = await store.update_session(full.id, title="Plans", metadata={"team": "core"})
    assert renamed.version == full.version + 1
    assert (renamed.title, dict(renamed.metadata)) == ("Plans", {"team": "core"})
    retitled = await store.update_session(full.id, title="Plans v2", metadata={"team": "core"})
    assert retitled.version == renamed.version + 1
    assert [e.type for e in await store.history(full.id)][-2:] == [
        "metadata_updated",
        "session_renamed",
    ]


async def test_naming_a_default_titled_session_new_chat_pins_its_title(store: Store) -> None:
    """'New Chat' as the default is the first user message's to replace; as the client's
    own title it never is. So that rename changes something, and is written."""
    untitled = await store.create_session()
    pinned = await store.update_session(untitled.id, title="New Chat")
    assert pinned.version == untitled.version + 1
    assert pinned.title_source == "client"
    after = await store.add_message(untitled.id, role="user", content="Not a title")
    assert after.title == "New Chat"


async def test_renaming_to_the_auto_title_changes_nothing(store: Store, data_dir: Path) -> None:
    untitled = await store.create_session()
    titled = await store.add_message(untitled.id, role="user", content="Hello   there")
    assert (titled.title, titled.title_source) == ("Hello there", "auto")
    before = log_path(data_dir, untitled.id).read_bytes()
    assert await store.update_session(untitled.id, title="Hello there") == titled
    assert log_path(data_dir, untitled.id).read_bytes() == before


async def test_an_edit_back_and_forth_is_written_each_time(store: Store) -> None:
    full, _, _ = await _sessions(store)
    message = full.messages[0].id
    first = await store.edit_message(full.id, message, content="What next?")
    second = await store.edit_message(full.id, message, content="What first?")
    assert (first.version, second.version) == (full.version + 1, full.version + 2)
    # Cleared, then cleared again: only the first clear changes anything.
    cleared = await store.clear_messages(full.id)
    assert await store.clear_messages(full.id) == cleared


async def test_in_one_batch_a_repeat_of_a_change_is_a_no_op(store: Store, data_dir: Path) -> None:
    """Commands queued together are each decided on the view the ones before leave."""
    full, _, _ = await _sessions(store)
    message = full.messages[1].id
    answers = await asyncio.gather(
        store.update_session(full.id, title="Twice"),
        store.update_session(full.id, title="Twice"),
        store.edit_message(full.id, message, content="Once"),
        store.edit_message(full.id, message, content="Once"),
        store.clear_messages(full.id),
        store.clear_messages(full.id),
    )
    assert [a.version for a in answers] == [full.version + n for n in (1, 1, 2, 2, 3, 3)]
    types = [e.type for e in await store.history(full.id)][full.version :]
    assert types == ["session_renamed", "message_edited", "messages_cleared"]


async def test_a_no_op_on_a_cold_session_appends_nothing_and_keeps_its_place(
    data_dir: Path,
) -> None:
    """Under a memory budget a session may be cold (its messages only in its log): a write
    reads them back first, and must still find there is nothing to change."""
    store = Store(FileLog(data_dir), cache_bytes=1)
    await store.open()
    try:
        cold, empty, _ = await _sessions(store)
        full = await store.loaded(cold.id)
        await store.loaded(empty.id)  # now the most recently used: the budget keeps it alone
        assert store.session(full.id).cold
        order = [v.id for v in store.sessions().sessions]
        before = log_path(data_dir, full.id).read_bytes()
        edited = await store.edit_message(full.id, full.messages[1].id, content="The edge.")
        renamed = await store.update_session(full.id, title="Plans", metadata=full.metadata)
        assert edited.version == renamed.version == full.version
        assert renamed.updated_at == full.updated_at
        assert log_path(data_dir, full.id).read_bytes() == before
        assert [v.id for v in store.sessions().sessions] == order
    finally:
        await store.close()


async def test_settings_patched_to_what_they_are_append_nothing(
    store: Store, data_dir: Path
) -> None:
    settings_log = data_dir / "settings.jsonl"
    # Before any change (version 0, no log yet): the defaults, sent back.
    defaults = store.settings
    same = await store.change_settings({"theme": "dark", "temperature": 0.7, "max_tokens": 2048})
    assert same == defaults
    assert same.version == 0
    assert not settings_log.exists()

    changed = await store.change_settings({"theme": "light", "temperature": 1})
    before = settings_log.read_bytes()
    for patch in [{"theme": "light"}, {"temperature": 1.0}, {}, {"language": "en"}]:
        assert await store.change_settings(patch, expected_version=changed.version) == changed
    assert settings_log.read_bytes() == before
    with pytest.raises(PreconditionFailed):
        await store.change_settings({"theme": "light"}, expected_version=changed.version - 1)
    assert settings_log.read_bytes() == before


async def test_a_no_op_on_a_read_only_session_is_still_refused(data_dir: Path) -> None:
    """A damaged log refuses every write before anything is decided, no-ops included: what the
    session holds past the damage is unknown, so 'nothing changes' cannot be known either."""
    store = await open_store(data_dir)
    full, _, _ = await _sessions(store)
    await store.close()
    path = log_path(data_dir, full.id)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"What first?", b"What first!")  # fails its hash
    path.write_bytes(b"".join(lines))
    store = await open_store(data_dir)
    try:
        with pytest.raises(SessionReadOnly):
            await store.update_session(full.id, title="Plans")
    finally:
        await store.close()
