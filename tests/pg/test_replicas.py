"""Two replicas on one PostgreSQL log: each follows what the other writes (issue 6).

Each replica is a real Store on its own PostgresLog (its own pool and listener), as two
`orion-events serve --log …` processes would be; a write acknowledged by one becomes visible on
the other, and writes to one session through both never both take a seq. How soon is
measured by `make bench` (bench/replicas.py), never here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from orion_events.domain.errors import PreconditionFailed
from orion_events.domain.users import Access
from orion_events.storage.postgres.log import PostgresLog
from orion_events.store.store import Store
from service.payloads import session_json, settings_json


@pytest.fixture
async def replicas(pg_url: str) -> AsyncIterator[tuple[Store, Store]]:
    a, b = Store(PostgresLog(pg_url)), Store(PostgresLog(pg_url))
    await a.open()
    await b.open()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def eventually(check: Callable[[], bool], seconds: float = 120.0) -> float:
    """Seconds until `check()` holds; fails the test past `seconds`, which is a hang, not a
    speed limit: how soon replicas see each other is the benchmark's (bench/replicas.py)."""
    started = time.perf_counter()
    while not check():
        assert time.perf_counter() - started < seconds, "the other replica never caught up"
        await asyncio.sleep(0.002)
    return time.perf_counter() - started


def same_session(a: Store, b: Store, session_id: str) -> bool:
    try:
        return session_json(a.session(session_id)) == session_json(b.session(session_id))
    except Exception:
        return False


async def test_a_write_through_one_is_read_through_the_other(
    replicas: tuple[Store, Store],
) -> None:
    a, b = replicas
    created = await a.create_session(title="from A", metadata={"k": "v"})
    await a.add_message(created.id, role="user", content="hello from A")
    await b.change_settings({"theme": "light"})
    await eventually(lambda: same_session(a, b, created.id))
    await eventually(lambda: settings_json(a.settings) == settings_json(b.settings))
    assert b.session(created.id).messages[-1].content == "hello from A"
    assert a.settings.theme == "light"
    # B's list, search and history know it too.
    assert [v.id for v in b.sessions().sessions] == [created.id]
    assert (await b.search("hello from")).hits[0].session_id == created.id
    assert [r.type for r in await b.history(created.id)] == ["session_created", "message_added"]


async def test_concurrent_writes_to_one_session_through_both_keep_seq_gap_free(
    replicas: tuple[Store, Store],
) -> None:
    a, b = replicas
    created = await a.create_session(title="shared")
    await eventually(lambda: same_session(a, b, created.id))

    async def post(store: Store, who: str, n: int) -> Any:
        return await store.add_message(created.id, role="user", content=f"{who}{n}")

    answers = await asyncio.gather(
        *(post(a, "a", n) for n in range(40)), *(post(b, "b", n) for n in range(40))
    )
    assert len(answers) == 80  # every write was acknowledged: losers decided again
    await eventually(lambda: a.session(created.id).version == 81)
    await eventually(lambda: same_session(a, b, created.id))
    records = await a.history(created.id, 0, 1000)
    assert [r.seq for r in records] == list(range(1, 82))
    contents = [m.content for m in a.session(created.id).messages]
    assert sorted(contents) == sorted([f"a{n}" for n in range(40)] + [f"b{n}" for n in range(40)])
    # Each replica's answer holds its own message at the seq its event got.
    for answer in answers:
        assert answer.messages[-1].content in contents


async def test_a_stale_if_match_loses_on_either_replica(replicas: tuple[Store, Store]) -> None:
    a, b = replicas
    created = await a.create_session(title="contested")
    await eventually(lambda: same_session(a, b, created.id))
    await a.update_session(created.id, title="A was first", expected_version=1)
    with pytest.raises(PreconditionFailed):
        await b.update_session(created.id, title="B too late", expected_version=1)
    await eventually(lambda: same_session(a, b, created.id))
    assert b.session(created.id).title == "A was first"
    assert [r.seq for r in await b.history(created.id)] == [1, 2]


