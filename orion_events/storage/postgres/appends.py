"""One append transaction of PostgresLog: lock, check, draw positions, insert, notify, commit.

Under the append lock no other writer can append, so the version and idempotency checks made
there are the truth until commit (log.py says why the lock also keeps the global order).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Final

import asyncpg
import attrs
from attrs import define

from orion_events.domain.errors import VersionConflict
from orion_events.domain.events import Recorded
from orion_events.storage.codec import GENESIS, encode
from orion_events.storage.postgres.pool import DATABASE_ERRORS, reason
from orion_events.storage.postgres.rows import Row, idempotency_of, insert_rows
from orion_events.storage.postgres.schema import APPEND_LOCK, CHANNEL

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

# What each append of a batch came to, by its index in the batch: its events, or its error.
Outcomes = dict[int, list[Recorded] | BaseException]


@define(eq=False)
class Pending:
    stream: str
    records: Sequence[Recorded]
    done: asyncio.Future[list[Recorded]]


class Ambiguous(Exception):
    """The connection failed while COMMIT was under way: it may or may not have committed."""


class UniqueClash(Exception):
    """A unique constraint fired although the checks under the lock passed."""


async def transact(
    pool: asyncpg.Pool[asyncpg.Record], batch: list[Pending], *, retries: int
) -> Outcomes:
    """One transaction: lock, check every append, insert those that pass, notify, commit.

    Raises Ambiguous when the connection failed during COMMIT, UniqueClash on a unique
    violation, and the driver's error when the transaction certainly did not commit (then
    retried a few times, for pooled connections that died since their last use).
    """
    committing = False
    try:
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                outcomes = await _check_and_insert(conn, batch)
            except BaseException:
                with contextlib.suppress(*DATABASE_ERRORS):
                    await transaction.rollback()
                raise
            committing = True
            await transaction.commit()
            return outcomes
    except asyncpg.UniqueViolationError as exc:
        raise UniqueClash(str(exc)) from exc
    except DATABASE_ERRORS as exc:
        if committing:
            raise Ambiguous(reason(exc)) from exc
        if retries and _is_connection_error(exc):
            # It certainly did not commit; the pool may hand out more connections that died
            # together (a server restart, a terminated backend), so try a few.
            return await transact(pool, batch, retries=retries - 1)
        raise


async def _check_and_insert(conn: Any, batch: list[Pending]) -> Outcomes:
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
        found = await conn.fetch(_TAKEN_KEYS, [k[0] for _, k in keyed], [k[1] for _, k in keyed])
        taken = {(r["scope"], r["key"]) for r in found}
    outcomes: Outcomes = {}
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
