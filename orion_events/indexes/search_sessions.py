"""One session as the search index holds it: its title's terms and its messages' records in
session order, each message known by its id packed into 16 bytes."""

from __future__ import annotations

import uuid
from array import array
from bisect import bisect_left
from collections.abc import Sequence

from attrs import define, field

from orion_events.domain.ids import KEY_SIZE

KEY = KEY_SIZE
# Sessions up to this many messages look for a repeated id by searching their keys (a few
# microseconds); longer ones ask a Bloom filter first, so an append to a long session costs
# what it costs to a short one. In the filter, FILTER_BITS bits a key and FILTER_PROBES probes:
# about one new id in 400 is a false alarm that searches the keys.
FILTER_FROM = 256
FILTER_BITS = 16
FILTER_PROBES = 4


class _IdFilter:
    """A Bloom filter of a session's message keys: 'no' is certain, 'maybe' must be checked.
    Removed keys stay set; it is rebuilt from the live keys once it holds twice as many keys
    as it was sized for."""

    __slots__ = ("_added", "_bits", "_capacity", "_mask")

    def __init__(self, keys: bytes | bytearray) -> None:
        held = len(keys) // KEY
        self._capacity = 2 * max(held, FILTER_FROM)
        size = 1 << (self._capacity * FILTER_BITS - 1).bit_length()
        self._mask = size - 1
        self._bits = bytearray(size >> 3)
        self._added = 0
        for at in range(0, len(keys), KEY):
            self.add(bytes(keys[at : at + KEY]))

    @property
    def full(self) -> bool:
        return self._added >= self._capacity

    def _probes(self, key: bytes) -> list[int]:
        # The key's hash (SipHash: a UUID v7 starts with a clock, so its own bytes are not
        # random enough) split into two, mixed (Kirsch and Mitzenmacher) into the probes.
        hashed = hash(key) & 0xFFFF_FFFF_FFFF_FFFF
        first, second = hashed & 0xFFFF_FFFF, hashed >> 32 | 1
        mask = self._mask
        return [(first + i * second) & mask for i in range(FILTER_PROBES)]

    def add(self, key: bytes) -> None:
        bits = self._bits
        for bit in self._probes(key):
            bits[bit >> 3] |= 1 << (bit & 7)
        self._added += 1

    def may_hold(self, key: bytes) -> bool:
        bits = self._bits
        return all(bits[bit >> 3] >> (bit & 7) & 1 for bit in self._probes(key))


@define(eq=False)
class IndexedSession:
    """The records of its live messages in session order, with their keys side by side (16
    bytes a message in one bytearray, found by one bytes.find), not a dict of id strings.
    eq=False keeps identity hashing: sessions key a query's matches."""

    id: str
    number: int  # its place in the index's list of sessions, as records name it
    title_source: str
    title_terms: tuple[str, ...] = ()
    deleted: bool = False
    records: array[int] = field(factory=lambda: array("I"))
    keys: bytearray = field(factory=bytearray)
    odd_ids: dict[bytes, str] | None = None  # ids that are no canonical UUID, by key
    id_filter: _IdFilter | None = None
    next_order: int = 0
    message_terms: int = 0  # postings its messages hold: the cost of matching it term by term

    def position(self, key: bytes) -> int | None:
        """Where the message with this key is among the session's messages."""
        if self.id_filter is not None and not self.id_filter.may_hold(key):
            return None
        keys, start = self.keys, 0
        while (at := keys.find(key, start)) >= 0:
            if not at % KEY:
                return at // KEY
            start = at + 1  # the bytes straddle two keys
        return None

    def append(self, record: int, key: bytes, message_id: str | None) -> None:
        """A new last message; `message_id` when its key is a digest."""
        self.records.append(record)
        self.keys += key
        if message_id is not None:
            if self.odd_ids is None:
                self.odd_ids = {}
            self.odd_ids[key] = message_id
        if self.id_filter is not None:
            self.id_filter.add(key)
            if self.id_filter.full:
                self.id_filter = _IdFilter(self.keys)
        elif len(self.records) > FILTER_FROM:
            self.id_filter = _IdFilter(self.keys)

    def remove(self, at: int) -> None:
        """Forget the message at `at` (its record is the caller's to remove)."""
        del self.records[at]
        key = bytes(self.keys[at * KEY : (at + 1) * KEY])
        del self.keys[at * KEY : (at + 1) * KEY]
        if self.odd_ids is not None:
            self.odd_ids.pop(key, None)

    def clear(self) -> None:
        self.records = array("I")
        self.keys = bytearray()
        self.odd_ids = None
        self.id_filter = None

    def message_ids(self, records: Sequence[int], orders: Sequence[int]) -> tuple[str, ...]:
        """The ids of these live records, given in session order."""
        ids = []
        for record in records:
            # Places grow along the session (appends take the next, an edit keeps its own):
            # a record is found by bisection on them.
            at = bisect_left(self.records, orders[record], key=orders.__getitem__)
            key = bytes(self.keys[at * KEY : (at + 1) * KEY])
            odd = None if self.odd_ids is None else self.odd_ids.get(key)
            ids.append(str(uuid.UUID(bytes=key)) if odd is None else odd)
        return tuple(ids)
