"""PostgreSQL rows of the event log: rows <-> lines, and the chain check on them.

A row holds the columns of one log line (`data` and `meta` as their exact JSON text), so putting
the columns back together gives, byte for byte, the line FileLog would have written, with the
same `hash` and `prev`: the integrity chain of SPEC §5 is checked here exactly as in the files
(`codec.decode` on the rebuilt line), and a copy between files and the database keeps every
hash. PostgresLog (log.py), `verify --log` and `migrate` share what is here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final

import asyncpg
import orjson
from attrs import frozen

from orion_events.domain.events import Recorded, SessionCreated, SessionForked
from orion_events.domain.streams import TOP_LEVEL_STREAMS, is_session_id
from orion_events.storage.codec import BAD_EVENT, GENESIS, Damage, LineDamage, decode

# The idempotency scope of the events that create a session (the store's NEW_SESSIONS).
NEW_SESSIONS_SCOPE: Final = ""
_CREATING: Final = frozenset({SessionCreated.kind, SessionForked.kind})
_STREAM_PREFETCH: Final = 2000

_COLUMNS: Final = "position, stream, seq, id, type, at, schema, data, meta, prev, hash"
SELECTED: Final = f"{_COLUMNS}, idempotency_scope, idempotency_key"
_INSERT: Final = f"""
    INSERT INTO orion_events ({_COLUMNS}, idempotency_scope, idempotency_key)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::uuid[], $5::text[],
                         $6::text[], $7::int[], $8::json[], $9::json[], $10::text[],
                         $11::text[], $12::text[], $13::text[])
