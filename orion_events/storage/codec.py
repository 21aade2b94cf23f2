"""Events <-> JSONL lines: the wire format, its checksum and hash chain, and damage detection.

A line is one JSON object, `hash` always last:

    {"seq":2,"pos":17,"id":"…","stream":"<session id>","type":"message_added","at":"…Z",
     "schema":1,"data":{…},"meta":{…},"prev":"<hash of line 1>","hash":"<blake2b-128 …>"}

`seq` orders one log and `pos` all of them (the global feed); `schema` is the version of the event
type's `data`, older versions being upcast whenever they are read (a line is never rewritten);
`meta`, when present, holds request facts such as the idempotency key.

`hash` covers the exact bytes written (everything up to `,"hash"`, closed with `}`), so no
re-serialisation is needed to check it, and because those bytes include `prev`, each line pins the
whole history before it: a changed, deleted, duplicated, reordered or spliced line breaks the chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

import orjson
from attrs import frozen

from orion_events.domain.events import Event, Recorded, event_data, event_from_data

SCHEMA_VERSION: Final = 1  # of every event type today; a type whose data changes gets an entry
GENESIS: Final = "0" * 32
_HASH_HEX: Final = 32
_HASH_KEY: Final = b',"hash":"'
_TAIL_LEN: Final = len(_HASH_KEY) + _HASH_HEX + len(b'"}')

Upcaster: TypeAlias = Callable[[dict[str, Any]], dict[str, Any]]


@frozen
class Schemas:
    """Each event type's current schema version, and the steps lifting `data` from n to n + 1."""

    current: Mapping[str, int]
    upcasters: Mapping[tuple[str, int], Upcaster]

    def version(self, kind: str) -> int:
        return self.current.get(kind, SCHEMA_VERSION)

    def upcast(self, kind: str, schema: int, data: dict[str, Any]) -> dict[str, Any]:
        current = self.version(kind)
        if schema > current:
            raise LineDamage(BAD_EVENT, f"{kind} schema {schema} is newer than this code knows")
        while schema < current:
            step = self.upcasters.get((kind, schema))
            if step is None:
                raise LineDamage(BAD_EVENT, f"no upcaster for {kind} schema {schema}")
            data, schema = step(data), schema + 1
        return data


def _same(data: dict[str, Any]) -> dict[str, Any]:
    return data


# Each type is at version 1 unless named here. When one changes, add its version here and the
# upcaster from the one before; the golden logs in tests/fixtures must still replay identically.
# Version 2 of the message events is the tree's (SPEC §8): message_added gains parent_id,
# message_deleted subtree, session_forked parent_ids and current_id. A version-1 line is a
# version-2 line without them, which the events read as it always was meant (the current leaf's
# reply, one message, a chain); the bump makes code from before trees refuse the new lines by
# name instead of misreading them.
SCHEMAS: Final = Schemas(
    current={"message_added": 2, "message_deleted": 2, "session_forked": 2},
    upcasters={
        ("message_added", 1): _same,
        ("message_deleted", 1): _same,
        ("session_forked", 1): _same,
    },
)


