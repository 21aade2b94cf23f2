"""Reading PostgresLog's rows back as events: a stream from a seq on, or the global feed."""

from __future__ import annotations

from typing import Any

import asyncpg

from orion_events.domain.errors import CorruptLog
from orion_events.domain.events import Recorded
from orion_events.storage.codec import LineDamage
from orion_events.storage.postgres.pool import unavailable
from orion_events.storage.postgres.rows import SELECTED, Row, check_stream, decode_row
from orion_events.storage.readpool import ReadPool


async def read_stream(
    pool: asyncpg.Pool[asyncpg.Record],
    reads: ReadPool,
    stream: str,
    after: int = 0,
    limit: int | None = None,
) -> list[Recorded]:
    """The events of `stream` after seq `after`, checked on the read thread."""
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
    return await reads.run(_checked_tail, stream, after, rows, size=len(rows))


async def read_feed(pool: asyncpg.Pool[asyncpg.Record], after: int, limit: int) -> list[Recorded]:
    """Up to `limit` events of every stream after global position `after`, in its order."""
    with unavailable("read the event log"):
        found = await pool.fetch(
            f"SELECT {SELECTED} FROM orion_events WHERE position > $1 ORDER BY position LIMIT $2",
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
    return out


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
