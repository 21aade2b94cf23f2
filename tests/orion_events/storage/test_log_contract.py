"""The log contract: what the store relies on from any EventLog, run on FileLog and PostgresLog.

Each test gets a fresh log of each kind (`event_log`), and `backend` makes more instances on the
same storage: a second writer, a reopen, a tamperer. Where the kinds differ by design (a data
dir has one writer; the database takes many and enforces idempotency keys itself) the test says
which is which.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from orion_events.domain.errors import (
    CorruptLog,
    DataDirLocked,
    SessionReadOnly,
    StorageUnavailable,
    VersionConflict,
)
from orion_events.domain.events import MessageAdded, Recorded, SessionCreated
from orion_events.ops.verify import verify_dir
from orion_events.storage import codec
from orion_events.storage.files import lineindex
from orion_events.storage.files.log import FileLog
from orion_events.storage.port import LoadedStream
from orion_events.storage.postgres import rows as pgrows
from orion_events.storage.postgres import schema as pgschema
from orion_events.storage.postgres.log import PostgresLog
from orion_events.storage.postgres.verify import verify_database
from orion_events.store.store import NEW_SESSIONS, Store

STAMP = "2025-11-10T12:00:05.123456Z"


def new_id() -> str:
    return str(uuid.uuid4())


def events(stream: str, first: int, count: int, *, word: str = "hello") -> list[Recorded]:
    """`count` events of `stream` from seq `first`: a creation at seq 1, messages after."""
    out = []
    for seq in range(first, first + count):
        event: Any = (
            SessionCreated(title=None, metadata={"b": "1", "a": "2"})
            if seq == 1
            else MessageAdded(new_id(), "user", f"{word} {seq} \u00e9\u0000")
        )
        out.append(Recorded(stream, seq, new_id(), STAMP, event))
    return out


def keyed(record: Recorded, key: str) -> Recorded:
    return Recorded(
        record.stream,
        record.seq,
        record.id,
        record.at,
        record.event,
        record.position,
        {"idempotency_key": key, "request": "f"},
    )


class Backend:
    """Instances of one kind of log on one storage."""

    kind: str
    shared: bool  # may two instances write at once?

    def new(self) -> Any:
        raise NotImplementedError

    async def tamper(self, stream: str, seq: int) -> None:
        """Change one stored event's content, keeping it well-formed."""
        raise NotImplementedError

    async def verify(self) -> dict[str, str]:
        """What an offline verify reports damaged: stream -> description."""
        raise NotImplementedError


class FileBackend(Backend):
    kind, shared = "file", False

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def new(self) -> FileLog:
        return FileLog(self.data_dir)

    async def tamper(self, stream: str, seq: int) -> None:
        path = self.data_dir / "sessions" / f"{stream}.jsonl"
        lines = path.read_bytes().splitlines(keepends=True)
        lines[seq - 1] = lines[seq - 1].replace(b"hello", b"HELLO")
        path.write_bytes(b"".join(lines))

    async def verify(self) -> dict[str, str]:
        return {
            r.path.stem: r.damage.describe()
            for r in verify_dir(self.data_dir)
            if r.damage is not None
        }


