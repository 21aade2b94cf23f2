"""PostgresLog when things go wrong: commits whose outcome is unknown, checks that a rogue
writer got past, and the global order while an append is still in flight."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import asyncpg.transaction
import pytest

from orion_events.domain.errors import StorageUnavailable, VersionConflict
from orion_events.domain.events import MessageAdded, Recorded, SessionCreated
from orion_events.storage.codec import GENESIS, encode
from orion_events.storage.postgres import appends as pglog
from orion_events.storage.postgres.log import PostgresLog
from orion_events.storage.postgres.rows import Row, insert_rows
from orion_events.storage.postgres.schema import APPEND_LOCK
from orion_events.store.store import Store

STAMP = "2025-11-10T12:00:05.123456Z"


def new_id() -> str:
    return str(uuid.uuid4())


def event(stream: str, seq: int) -> Recorded:
    kind: Any = SessionCreated(None, {}) if seq == 1 else MessageAdded(new_id(), "user", "hi")
    return Recorded(stream, seq, new_id(), STAMP, kind)


@pytest.fixture
async def log(pg_url: str) -> Any:
    log = PostgresLog(pg_url)
    await log.open()
    yield log
    await log.close()


async def test_a_reader_never_passes_an_append_in_flight(pg_url: str, log: PostgresLog) -> None:
    """A writer that has drawn position n but not committed holds back every later append, so
    n + 1 cannot become readable before n."""
    sid, other = new_id(), new_id()
    conn = await asyncpg.connect(pg_url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
        position = await conn.fetchval(
            "SELECT nextval(pg_get_serial_sequence('orion_events', 'position'))"
        )
        line, _ = encode(
            Recorded(sid, 1, new_id(), STAMP, SessionCreated(None, {}), position), GENESIS
        )
        await insert_rows(conn, [Row.from_line(line)])
        later = asyncio.create_task(log.append(other, [event(other, 1)]))
        await asyncio.sleep(0.3)
        assert not later.done(), "an append committed past one still in flight"
        assert await log.read_all(0, 10) == []
        await transaction.commit()
        [written] = await asyncio.wait_for(later, 5)
    finally:
        await conn.close()
    assert written.position == position + 1
    assert [(r.stream, r.position) for r in await log.read_all(0, 10)] == [
        (sid, position),
        (other, position + 1),
    ]


def commit_fails(monkeypatch: pytest.MonkeyPatch, *, committed: bool) -> None:
    """Transaction.commit loses the connection: after committing, or instead of it."""
    real = asyncpg.transaction.Transaction.commit

    async def commit(transaction: Any) -> None:
        if committed:
            await real(transaction)
        else:
            await transaction.rollback()
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection lost during COMMIT")

    monkeypatch.setattr(asyncpg.transaction.Transaction, "commit", commit)


async def test_a_commit_that_landed_though_the_connection_failed_is_acknowledged(
    monkeypatch: pytest.MonkeyPatch, log: PostgresLog
) -> None:
    sid = new_id()
    with monkeypatch.context() as patch:
        commit_fails(patch, committed=True)
        [written] = await log.append(sid, [event(sid, 1)])
    assert written.position == 1
    assert await log.read(sid) == [written]
    assert log.failed() == {}


async def test_a_commit_that_did_not_land_is_storage_unavailable(
    monkeypatch: pytest.MonkeyPatch, log: PostgresLog
) -> None:
    sid = new_id()
    with monkeypatch.context() as patch:
        commit_fails(patch, committed=False)
        with pytest.raises(StorageUnavailable):
            await log.append(sid, [event(sid, 1)])
    assert await log.read(sid) == []
    assert log.failed() == {}
    await log.append(sid, [event(sid, 1)])  # nothing stays broken


async def test_an_unknowable_outcome_makes_the_stream_read_only(
    monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    """The connection fails during COMMIT and the database cannot be asked afterwards: as with
    a failed fsync, that stream refuses writes until a restart reads the truth again."""
    log = PostgresLog(pg_url)
    store = Store(log)
    await store.open()
    try:
        session = await store.create_session(title="t")
        real_resolve = PostgresLog._resolve

        async def resolve_blind(self: PostgresLog, batch: Any, exc: Any) -> Any:
            pool, self._pool = self._pool, _NoPool()
            try:
                return await real_resolve(self, batch, exc)
            finally:
                self._pool = pool

        with monkeypatch.context() as patch:
            commit_fails(patch, committed=True)
            patch.setattr(PostgresLog, "_resolve", resolve_blind)
            with pytest.raises(StorageUnavailable):
                await store.add_message(session.id, role="user", content="maybe")
        assert list(log.failed()) == [session.id]
        assert store.health()["status"] == "degraded"
        with pytest.raises(StorageUnavailable, match="read-only until restart"):
            await store.add_message(session.id, role="user", content="again")
        await store.create_session(title="others still write")
    finally:
        await store.close()
    again = Store(PostgresLog(pg_url))
    await again.open()
    try:
        assert again.session(session.id).message_count == 1  # the commit had landed
        await again.add_message(session.id, role="user", content="after restart")
    finally:
        await again.close()


class _NoPool:
    def acquire(self) -> Any:
        raise asyncpg.exceptions.InterfaceError("pool is closed")


async def test_a_unique_violation_past_the_checks_fails_only_its_append(
    monkeypatch: pytest.MonkeyPatch, log: PostgresLog
) -> None:
    """If the checks under the lock were ever wrong (a writer that skips the lock), the unique
    constraints still refuse, and only the culprit of a batch fails."""
    taken = new_id()
    await log.append(taken, [event(taken, 1)])
    blind = "SELECT s AS stream, 0 AS seq, '' AS hash FROM unnest($1::text[]) s WHERE false"
    monkeypatch.setattr(pglog, "_HEADS", blind)
    fresh = new_id()
    results = await asyncio.gather(
        log.append(taken, [event(taken, 1)]),
        log.append(fresh, [event(fresh, 1)]),
        return_exceptions=True,
    )
    assert isinstance(results[0], VersionConflict)
    assert isinstance(results[1], list)
    assert [r.seq for r in await log.read(taken)] == [1]
    assert [r.seq for r in await log.read(fresh)] == [1]