def line_hash(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=_HASH_HEX // 2).hexdigest()


def encode(recorded: Recorded, prev: str, schemas: Schemas = SCHEMAS) -> tuple[bytes, str]:
    """The line for `recorded` chained after `prev`, and the line's own hash."""
    kind = recorded.event.kind
    envelope: dict[str, Any] = {
        "seq": recorded.seq,
        "pos": recorded.position,
        "id": recorded.id,
        "stream": recorded.stream,
        "type": kind,
        "at": recorded.at,
        "schema": schemas.version(kind),
        "data": event_data(recorded.event),
    }
    if recorded.meta:
        envelope["meta"] = recorded.meta
    envelope["prev"] = prev
    body = orjson.dumps(envelope)
    digest = line_hash(body)
    return body[:-1] + _HASH_KEY + digest.encode() + b'"}\n', digest


def encode_batch(records: list[Recorded], prev: str) -> tuple[bytes, str]:
    """Consecutive lines for `records`, chained from `prev`, and the hash of the last one."""
    lines = []
    for recorded in records:
        line, prev = encode(recorded, prev)
        lines.append(line)
    return b"".join(lines), prev


# Kinds of damage, as `verify` and the recovery report name them.
TORN = "torn_tail"
BAD_JSON = "bad_json"
CHECKSUM = "checksum_mismatch"
CHAIN = "chain_break"
GAP = "sequence_gap"
REPEAT = "sequence_repeat"
WRONG_STREAM = "wrong_stream"
BAD_EVENT = "bad_event"


_CRASH_KINDS = frozenset({TORN, BAD_JSON, CHECKSUM})


class LineDamage(ValueError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def decode(
    line: bytes, *, stream: str, seq: int, prev: str | None, schemas: Schemas = SCHEMAS
) -> tuple[Recorded, str]:
    """Check and decode one line (without its newline) expected at `seq` after `prev`.

    Returns the event and the line's hash; raises LineDamage naming what is wrong. `prev=None`
    skips the chain check, for reading single lines of a log already checked whole.
    """
    if len(line) <= _TAIL_LEN or line[-_TAIL_LEN : -_TAIL_LEN + len(_HASH_KEY)] != _HASH_KEY:
        raise LineDamage(BAD_JSON, "no integrity field at the end of the line")
    # Hash the line's bytes before `,"hash"` plus the closing brace, without copying them.
    digest = hashlib.blake2b(memoryview(line)[:-_TAIL_LEN], digest_size=_HASH_HEX // 2)
    digest.update(b"}")
    own_hash = digest.hexdigest()
    if own_hash.encode() != line[-_TAIL_LEN + len(_HASH_KEY) : -2]:
        raise LineDamage(CHECKSUM, "the line's bytes do not match its hash")
    try:
        obj = orjson.loads(line)
        line_seq, line_stream, line_prev = obj["seq"], obj["stream"], obj["prev"]
        kind, data, schema = obj["type"], obj["data"], obj["schema"]
        event_id, at, position = obj["id"], obj["at"], obj["pos"]
        meta = obj.get("meta")
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise LineDamage(BAD_JSON, "not a JSON object with the envelope's fields") from None
    if line_stream != stream:
        raise LineDamage(WRONG_STREAM, f"line belongs to stream {line_stream!r}")
    if line_seq != seq:
        if isinstance(line_seq, int) and line_seq > seq:
            raise LineDamage(GAP, f"seq {line_seq} where {seq} was expected")
        raise LineDamage(REPEAT, f"seq {line_seq!r} where {seq} was expected")
    if prev is not None and line_prev != prev:
        raise LineDamage(CHAIN, "prev does not match the previous line's hash")
    if not isinstance(schema, int) or not isinstance(data, dict) or not isinstance(position, int):
        raise LineDamage(BAD_EVENT, "schema, pos or data of the wrong type")
    if schema != schemas.version(kind):
        data = schemas.upcast(kind, schema, data)
    try:
        event: Event = event_from_data(kind, data)
    except ValueError as exc:
        raise LineDamage(BAD_EVENT, str(exc)) from None
    return Recorded(stream, seq, event_id, at, event, position, meta), own_hash


@frozen
class Damage:
    """The first bad line of a log: where it starts and what is wrong with it."""

    line: int
    offset: int
    kind: str
    message: str
    at_tail: bool  # nothing but this one line follows the last good line

    @property
    def is_torn_tail(self) -> bool:
        """A last line a crash can leave: cut short, or bytes that never became a valid line.

        A whole, self-consistent last line in the wrong place (gap, chain, stream) is no crash
        artifact but damage, and is never cut.
        """
        return self.at_tail and self.kind in _CRASH_KINDS

    def describe(self) -> str:
        return f"line {self.line} (byte {self.offset}): {self.kind}: {self.message}"


@frozen
class Scan:
    """What a log holds: its good events, the hash and byte length they end at, and any damage."""

    records: list[Recorded]
    offsets: list[int]  # where each good record's line starts
    last_hash: str
    good_length: int
    damage: Damage | None


def scan(
    data: bytes, stream: str, *, first_seq: int = 1, prev: str = GENESIS, base: int = 0
) -> Scan:
    """Decode a log, stopping at the first damaged line.

    A tail read after a snapshot starts at `first_seq`, chained from `prev`, `base` bytes into
    the file; offsets and lengths in the result are then file positions.
    """
    records: list[Recorded] = []
    offsets: list[int] = []
    offset = base
    lines = data.split(b"\n")
    last = len(lines) - 1  # the piece after the final newline: empty unless the tail is torn
    for index, line in enumerate(lines):
        number = first_seq + index
        if index == last:
            if line:
                damage = Damage(
                    number, offset, TORN, "the last line has no newline: a write cut short", True
                )
                return Scan(records, offsets, prev, offset, damage)
            break
        try:
            recorded, prev = decode(line, stream=stream, seq=number, prev=prev)
        except LineDamage as exc:
            damage = Damage(number, offset, exc.kind, exc.message, index == last - 1)
            return Scan(records, offsets, prev, offset, damage)
        records.append(recorded)
        offsets.append(offset)
        offset += len(line) + 1
    return Scan(records, offsets, prev, offset, None)
