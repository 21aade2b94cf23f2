"""The PostgreSQL backend of the event log: PostgresLog, on the rows of pgrows.

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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import asyncpg
import attrs
from attrs import define

from orion_events.domain.errors import (
    CorruptLog,
    SessionReadOnly,
    StorageUnavailable,
    VersionConflict,
)
from orion_events.domain.events import Recorded
from orion_events.storage.codec import GENESIS, Damage, LineDamage, encode
from orion_events.storage.files.lineindex import LogSpan
from orion_events.storage.port import LoadedStream, Resume, StreamMark
from orion_events.storage.postgres.rows import (
    APPEND_LOCK,
    DATABASE_ERRORS,
    SELECTED,
    Row,
    RowDamage,
    check_stream,
    check_stream_name,
    connect_pool,
    decode_row,
    idempotency_of,
    insert_rows,
    migrate_schema,
    reason,
    redact,
    stream_rows,
    unavailable,
)
from orion_events.storage.readpool import ReadPool

log = logging.getLogger(__name__)

CHANNEL: Final = "orion_events"  # NOTIFY'd with the last position of every committed append
CONNECTION_RETRIES: Final = 3  # for appends that failed before COMMIT on a dead connection

# Each stream's last row by a backward index scan: the same cost at seq 10 and seq 10,000.
_HEADS: Final = """
    SELECT s.stream, e.seq, e.hash
    FROM unnest($1::text[]) AS s(stream)
    JOIN LATERAL (
        SELECT seq, hash FROM orion_events WHERE stream = s.stream ORDER BY seq DESC LIMIT 1
    ) e ON true
"""
_TAKEN_KEYS: Final = """
    SELECT k.scope, k.key
    FROM unnest($1::text[], $2::text[]) AS k(scope, key)
    WHERE EXISTS (
        SELECT 1 FROM orion_events e
        WHERE e.idempotency_scope = k.scope AND e.idempotency_key = k.key
    )