async def test_a_replica_whose_follower_lags_still_decides_on_the_winners_events(
    replicas: tuple[Store, Store],
) -> None:
    """Losing a seq to another replica reads the winner's events from the log, so a write to a
    session the follower has not brought up to date is decided again on the right view."""
    a, b = replicas
    created = await a.create_session(title="lagging")
    await eventually(lambda: same_session(a, b, created.id))
    assert b._follower is not None
    b._follower.cancel()  # B hears of nothing A does from now on but through its own writes
    for n in range(5):
        await a.add_message(created.id, role="user", content=f"a{n}")
    assert b.session(created.id).version == 1
    answer = await b.add_message(created.id, role="user", content="from B")
    assert answer.version == 7
    assert [m.content for m in answer.messages] == [*(f"a{n}" for n in range(5)), "from B"]
    with pytest.raises(PreconditionFailed):
        await b.update_session(created.id, title="stale", expected_version=1)
    records = await a.history(created.id, 0, 100)
    assert [r.seq for r in records] == list(range(1, 8))


async def test_a_replica_holding_a_session_cold_follows_its_tree(pg_url: str) -> None:
    """B keeps messages for one session at most (a budget of one byte), so the events A writes
    to the other reach B's cold view, which has no messages to look ids up in: its tree must
    follow every regenerate, switch and pruning, since the list shows the current branch."""
    a, b = Store(PostgresLog(pg_url)), Store(PostgresLog(pg_url), cache_bytes=1)
    await a.open()
    await b.open()
    try:
        chat = await a.create_session(title="tree")
        warm = await a.create_session(title="warm")
        question = (await a.add_message(chat.id, role="user", content="q")).current_id
        await a.add_message(warm.id, role="user", content="w")
        await eventually(lambda: b.known_version(warm.id) == 2)
        await b.loaded(warm.id)  # the most recently used: chat goes cold on B
        assert b.session(chat.id).cold
        first = (await a.add_message(chat.id, role="assistant", content="a1")).current_id
        await a.add_message(chat.id, role="assistant", content="a2", parent_id=question)
        await a.add_message(chat.id, role="user", content="f")
        await a.set_current(chat.id, first)
        await eventually(lambda: b.known_version(chat.id) == 6)
        summary = b.session(chat.id)
        assert summary.cold
        assert (summary.message_count, summary.current_id) == (2, first)
        await a.delete_message(chat.id, question, subtree=True)
        await eventually(lambda: b.known_version(chat.id) == 7)
        assert (b.session(chat.id).message_count, b.session(chat.id).current_id) == (0, None)
        loaded = await b.loaded(chat.id)
        assert session_json(loaded) == session_json(a.session(chat.id))
    finally:
        await a.close()
        await b.close()


async def test_users_and_keys_follow_from_one_replica_to_the_other(
    replicas: tuple[Store, Store],
) -> None:
    """A user made through A signs in through B; a key revoked through A is refused by B
    once B has followed the event (how soon is bench/replicas.py's kind of question); a
    session made through A for alice is hers on B, and no one else's."""
    a, b = replicas
    root = await a.accounts.create_user("root", "admin")
    alice = await a.accounts.create_user("alice", "user")
    await eventually(lambda: b.accounts.user_of(alice.key) is not None)
    assert b.accounts.user_of(root.key) is not None
    second = await b.accounts.issue_key(alice.user.id)  # through the other one
    await eventually(lambda: a.accounts.user_of(second.key) is not None)
    mine = await a.create_session(title="alice's", owner=alice.user.id)
    await eventually(lambda: b.view_of(mine.id) is not None)
    view = b.view_of(mine.id)
    assert view is not None
    users = b.accounts.view
    assert Access(users.users[alice.user.id], users.first_admin).owns(view)
    assert not Access(users.users[root.user.id], users.first_admin).owns(view)
    assert [s.id for s in b.sessions(owners=(alice.user.id,)).sessions] == [mine.id]
    assert b.sessions(owners=(root.user.id, None)).sessions == []

    await a.accounts.revoke_key(alice.key_id)
    assert b.accounts.user_of(alice.key) is None  # at once: A answered once B had it
    assert b.accounts.user_of(second.key) is not None
    await b.accounts.disable_user(alice.user.id)
    assert a.accounts.user_of(second.key) is None