"""


def idempotency_of(stream: str, kind: str, meta: Mapping[str, Any] | None) -> tuple[str, str]:
    """The (scope, key) an event claims, or ("", "") when it carries no idempotency key."""
    if not meta or "idempotency_key" not in meta:
        return "", ""
    scope = NEW_SESSIONS_SCOPE if kind in _CREATING else stream
    return scope, str(meta["idempotency_key"])


def check_stream_name(stream: str) -> None:
    """The streams a data directory can hold: the same names FileLog accepts."""
    if stream not in TOP_LEVEL_STREAMS and not is_session_id(stream):
        raise ValueError(f"not a stream id: {stream!r}")


@frozen
class Row:
    """One row of orion_events: a log line taken apart into columns."""

    position: int
    stream: str
    seq: int
    id: str
    type: str
    at: str
    schema: int
    data: str  # the exact JSON text of the line's `data`
    meta: str | None
    prev: str
    hash: str
    # The idempotency columns as stored (scope, key), "" for NULL; None for a row from a line.
    stored_key: tuple[str, str] | None = None

    @classmethod
    def from_line(cls, line: bytes) -> Row:
        """The columns of a line written by `codec.encode` (with or without its newline)."""
        obj = orjson.loads(line)
        meta = obj.get("meta")
        return cls(
            position=obj["pos"],
            stream=obj["stream"],
            seq=obj["seq"],
            id=obj["id"],
            type=obj["type"],
            at=obj["at"],
            schema=obj["schema"],
            data=orjson.dumps(obj["data"]).decode(),
            meta=None if meta is None else orjson.dumps(meta).decode(),
            prev=obj["prev"],
            hash=obj["hash"],
        )

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> Row:
        return cls(
            position=record["position"],
            stream=record["stream"],
            seq=record["seq"],
            id=str(record["id"]),
            type=record["type"],
            at=record["at"],
            schema=record["schema"],
            data=record["data"],
            meta=record["meta"],
            prev=record["prev"],
            hash=record["hash"],
            stored_key=(record["idempotency_scope"] or "", record["idempotency_key"] or ""),
        )

    def line(self) -> bytes:
        """The line this row was taken from, newline included."""
        envelope: dict[str, Any] = {
            "seq": self.seq,
            "pos": self.position,
            "id": self.id,
            "stream": self.stream,
            "type": self.type,
            "at": self.at,
            "schema": self.schema,
            "data": orjson.Fragment(self.data),
        }
        if self.meta is not None:
            envelope["meta"] = orjson.Fragment(self.meta)
        envelope["prev"] = self.prev
        envelope["hash"] = self.hash
        return orjson.dumps(envelope) + b"\n"

    def idempotency(self) -> tuple[str, str]:
        meta = None if self.meta is None else orjson.loads(self.meta)
        return idempotency_of(self.stream, self.type, meta)


def faithful_row(line: bytes) -> Row:
    """The row for `line`, checked to rebuild it byte for byte (ValueError when it cannot)."""
    row = Row.from_line(line)
    if row.line() != line.rstrip(b"\n") + b"\n":
        raise ValueError(f"{row.stream} seq {row.seq}: the line does not survive the columns")
    if str(uuid.UUID(row.id)) != row.id:
        raise ValueError(f"{row.stream} seq {row.seq}: event id {row.id!r} is no canonical UUID")
    return row


def insert_args(rows: Sequence[Row]) -> list[list[Any]]:
    """The thirteen column arrays of `_INSERT` for `rows`."""
    keys = [row.idempotency() for row in rows]
    return [
        [r.position for r in rows],
        [r.stream for r in rows],
        [r.seq for r in rows],
        [r.id for r in rows],
        [r.type for r in rows],
        [r.at for r in rows],
        [r.schema for r in rows],
        [r.data for r in rows],
        [r.meta for r in rows],
        [r.prev for r in rows],
        [r.hash for r in rows],
        [scope if key else None for scope, key in keys],
        [key or None for _, key in keys],
    ]


async def insert_rows(conn: Any, rows: Sequence[Row]) -> None:
    await conn.execute(_INSERT, *insert_args(rows))


@frozen
class RowDamage(Damage):
    """The first bad row of a stream; `line` is the seq expected there."""

    position: int = 0

    def describe(self) -> str:
        return f"seq {self.line} (position {self.position}): {self.kind}: {self.message}"


@frozen
class StreamCheck:
    """One stream read from the database: its good events, where they end, any damage."""

    stream: str
    records: list[Recorded]
    last_hash: str
    damage: RowDamage | None


def check_stream(
    stream: str, rows: Sequence[Row], *, first_seq: int = 1, prev: str = GENESIS
) -> StreamCheck:
    """Decode a stream's rows in seq order, checking each hash and the chain; stop at damage.

    `rows` start at `first_seq`, whose line must follow the hash `prev`. Damage is never a
    torn tail here (a transaction commits whole), so it is never cut.
    """
    records: list[Recorded] = []
    for index, row in enumerate(rows):
        expected = first_seq + index
        try:
            recorded, prev = decode(row.line()[:-1], stream=stream, seq=expected, prev=prev)
            _check_key_columns(row)
        except (LineDamage, ValueError, KeyError, TypeError) as exc:
            kind = exc.kind if isinstance(exc, LineDamage) else "bad_event"
            message = exc.message if isinstance(exc, LineDamage) else str(exc)
            damage = RowDamage(expected, row.position, kind, message, False, row.position)
            return StreamCheck(stream, records, prev, damage)
        records.append(recorded)
    return StreamCheck(stream, records, prev, None)


def decode_row(row: Row) -> Recorded:
    """One row on its own: its hash and its columns checked, not its place in the chain."""
    recorded, _ = decode(row.line()[:-1], stream=row.stream, seq=row.seq, prev=None)
    _check_key_columns(row)
    return recorded


def _check_key_columns(row: Row) -> None:
    """The idempotency columns sit outside the hash: they must agree with the hashed meta."""
    if row.stored_key is not None and row.stored_key != row.idempotency():
        raise LineDamage(BAD_EVENT, "the idempotency columns disagree with the event's meta")


async def stream_rows(conn: Any) -> AsyncIterator[tuple[str, list[Row]]]:
    """Every stream's rows in seq order, one stream at a time (inside a transaction)."""
    stream: str | None = None
    rows: list[Row] = []
    query = f"SELECT {SELECTED} FROM orion_events ORDER BY stream, seq"
    async for record in conn.cursor(query, prefetch=_STREAM_PREFETCH):
        row = Row.from_record(record)
        if row.stream != stream:
            if stream is not None:
                yield stream, rows
            stream, rows = row.stream, []
        rows.append(row)
    if stream is not None:
        yield stream, rows