"""
_NEXT_POSITIONS: Final = (
    "SELECT nextval(pg_get_serial_sequence('orion_events', 'position')) FROM generate_series(1, $1)"
)
_HEAD_POSITION: Final = "SELECT coalesce(max(position), 0) FROM orion_events"


@define(eq=False)
class _Pending:
    stream: str
    records: Sequence[Recorded]
    done: asyncio.Future[list[Recorded]]


class _Ambiguous(Exception):
    """The connection failed while COMMIT was under way: it may or may not have committed."""


class _Unique(Exception):
    """A unique constraint fired although the checks under the lock passed."""


class PostgresLog:
    """The event log in one PostgreSQL table, shared by any number of service processes.

    It takes no snapshots (`snapshot_dir` is None): a start reads every stream.
    """

    shared = True  # other processes append too: the store follows the log

    def __init__(self, url: str, *, poll_interval: float = 0.5, pool_size: int = 10) -> None:
        self.url = url
        self._poll_interval = poll_interval
        self._pool_size = pool_size
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._listener: asyncpg.Connection[asyncpg.Record] | None = None
        self._pending: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._closing = False
        self._reads = ReadPool()
        self._last_position = 0
        self._advanced = asyncio.Event()
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
        self._committer = asyncio.create_task(self._commit_loop(), name="orion-pg-committer")
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
        listener = await asyncpg.connect(
            self.url, server_settings={"application_name": "orion-events-listener"}
        )
        try:
            await listener.add_listener(CHANNEL, self._on_notify)
        except BaseException:
            await listener.close()
            raise
        self._listener = listener

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
        self._pending.append(_Pending(stream, records, done))
        self._wakeup.set()
        return await done

    async def _commit_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if batch:
                try:
                    await self._commit(batch)
                except Exception as exc:  # a bug: answer its appends rather than hang them
                    log.exception("appending to the event log failed")
                    for pending in batch:
                        if not pending.done.done():
                            pending.done.set_exception(
                                StorageUnavailable(f"could not append: {reason(exc)}")
                            )
            if self._closing and not self._pending:
                return

    async def _commit(self, batch: list[_Pending]) -> None:
        """Commit `batch` in one transaction and answer each append."""
        outcomes: dict[int, list[Recorded] | BaseException]
        try:
            outcomes = await self._transact(batch, retries=CONNECTION_RETRIES)
        except _Unique:
            if len(batch) > 1:  # find the culprit: each on its own
                for pending in batch:
                    await self._commit([pending])
                return
            conflict = VersionConflict(f"stream {batch[0].stream} changed meanwhile")
            outcomes = {0: conflict}
        except _Ambiguous as exc:
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

    async def _transact(
        self, batch: list[_Pending], *, retries: int
    ) -> dict[int, list[Recorded] | BaseException]:
        """One transaction: lock, check every append, insert those that pass, notify, commit.

        Raises _Ambiguous when the connection failed during COMMIT, _Unique on a unique
        violation, and the driver's error when the transaction certainly did not commit (then
        retried a few times, for pooled connections that died since their last use).
        """
        assert self._pool is not None
        committing = False
        try:
            async with self._pool.acquire() as conn:
                transaction = conn.transaction()
                await transaction.start()
                try:
                    outcomes = await self._check_and_insert(conn, batch)
                except BaseException:
                    with contextlib.suppress(*DATABASE_ERRORS):
                        await transaction.rollback()
                    raise
                committing = True
                await transaction.commit()
                return outcomes
        except asyncpg.UniqueViolationError as exc:
            raise _Unique(str(exc)) from exc
        except DATABASE_ERRORS as exc:
            if committing:
                raise _Ambiguous(reason(exc)) from exc
            if retries and _is_connection_error(exc):
                # It certainly did not commit; the pool may hand out more connections that died
                # together (a server restart, a terminated backend), so try a few.
                return await self._transact(batch, retries=retries - 1)
            raise

    async def _check_and_insert(
        self, conn: Any, batch: list[_Pending]
    ) -> dict[int, list[Recorded] | BaseException]:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
        # Under the lock no other writer can append: these checks are the truth until commit.
        streams = sorted({p.stream for p in batch})
        heads: dict[str, tuple[int, str]] = {
            r["stream"]: (r["seq"], r["hash"]) for r in await conn.fetch(_HEADS, streams)
        }
        claimed = [
            (i, idempotency_of(p.stream, r.type, r.meta))
            for i, p in enumerate(batch)
            for r in p.records
        ]
        keyed = [(i, k) for i, k in claimed if k[1]]
        taken: set[tuple[str, str]] = set()
        if keyed:
            found = await conn.fetch(
                _TAKEN_KEYS, [k[0] for _, k in keyed], [k[1] for _, k in keyed]
            )
            taken = {(r["scope"], r["key"]) for r in found}
        outcomes: dict[int, list[Recorded] | BaseException] = {}
        accepted: list[int] = []
        seqs = {stream: seq for stream, (seq, _) in heads.items()}
        for index, pending in enumerate(batch):
            seq = seqs.get(pending.stream, 0)
            first = pending.records[0].seq
            if [r.seq for r in pending.records] != list(range(first, first + len(pending.records))):
                outcomes[index] = VersionConflict("the seqs of one append must be consecutive")
                continue
            if first != seq + 1:
                outcomes[index] = VersionConflict(f"stream {pending.stream} is at seq {seq}")
                continue
            keys = [k for i, k in keyed if i == index]
            if any(k in taken for k in keys):
                scope, key = next(k for k in keys if k in taken)
                where = f"session {scope}" if scope else "new sessions"
                outcomes[index] = VersionConflict(
                    f"idempotency key {key!r} is already used for {where}"
                )
                continue
            taken.update(keys)
            seqs[pending.stream] = pending.records[-1].seq
            accepted.append(index)
        if not accepted:
            return outcomes
        count = sum(len(batch[i].records) for i in accepted)
        positions = iter(sorted([r[0] for r in await conn.fetch(_NEXT_POSITIONS, count)]))
        last_hash = {stream: digest for stream, (_, digest) in heads.items()}
        rows: list[Row] = []
        for index in accepted:
            pending = batch[index]
            prev = last_hash.get(pending.stream, GENESIS)
            written: list[Recorded] = []
            for recorded in pending.records:
                positioned = attrs.evolve(recorded, position=next(positions))
                line, prev = encode(positioned, prev)
                rows.append(Row.from_line(line))
                written.append(positioned)
            last_hash[pending.stream] = prev
            outcomes[index] = written
        await insert_rows(conn, rows)
        last = max(row.position for row in rows)
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(last))
        return outcomes

    async def _resolve(
        self, batch: list[_Pending], exc: _Ambiguous
    ) -> dict[int, list[Recorded] | BaseException]:
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
        outcomes: dict[int, list[Recorded] | BaseException] = {}
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
        pool = self._opened()
        # From the event at `after` itself: its own hash checked, it anchors the chain of the
        # tail (a replica that lost a race reads only what it has not seen).
        query = f"SELECT {SELECTED} FROM orion_events WHERE stream = $1 AND seq >= $2 ORDER BY seq"
        args: list[Any] = [stream, after]
        if limit is not None:
            query += " LIMIT $3"
            args.append(limit + 1 if after else limit)
        with unavailable("read the event log"):
            found = await pool.fetch(query, *args)
        rows = [Row.from_record(r) for r in found]
        if after and (not rows or rows[0].seq != after):
            return []  # the stream is not that long
        return await self._reads.run(_checked_tail, stream, after, rows, size=len(rows))

    @property
    def reads(self) -> ReadPool:
        return self._reads

    async def read_all(self, after: int, limit: int) -> list[Recorded]:
        pool = self._opened()
        with unavailable("read the event log"):
            found = await pool.fetch(
                f"SELECT {SELECTED} FROM orion_events WHERE position > $1 "
                "ORDER BY position LIMIT $2",
                after,
                limit,
            )
        out = []
        for record in found:
            row = Row.from_record(record)
            try:
                recorded = decode_row(row)
            except LineDamage as exc:
                raise CorruptLog(
                    f"event at position {row.position} ({row.stream} seq {row.seq}): "
                    f"{exc.kind}: {exc.message}"
                ) from None
            out.append(recorded)
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

    # -- what FileLog offers beside ---------------------------------------------------------

    @property
    def snapshot_dir(self) -> None:
        return None

    def marks(self) -> Mapping[str, StreamMark]:
        return {}

    def feed_columns(self) -> Mapping[str, bytes]:
        return {}

    def damaged(self) -> dict[str, Damage]:
        return dict(self._damaged)

    def failed(self) -> dict[str, str]:
        return dict(self._failed)

    async def close(self) -> None:
        self._closing = True
        self._wakeup.set()
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


def _checked_tail(stream: str, after: int, rows: list[Row]) -> list[Recorded]:
    """The events of `rows`, which start at seq `after` (the anchor, not returned) or at the
    stream's first when `after` is 0 (on the read thread)."""
    if not after:
        return check_stream(stream, rows).records
    try:
        decode_row(rows[0])
    except LineDamage as exc:
        raise CorruptLog(f"{stream} seq {after}: {exc.kind}: {exc.message}") from None
    return check_stream(stream, rows[1:], first_seq=after + 1, prev=rows[0].hash).records


def _is_connection_error(exc: BaseException) -> bool:
    """A failure of the connection itself (not of a statement): worth one more try."""
    return isinstance(
        exc,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError
        | asyncpg.exceptions.AdminShutdownError,
    )