class PgBackend(Backend):
    kind, shared = "postgres", True

    def __init__(self, url: str) -> None:
        self.url = url

    def new(self) -> PostgresLog:
        return PostgresLog(self.url, poll_interval=0.2)

    async def sql(self, query: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def tamper(self, stream: str, seq: int) -> None:
        await self.sql(
            "UPDATE orion_events SET data = replace(data::text, 'hello', 'HELLO')::json "
            "WHERE stream = $1 AND seq = $2",
            stream,
            seq,
        )

    async def verify(self) -> dict[str, str]:
        return {
            r.stream: r.damage.describe()
            for r in await verify_database(self.url)
            if r.damage is not None
        }


@pytest.fixture(params=["file", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "file":
        return FileBackend(tmp_path / "var")
    return PgBackend(request.getfixturevalue("pg_url"))


@pytest.fixture
async def opened(backend: Backend) -> AsyncIterator[list[Any]]:
    """Open instances, each closed at teardown."""
    logs: list[Any] = []
    yield logs
    for log in reversed(logs):
        await log.close()


@pytest.fixture
async def event_log(backend: Backend, opened: list[Any]) -> Any:
    return await open_log(backend, opened)


async def open_log(backend: Backend, opened: list[Any]) -> Any:
    log = backend.new()
    await log.open()
    opened.append(log)
    return log


def by_stream(loaded: list[LoadedStream]) -> dict[str, LoadedStream]:
    return {s.stream: s for s in loaded}


# -- appends and reads -----------------------------------------------------------------------


async def test_append_then_read(event_log: Any) -> None:
    sid = new_id()
    written = await event_log.append(sid, events(sid, 1, 3))
    assert [r.seq for r in written] == [1, 2, 3]
    assert [r.position for r in written] == [1, 2, 3]
    assert await event_log.read(sid) == written
    assert await event_log.read_all(0, 100) == written
    assert event_log.last_position == 3
    assert await event_log.read(new_id()) == []


async def test_read_after_a_seq_gives_the_tail(event_log: Any) -> None:
    sid = new_id()
    written = await event_log.append(sid, events(sid, 1, 5))
    for after in range(6):
        assert await event_log.read(sid, after) == written[after:]
    assert await event_log.read(sid, 9) == []
    assert await event_log.read(new_id(), 2) == []


async def test_read_with_a_limit_gives_that_many_from_after(event_log: Any) -> None:
    sid = new_id()
    written = await event_log.append(sid, events(sid, 1, 8))
    for after in range(10):
        for limit in (1, 2, 3, 8, 20):
            assert await event_log.read(sid, after, limit) == written[after : after + limit]
    more = await event_log.append(sid, events(sid, 9, 3))  # after the reads above
    assert await event_log.read(sid, 6, 4) == [*written, *more][6:10]
    assert await event_log.read(sid, 9, 5) == more[1:]
    assert await event_log.read(new_id(), 0, 5) == []


async def test_reads_decode_off_the_event_loop(
    event_log: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Either log decodes what it reads on its read thread (storage/readpool.py), not the loop's."""
    sid = new_id()
    await event_log.append(sid, events(sid, 1, 6))
    threads: list[int] = []

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return codec.decode(*args, **kwargs)

    monkeypatch.setattr(lineindex, "decode", watched)  # the file log's
    monkeypatch.setattr(pgrows, "decode", watched)  # the database's
    assert len(await event_log.read(sid)) == 6
    assert len(await event_log.read(sid, 2, 3)) == 3
    assert threads
    assert threading.get_ident() not in threads


async def test_a_database_tail_read_checks_its_anchor_and_chain(pg_url: str) -> None:
    """The database reads from the event at `after` on, so that event's own hash and the chain
    after it must still be checked."""
    log, rows = PostgresLog(pg_url), PgBackend(pg_url)
    await log.open()
    try:
        sid = new_id()
        await log.append(sid, events(sid, 1, 4))
        await rows.tamper(sid, 3)
        assert [r.seq for r in await log.read(sid, 1)] == [2]  # stops where a whole read does
        assert [r.seq for r in await log.read(sid)] == [1, 2]
        with pytest.raises(CorruptLog):
            await log.read(sid, 3)  # the anchor itself is the tampered event
    finally:
        await log.close()


async def test_seqs_continue_and_a_wrong_seq_appends_nothing(event_log: Any) -> None:
    sid = new_id()
    await event_log.append(sid, events(sid, 1, 2))
    third = await event_log.append(sid, events(sid, 3, 1))
    assert third[0].seq == 3
    before = await event_log.read(sid)
    for wrong in (3, 5, 1):
        with pytest.raises(VersionConflict):
            await event_log.append(sid, events(sid, wrong, 2))
    assert await event_log.read(sid) == before
    assert await event_log.read_all(0, 100) == before
    assert event_log.last_position == 3
    fourth = await event_log.append(sid, events(sid, 4, 1))
    assert fourth[0].position == 4, "a refused append takes no position"


async def test_a_stream_whose_first_append_was_refused_reads_empty(event_log: Any) -> None:
    sid = new_id()
    with pytest.raises(VersionConflict):
        await event_log.append(sid, events(sid, 2, 1))  # a new stream must start at seq 1
    assert await event_log.read(sid) == []
    assert await event_log.read_all(0, 100) == []


async def test_a_conflict_fails_alone_among_concurrent_appends(event_log: Any) -> None:
    a, b, c = new_id(), new_id(), new_id()
    results = await asyncio.gather(
        event_log.append(a, events(a, 1, 2)),
        event_log.append(b, events(b, 2, 1)),  # b has no seq 1
        event_log.append(c, events(c, 1, 1)),
        return_exceptions=True,
    )
    assert isinstance(results[1], VersionConflict)
    assert [r.seq for r in results[0]] == [1, 2]
    assert [r.seq for r in results[2]] == [1]
    feed = await event_log.read_all(0, 10)
    assert sorted(r.position for r in feed) == [1, 2, 3]
    assert b not in {r.stream for r in feed}


async def test_concurrent_writers_on_one_stream(backend: Backend, opened: list[Any]) -> None:
    first = await open_log(backend, opened)
    if not backend.shared:
        with pytest.raises(DataDirLocked):
            await open_log(backend, opened)
        return
    second = await open_log(backend, opened)
    sid = new_id()
    winners: list[Recorded] = []
    for seq in range(1, 11):
        results = await asyncio.gather(
            first.append(sid, events(sid, seq, 1, word="first")),
            second.append(sid, events(sid, seq, 1, word="second")),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, list)]
        lost = [r for r in results if isinstance(r, VersionConflict)]
        assert (len(won), len(lost)) == (1, 1), results
        winners.extend(won[0])
    assert await first.read(sid) == winners
    assert await second.read(sid) == winners


async def test_positions_are_in_order_and_gap_free_under_concurrent_appends(
    backend: Backend, opened: list[Any]
) -> None:
    """Many streams appended at once (through two instances where the kind allows), while a
    reader pages through the feed: it sees every position in order and never skips one."""
    writers = [await open_log(backend, opened)]
    if backend.shared:
        writers.append(await open_log(backend, opened))
        reader = await open_log(backend, opened)
    else:
        reader = writers[0]
    streams = [new_id() for _ in range(16)]
    sizes = itertools.cycle([1, 3, 2])
    total = 0
    plans: dict[str, list[int]] = {}
    for stream in streams:
        plans[stream] = [next(sizes) for _ in range(6)]
        total += sum(plans[stream])
    done = asyncio.Event()

    async def write(index: int, stream: str) -> None:
        seq = 1
        for n, size in enumerate(plans[stream]):
            writer = writers[(index + n) % len(writers)]
            await writer.append(stream, events(stream, seq, size))
            seq += size

    seen: list[int] = []

    async def follow() -> None:
        after = 0
        while len(seen) < total:
            page = await reader.read_all(after, 7)
            positions = [r.position for r in page]
            assert positions == list(range(after + 1, after + 1 + len(page))), positions
            seen.extend(positions)
            if page:
                after = positions[-1]
            elif done.is_set() and reader.last_position <= after:
                await asyncio.sleep(0.01)
            else:
                await asyncio.sleep(0)

    follower = asyncio.create_task(follow())
    await asyncio.gather(*(write(i, s) for i, s in enumerate(streams)))
    done.set()
    await asyncio.wait_for(follower, 10)
    everything = await reader.read_all(0, 10_000)
    assert [r.position for r in everything] == list(range(1, total + 1))
    assert seen == list(range(1, total + 1))
    for stream in streams:
        records = await reader.read(stream)
        assert [r.seq for r in records] == list(range(1, sum(plans[stream]) + 1))
        assert [r.position for r in records] == sorted(r.position for r in records)


async def test_read_all_pages(event_log: Any) -> None:
    streams = [new_id() for _ in range(5)]
    for stream in streams:
        await event_log.append(stream, events(stream, 1, 2))
    for stream in streams:
        await event_log.append(stream, events(stream, 3, 3))
    everything = await event_log.read_all(0, 1000)
    assert [r.position for r in everything] == list(range(1, 26))
    pages: list[Recorded] = []
    after = 0
    while page := await event_log.read_all(after, 7):
        assert len(page) <= 7
        pages.extend(page)
        after = page[-1].position
    assert pages == everything
    assert [r.position for r in await event_log.read_all(5, 3)] == [6, 7, 8]
    assert await event_log.read_all(25, 10) == []
    assert await event_log.read_all(1000, 10) == []


# -- waiting for news ------------------------------------------------------------------------


async def test_wait_beyond_wakes_on_an_append(backend: Backend, opened: list[Any]) -> None:
    """Woken by an append of its own instance and, where many instances share the storage, by
    one made through another."""
    waiter = await open_log(backend, opened)
    writers = [waiter]
    if backend.shared:
        writers.append(await open_log(backend, opened))
    sid = new_id()
    seq = 1
    for writer in writers:
        head = waiter.last_position
        if head:  # at once when an event after the position is readable already
            await asyncio.wait_for(waiter.wait_beyond(head - 1), 0.5)
        waiting = asyncio.create_task(waiter.wait_beyond(head))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        written = await writer.append(sid, events(sid, seq, 1))
        seq += 1
        await asyncio.wait_for(waiting, 2)
        assert waiter.last_position == written[0].position
        assert await waiter.read_all(head, 10) == written


async def test_close_ends_waiters(event_log: Any) -> None:
    waiting = asyncio.create_task(event_log.wait_beyond(event_log.last_position))
    await asyncio.sleep(0.01)
    await event_log.close()
    await asyncio.wait_for(waiting, 2)
    with pytest.raises(StorageUnavailable):
        await event_log.append(new_id(), events(new_id(), 1, 1))


# -- idempotency -----------------------------------------------------------------------------


async def test_an_idempotency_key_appends_once(backend: Backend) -> None:
    """Through the store, on either kind: a retried keyed request gets its first answer."""
    store = Store(backend.new())
    await store.open()
    try:
        first = await store.create_session(title="t", idempotency_key="create-1")
        again = await store.create_session(title="t", idempotency_key="create-1")
        assert again.id == first.id
        one = await store.add_message(
            first.id, role="user", content="hi", idempotency_key="message-1"
        )
        two = await store.add_message(
            first.id, role="user", content="hi", idempotency_key="message-1"
        )
        assert one.version == two.version == 2
        assert len(await store.history(first.id)) == 2
    finally:
        await store.close()


async def test_the_database_enforces_idempotency_keys(pg_url: str) -> None:
    """Two processes that do not know each other's keys: the database lets one use a key."""
    assert pgrows.NEW_SESSIONS_SCOPE == NEW_SESSIONS
    first, second = PostgresLog(pg_url), PostgresLog(pg_url)
    await first.open()
    await second.open()
    try:
        a, b = new_id(), new_id()
        await first.append(a, [keyed(events(a, 1, 1)[0], "same")])
        with pytest.raises(VersionConflict, match="idempotency key"):
            await second.append(b, [keyed(events(b, 1, 1)[0], "same")])
        assert await second.read(b) == []
        # The same key in two sessions' scopes is two keys.
        await first.append(a, [keyed(events(a, 2, 1)[0], "same")])
        await second.append(b, events(b, 1, 1))
        await second.append(b, [keyed(events(b, 2, 1)[0], "same")])
        with pytest.raises(VersionConflict, match="idempotency key"):
            await second.append(a, [keyed(events(a, 3, 1)[0], "same")])
        # Below the log: the unique index itself refuses a second use.
        conn = await asyncpg.connect(pg_url)
        try:
            row = await conn.fetchrow("SELECT * FROM orion_events WHERE stream = $1", a)
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute(
                    "INSERT INTO orion_events (stream, seq, id, type, at, schema, data, prev, "
                    "hash, idempotency_scope, idempotency_key) "
                    "VALUES ($1, 9, $2, 'message_added', $3, 1, '{}', '', '', $4, $5)",
                    a,
                    uuid.uuid4(),
                    STAMP,
                    row["idempotency_scope"],
                    row["idempotency_key"],
                )
        finally:
            await conn.close()
    finally:
        await first.close()
        await second.close()


# -- integrity and reopening -----------------------------------------------------------------


async def test_reopen_gives_the_same_events(backend: Backend, opened: list[Any]) -> None:
    log = await open_log(backend, opened)
    streams = [new_id() for _ in range(3)]
    for stream in streams:
        await log.append(stream, events(stream, 1, 4))
    await log.append(streams[0], [keyed(events(streams[0], 5, 1)[0], "k")])
    before = {s: await log.read(s) for s in streams}
    feed = await log.read_all(0, 100)
    await log.close()
    opened.remove(log)
    again = backend.new()
    loaded = by_stream(await again.open())
    opened.append(again)
    assert {s: loaded[s].records for s in streams} == before
    assert all(loaded[s].damage is None and loaded[s].cut_tail is None for s in streams)
    assert await again.read_all(0, 100) == feed
    assert again.last_position == feed[-1].position
    more = await again.append(streams[1], events(streams[1], 5, 1))
    assert more[0].position == feed[-1].position + 1


async def test_open_hands_each_stream_to_each(backend: Backend, opened: list[Any]) -> None:
    log = await open_log(backend, opened)
    streams = [new_id() for _ in range(3)]
    for stream in streams:
        await log.append(stream, events(stream, 1, 2))
    await log.close()
    opened.remove(log)
    got: list[LoadedStream] = []
    again = backend.new()
    assert await again.open(got.append) == []
    opened.append(again)
    assert sorted(s.stream for s in got) == sorted(streams)
    assert all(len(s.records) == 2 for s in got)


async def test_a_tampered_event_is_detected(backend: Backend, opened: list[Any]) -> None:
    log = await open_log(backend, opened)
    sid, other = new_id(), new_id()
    await log.append(sid, events(sid, 1, 5))
    await log.append(other, events(other, 1, 2))
    await log.close()
    opened.remove(log)
    await backend.tamper(sid, 3)
    damaged = await backend.verify()
    assert list(damaged) == [sid]
    assert "checksum_mismatch" in damaged[sid]
    again = backend.new()
    loaded = by_stream(await again.open())
    opened.append(again)
    assert loaded[sid].damage is not None
    assert loaded[sid].damage.kind == "checksum_mismatch"
    assert loaded[sid].damage.line == 3
    assert [r.seq for r in loaded[sid].records] == [1, 2]
    assert loaded[other].damage is None
    with pytest.raises(SessionReadOnly):
        await again.append(sid, events(sid, 6, 1))
    await again.append(other, events(other, 3, 1))


# -- PostgreSQL only ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ("UPDATE orion_events SET hash = repeat('0', 32) WHERE stream = $1 AND seq = 2", None),
        (
            "UPDATE orion_events SET at = '2020-01-01T00:00:00.000000Z' "
            "WHERE stream = $1 AND seq = 2",
            "checksum_mismatch",
        ),
        (
            "UPDATE orion_events SET prev = repeat('1', 32) WHERE stream = $1 AND seq = 2",
            "checksum_mismatch",
        ),
        ("DELETE FROM orion_events WHERE stream = $1 AND seq = 2", "sequence_gap"),
        (
            "UPDATE orion_events SET idempotency_scope = 'x', idempotency_key = 'y' "
            "WHERE stream = $1 AND seq = 2",
            "bad_event",
        ),
        (
            "UPDATE orion_events SET position = position + 1000 WHERE stream = $1 AND seq = 2",
            "checksum_mismatch",
        ),
    ],
    ids=["hash", "at", "prev", "deleted", "key-columns", "position"],
)
async def test_every_kind_of_row_tampering_is_caught(
    pg_url: str, change: str, kind: str | None
) -> None:
    log = PostgresLog(pg_url)
    await log.open()
    sid = new_id()
    await log.append(sid, events(sid, 1, 4))
    await log.close()
    await PgBackend(pg_url).sql(change, sid)
    [report] = [r for r in await verify_database(pg_url) if r.stream == sid]
    assert report.damage is not None
    assert report.damage.line == 2
    assert report.damage.kind == (kind or "checksum_mismatch")
    again = PostgresLog(pg_url)
    try:
        [loaded] = await again.open()
        assert loaded.damage == report.damage
        assert [r.seq for r in loaded.records] == [1]
        assert [r.seq for r in await again.read(sid)] == [1]
        if kind != "sequence_gap":
            with pytest.raises(CorruptLog):
                await again.read_all(0, 10)
    finally:
        await again.close()


async def test_rows_rebuild_the_lines_a_file_log_writes(tmp_path: Path, pg_url: str) -> None:
    """The same events through both kinds give the same bytes: equal hashes, equal chains."""
    files, database = FileLog(tmp_path / "var"), PostgresLog(pg_url)
    await files.open()
    await database.open()
    try:
        sid = new_id()
        batch = [*events(sid, 1, 3), keyed(events(sid, 4, 1)[0], "k")]
        await files.append(sid, batch)
        await database.append(sid, batch)
    finally:
        await files.close()
        await database.close()
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch("SELECT * FROM orion_events ORDER BY position")
    finally:
        await conn.close()
    lines = (tmp_path / "var" / "sessions" / f"{sid}.jsonl").read_bytes().splitlines(True)
    assert [pgrows.Row.from_record(r).line() for r in rows] == lines
    assert [r["hash"] for r in rows] == [orjson.loads(line)["hash"] for line in lines]


async def test_the_schema_is_versioned(pg_url: str) -> None:
    log = PostgresLog(pg_url)
    await log.open()
    await log.close()
    again = PostgresLog(pg_url)
    await again.open()  # a second open migrates nothing
    await again.close()
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT version FROM orion_schema") == len(pgschema.MIGRATIONS)
        assert await conn.fetchval("SELECT count(*) FROM orion_schema") == 1
        await conn.execute("UPDATE orion_schema SET version = version + 1")
    finally:
        await conn.close()
    newer = PostgresLog(pg_url)
    with pytest.raises(StorageUnavailable, match="newer than this code"):
        await newer.open()


async def test_an_unreachable_database_is_storage_unavailable() -> None:
    from tests.pg.server import free_port

    log = PostgresLog(f"postgresql://orion:secret@127.0.0.1:{free_port()}/nowhere")
    with pytest.raises(StorageUnavailable) as caught:
        await log.open()
    assert "secret" not in str(caught.value)


async def test_appends_survive_the_loss_of_pooled_connections(pg_url: str) -> None:
    log, other = PostgresLog(pg_url, poll_interval=0.1), PostgresLog(pg_url)
    await log.open()
    await other.open()
    try:
        sid = new_id()
        await log.append(sid, events(sid, 1, 1))
        # Every connection of the application goes: the pool's and the listener.
        await PgBackend(pg_url).sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'orion-events%'"
        )
        written = await log.append(sid, events(sid, 2, 1))
        assert [r.seq for r in await log.read(sid)] == [1, 2]
        # The listener is gone too: the poll still wakes a waiter, and reopens it.
        waiting = asyncio.create_task(log.wait_beyond(written[0].position))
        await other.append(sid, events(sid, 3, 1))
        await asyncio.wait_for(waiting, 3)
    finally:
        await log.close()
        await other.close()
