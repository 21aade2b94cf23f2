"""The PostgreSQL backend of the event log: PostgresLog, on the rows of rows.py.

Global order. A sequence hands out positions in the order transactions ask, but they commit in
another order, so a reader that saw position n + 1 could miss an n committed a moment later.
Here every append holds one transaction-scoped advisory lock from before it draws its positions
until its commit ends, so positions are drawn in commit order and a transaction becomes visible
before the next one can draw: whatever a reader sees is a prefix of the final order, and
`read_all` needs no gap handling (positions that a failed transaction drew are never filled
later, so they are gaps for good, as in FileLog after a failed write). The lock serialises
writers, so (as FileLog does with its fsyncs) one transaction carries every append that
gathered while the previous one committed. The same lock makes the version and idempotency
checks authoritative; the unique constraints stay as the database's own guard.

Many processes may share one database: each LISTENs for the others' appends (NOTIFY'd on
commit) and polls now and then, so a lost notification only delays a live reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Final

import asyncpg

from orion_events.domain.errors import (
    SessionReadOnly,
    StorageUnavailable,
    VersionConflict,
)
from orion_events.domain.events import Recorded
from orion_events.storage.commit_queue import CommitQueue
from orion_events.storage.files.lineindex import LogSpan
from orion_events.storage.port import LoadedStream, Resume
from orion_events.storage.postgres.acks import ACK_CHANNEL, LISTENER, Acks
from orion_events.storage.postgres.appends import (
    CONNECTION_RETRIES,
    Ambiguous,
    Outcomes,
    Pending,
    UniqueClash,
    transact,
)
from orion_events.storage.postgres.pool import (
    DATABASE_ERRORS,
    connect_pool,
    reason,
    redact,
    unavailable,
)
from orion_events.storage.postgres.reads import read_feed, read_stream
from orion_events.storage.postgres.rows import (
    RowDamage,
    check_stream,
    check_stream_name,
    stream_rows,
)
from orion_events.storage.postgres.schema import APPEND_LOCK, CHANNEL, migrate_schema
from orion_events.storage.readpool import ReadPool

log = logging.getLogger(__name__)

_HEAD_POSITION: Final = "SELECT coalesce(max(position), 0) FROM orion_events"


class PostgresLog:
    """The event log in one PostgreSQL table, shared by any number of service processes.

    It takes no snapshots (it is no `port.SnapshotsBeside`): a start reads every stream.
    """

    shared = True  # other processes append too: the store follows the log

    def __init__(self, url: str, *, poll_interval: float = 0.5, pool_size: int = 10) -> None:
        self.url = url
        self._poll_interval = poll_interval
        self._pool_size = pool_size
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._listener: asyncpg.Connection[asyncpg.Record] | None = None
        self._queue = CommitQueue(self._commit_batch)
        self._committer: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._closing = False
        self._reads = ReadPool()
        self._last_position = 0
        self._advanced = asyncio.Event()
        self._acks = Acks()
        self._damaged: dict[str, RowDamage] = {}
        self._failed: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"PostgresLog({redact(self.url)!r})"

    # -- start-up ---------------------------------------------------------------------------

    async def open(
        self, each: Callable[[LoadedStream], None] | None = None, resume: Resume | None = None
    ) -> list[LoadedStream]:
        """Create or upgrade the schema, then read and check every stream (`resume` is
        ignored: this log takes no snapshots)."""
        self._pool = await connect_pool(self.url, self._pool_size)
        try:
            with unavailable("open the event log"):
                await migrate_schema(self._pool)
                await self._listen()
                loaded = await self._load(each)
        except BaseException:
            await self._close_connections()
            raise
        self._committer = asyncio.create_task(self._queue.run(), name="orion-pg-committer")
        self._poller = asyncio.create_task(self._poll_loop(), name="orion-pg-poller")
        return loaded

    async def _load(self, each: Callable[[LoadedStream], None] | None) -> list[LoadedStream]:
        assert self._pool is not None
        loaded: list[LoadedStream] = []
        # One snapshot for the whole read, while other processes may be appending.
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            self._advance(await conn.fetchval(_HEAD_POSITION))
            async for stream, rows in stream_rows(conn):
                try:
                    check_stream_name(stream)
                except ValueError:
                    log.warning("ignoring stream %r in the database: not a log", stream)
                    continue
                checked = check_stream(stream, rows)
                if checked.damage is not None:
                    self._damaged[stream] = checked.damage
                    log.error(
                        "stream %s is damaged at %s: served read-only",
                        stream,
                        checked.damage.describe(),
                    )
                stream_load = LoadedStream(stream, checked.records, checked.damage, None)
                if each is None:
                    loaded.append(stream_load)
                else:
                    each(stream_load)
        return loaded

    async def _listen(self) -> None:
        """(Re)open the connection that LISTENs for other processes' appends."""
        listener = await asyncpg.connect(self.url, server_settings={"application_name": LISTENER})
        try:
            await listener.add_listener(CHANNEL, self._on_notify)
            await listener.add_listener(ACK_CHANNEL, self._acks.on_ack)
        except BaseException:
            await listener.close()
            raise
        self._listener = listener

    async def followed(self, stream: str, seq: int) -> None:
        with unavailable("acknowledge what this replica applied"):
            await self._acks.say(self._opened(), stream, seq)

    async def followed_by_all(self, stream: str, seq: int, within: float) -> bool:
        assert self._listener is not None
        pid = self._listener.get_server_pid()
        with unavailable("wait for the other replicas"):
            return await self._acks.wait_for_all(self._opened(), pid, stream, seq, within)

    def _on_notify(self, connection: object, pid: int, channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError, TypeError):
            self._advance(int(str(payload)))

    # -- appends ------------------------------------------------------------------------------

    async def append(self, stream: str, records: Sequence[Recorded]) -> list[Recorded]:
        if self._closing or self._committer is None:
            raise StorageUnavailable("the log is closed")
        check_stream_name(stream)
        damage = self._damaged.get(stream)
        if damage is not None:
            raise SessionReadOnly(
                f"this session's log is damaged at {damage.describe()}; it is read-only"
            )
        failed = self._failed.get(stream)
        if failed is not None:
            raise StorageUnavailable(f"this log is read-only until restart: {failed}")
        if not records:
            raise VersionConflict(f"nothing to append to stream {stream}")
        for recorded in records:
            if str(uuid.UUID(recorded.id)) != recorded.id:
                raise ValueError(f"event id {recorded.id!r} is no canonical UUID")
        done: asyncio.Future[list[Recorded]] = asyncio.get_running_loop().create_future()
        self._queue.put(Pending(stream, records, done))
        return await done

    async def _commit_batch(self, batch: list[Pending]) -> None:
        try:
            await self._commit(batch)
        except Exception as exc:  # a bug: answer its appends rather than hang them
            log.exception("appending to the event log failed")
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(
                        StorageUnavailable(f"could not append: {reason(exc)}")
                    )

    async def _commit(self, batch: list[Pending]) -> None:
        """Commit `batch` in one transaction and answer each append."""
        assert self._pool is not None
        outcomes: Outcomes
        try:
            outcomes = await transact(self._pool, batch, retries=CONNECTION_RETRIES)
        except UniqueClash:
            if len(batch) > 1:  # find the culprit: each on its own
                for pending in batch:
                    await self._commit([pending])
                return
            conflict = VersionConflict(f"stream {batch[0].stream} changed meanwhile")
            outcomes = {0: conflict}
        except Ambiguous as exc:
            outcomes = await self._resolve(batch, exc)
        except DATABASE_ERRORS as exc:
            error = StorageUnavailable(f"could not append to the event log: {reason(exc)}")
            outcomes = dict.fromkeys(range(len(batch)), error)
        for index, pending in enumerate(batch):
            outcome = outcomes[index]
            if pending.done.done():
                continue
            if isinstance(outcome, BaseException):
                pending.done.set_exception(outcome)
            else:
                pending.done.set_result(outcome)
        written = [o for o in outcomes.values() if isinstance(o, list) and o]
        if written:
            self._advance(max(o[-1].position for o in written))

    async def _resolve(self, batch: list[Pending], exc: Ambiguous) -> Outcomes:
        """After a connection failed mid-COMMIT: find out under the lock (so the old
        transaction has ended) whether its events are there. Unknowable: those streams turn
        read-only until restart, as a file whose fsync failed does."""
        log.error("the connection failed while committing appends: %s", exc)
        unknown = StorageUnavailable(f"the database connection failed while committing: {exc}")
        ids = [r.id for p in batch for r in p.records]
        try:
            assert self._pool is not None
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
                found = await conn.fetch(
                    "SELECT id, position FROM orion_events WHERE id = ANY($1::uuid[])", ids
                )
        except DATABASE_ERRORS:
            found = None
        outcomes: Outcomes = {}
        positions = {} if found is None else {str(r["id"]): r["position"] for r in found}
        for index, pending in enumerate(batch):
            present = [r.id in positions for r in pending.records]
            if found is not None and all(present):
                outcomes[index] = [
                    Recorded(r.stream, r.seq, r.id, r.at, r.event, positions[r.id], r.meta)
                    for r in pending.records
                ]
            elif found is not None and not any(present):
                outcomes[index] = unknown
            else:
                self._failed[pending.stream] = f"an append's outcome is unknown: {exc}"
                outcomes[index] = unknown
        return outcomes

    # -- reads --------------------------------------------------------------------------------

    def _opened(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            raise StorageUnavailable("the log is closed")
        return self._pool

    async def span(self, stream: str, after: int = 0, limit: int | None = None) -> LogSpan | None:
        return None  # rows, not a file: reads decode them on the read thread

    async def read(self, stream: str, after: int = 0, limit: int | None = None) -> list[Recorded]:
        return await read_stream(self._opened(), self._reads, stream, after, limit)

    @property
    def reads(self) -> ReadPool:
        return self._reads

    async def read_all(self, after: int, limit: int) -> list[Recorded]:
        out = await read_feed(self._opened(), after, limit)
        if out:
            self._advance(out[-1].position)
        return out

    @property
    def last_position(self) -> int:
        return self._last_position

    def _advance(self, position: int) -> None:
        """Positions commit in order, so every position up to a seen one is readable."""
        if position > self._last_position:
            self._last_position = position
            self._announce()

    def _announce(self) -> None:
        self._advanced.set()
        self._advanced = asyncio.Event()

    async def wait_beyond(self, position: int) -> None:
        while self._last_position <= position and not self._closing:
            await self._advanced.wait()

    async def _poll_loop(self) -> None:
        """Catch what a lost notification would have said, and reopen a lost listener."""
        assert self._pool is not None
        while not self._closing:
            await asyncio.sleep(self._poll_interval)
            try:
                self._advance(await self._pool.fetchval(_HEAD_POSITION))
                if self._listener is None or self._listener.is_closed():
                    await self._listen()
            except DATABASE_ERRORS as exc:
                log.debug("polling the event log failed: %s", exc)

    def failed(self) -> dict[str, str]:
        return dict(self._failed)

    async def close(self) -> None:
        self._closing = True
        self._queue.close()
        self._announce()  # live readers end
        if self._committer is not None:
            await self._committer
            self._committer = None
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self._close_connections()
        self._reads.close()

    async def _close_connections(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(*DATABASE_ERRORS):
                await self._listener.close()
            self._listener = None
        if self._pool is not None:
            with contextlib.suppress(*DATABASE_ERRORS):
                await self._pool.close()
            self._pool = None
