"""The search index's message postings, packed: for each term, the messages holding it.

A message is a record: a small integer indexing parallel arrays (its session's number, its
place in the session, where its terms lie in its session's bytearray of packed term lists),
not an object. A term's posting is an array of the records holding it, 4 bytes each, and for a
term some message holds more than once, a byte array of its count in each (255: the count is in
the posting's `large`). A posting costs 4 or 5 bytes, and its term about 2 in the message's
packed list, where a list of message objects, an array of counts and each message's tuple of
terms cost 21. Records are reused once no posting holds them, so their numbers stay below the
most messages held at once (removed ones included until compaction) and fit 32 bits.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain, repeat

from attrs import define, field

from orion_events.indexes.search_terms import pack_terms, unpack_terms

DEAD = 0xFFFF_FFFF  # a removed record's session number
BIG = 0xFF  # a count byte that sends the reader to the posting's `large`
# A posting is compacted once its dead entries outnumber its live ones (and are at least
# COMPACT_MIN); each removal pays for COMPACT_STEP entries of that work, so compaction keeps up
# (a compaction reads fewer than twice the dead entries it drops) without any one update
# reading a whole large posting.
COMPACT_MIN = 16
COMPACT_STEP = 4


@define(eq=False, weakref_slot=False)
class Posting:
    """The records holding one term, append-only: a removed message's record is marked dead,
    readers skip it, and compaction drops dead entries a bounded step at a time."""

    term: str
    number: int  # how packed term lists name the term
    messages: array[int] = field(factory=lambda: array("I"))  # records
    # The term's count in each (or BIG); None while every count is 1, as it stays for most
    # terms (all but the commonest words), which then cost no array of counts.
    counts: array[int] | None = None
    large: dict[int, int] | None = None  # counts from BIG up, by record
    live: int = 0  # entries not dead: the term's document frequency
    pending: bool = False  # queued for compaction, or part way through one
    read: int = 0  # compaction cursor: entries before `read` are done, those kept before `write`
    write: int = 0


class MessagePostings:
    """Every indexed message as a record, and the postings of their terms, by term."""

    __slots__ = (
        "_by_number",
        "_compactions",
        "_ends",
        "_free",
        "_free_numbers",
        "_garbage",
        "_new_term",
        "_packed",
        "_postings",
        "_starts",
        "orders",
        "owners",
    )

    def __init__(self, new_term: Callable[[str], None]) -> None:
        # By record: its session's number (DEAD once removed) and its place in the session;
        # a dead record's place holds instead how many postings still hold it, so that it is
        # reused only once none does.
        self.owners = array("I")
        self.orders = array("I")
        self._starts = array("I")  # by record: where its packed terms lie in its session's
        self._ends = array("I")
        # By session number: its messages' packed terms end to end, and how many of those
        # bytes are removed messages' (dropped once they are half of it).
        self._packed: list[bytearray] = []
        self._garbage: list[int] = []
        self._free = array("I")  # dead records no posting holds
        self._postings: dict[str, Posting] = {}
        self._by_number: list[Posting | None] = []
        self._free_numbers: list[int] = []
        self._compactions: deque[Posting] = deque()  # postings waiting to be compacted
        self._new_term = new_term  # told of each term that gains a posting

    # --- the postings, by term -------------------------------------------------------------------

    def get(self, term: str) -> Posting | None:
        return self._postings.get(term)

    def __getitem__(self, term: str) -> Posting:
        return self._postings[term]

    def __contains__(self, term: object) -> bool:
        return term in self._postings

    def __len__(self) -> int:
        return len(self._postings)

    def __iter__(self) -> Iterator[str]:
        return iter(self._postings)

    def live(self, term: str) -> int:
        """How many messages hold `term`."""
        posting = self._postings.get(term)
        return 0 if posting is None else posting.live

    def stats(self) -> dict[str, int]:
        return {
            "terms": len(self._postings),
            "postings": sum(posting.live for posting in self._postings.values()),
        }

    # --- records ---------------------------------------------------------------------------------

    def add(self, session: int, order: int, counts: Mapping[str, int]) -> int:
        """Index a message of session number `session` at place `order` holding the terms
        `counts`; returns its record."""
        if self._free:
            record = self._free.pop()
            self.owners[record], self.orders[record] = session, order
        else:
            record = len(self.owners)
            self.owners.append(session)
            self.orders.append(order)
            self._starts.append(0)
            self._ends.append(0)
        while len(self._packed) <= session:
            self._packed.append(bytearray())
            self._garbage.append(0)
        postings = self._postings
        terms: list[int] = []
        for term, count in counts.items():
            posting = postings.get(term)
            if posting is None:
                posting = self._new_posting(term)
            posting.messages.append(record)
            if count != 1 and posting.counts is None:
                posting.counts = array("B", b"\x01") * (len(posting.messages) - 1)
            if posting.counts is not None:
                if count < BIG:
                    posting.counts.append(count)
                else:
                    posting.counts.append(BIG)
                    if posting.large is None:
                        posting.large = {}
                    posting.large[record] = count
            posting.live += 1
            terms.append(posting.number << 32 | count)
        packed = self._packed[session]
        self._starts[record] = len(packed)
        pack_terms(terms, packed)
        self._ends[record] = len(packed)
        return record

    def remove(self, record: int) -> int:
        """Kill a message's record; postings hold it until compaction. Returns how many terms
        it held."""
        session = self.owners[record]
        start, end = self._starts[record], self._ends[record]
        held = [number for number, _ in unpack_terms(self._packed[session], start, end)]
        self._garbage[session] += end - start
        self.owners[record] = DEAD
        # One more than the postings holding it while they are updated, so that a posting
        # dropped whole on the way cannot free it before the count is complete.
        self.orders[record] = len(held) + 1
        by_number, queue = self._by_number, self._compactions
        for number in held:
            posting = by_number[number]
            assert posting is not None
            posting.live -= 1
            if not posting.live:
                self._drop(posting)
            elif not posting.pending and len(posting.messages) - posting.live > max(
                posting.live, COMPACT_MIN
            ):
                posting.pending = True
                queue.append(posting)
        self._release(record)
        self._compact_some(COMPACT_STEP * len(held))
        return len(held)

    def terms_of(self, record: int) -> Iterator[tuple[int, int]]:
        """A live record's (term number, count) pairs."""
        packed = self._packed[self.owners[record]]
        return unpack_terms(packed, self._starts[record], self._ends[record])

    def tidy(self, session: int, records: Iterable[int]) -> None:
        """Drop removed messages' packed terms from a session's once they are half of it;
        `records` are the session's messages (any removed ones among them are skipped)."""
        if session >= len(self._packed):
            return
        packed, garbage = self._packed[session], self._garbage[session]
        if garbage * 2 <= len(packed):
            return
        owners, starts, ends = self.owners, self._starts, self._ends
        kept = bytearray()
        for record in records:
            if owners[record] != DEAD:
                start = len(kept)
                kept += packed[starts[record] : ends[record]]
                starts[record], ends[record] = start, len(kept)
        self._packed[session] = kept
        self._garbage[session] = 0

    def number(self, term: str) -> int | None:
        posting = self._postings.get(term)
        return None if posting is None else posting.number

    def entries(self, posting: Posting) -> Iterator[tuple[int, int, int]]:
        """(record, session number, count) of every live entry of `posting`."""
        if posting.pending:  # reading it all anyway: finish its compaction first
            self._compact(posting)
        owners, large, messages = self.owners, posting.large, posting.messages
        clean = posting.live == len(messages)  # no dead entries to skip
        counts = repeat(1, len(messages)) if posting.counts is None else posting.counts
        for record, count in zip(messages, counts, strict=True):
            owner = owners[record]
            if not clean and owner == DEAD:
                continue
            yield record, owner, (count if count != BIG or large is None else large[record])

    # --- upkeep ----------------------------------------------------------------------------------

    def _new_posting(self, term: str) -> Posting:
        if self._free_numbers:
            number = self._free_numbers.pop()
            posting = self._by_number[number] = Posting(term, number)
        else:
            posting = Posting(term, len(self._by_number))
            self._by_number.append(posting)
        self._postings[term] = posting
        self._new_term(term)
        return posting

    def _drop(self, posting: Posting) -> None:
        """Forget a posting no live message holds, releasing the records it still holds."""
        del self._postings[posting.term]
        self._by_number[posting.number] = None
        self._free_numbers.append(posting.number)
        posting.pending = False
        messages = posting.messages
        # Part way through a compaction, entries between `write` and `read` are copies of kept
        # ones or of dropped ones, already counted: skip them.
        for i in chain(range(posting.write), range(posting.read, len(messages))):
            self._release(messages[i])

    def _release(self, record: int) -> None:
        """One posting fewer holds a dead record: reuse it when none does."""
        held = self.orders[record] - 1
        self.orders[record] = held
        if not held:
            self._free.append(record)

    def _compact_some(self, budget: int) -> None:
        """Spend up to about `budget` entry reads compacting queued postings."""
        queue = self._compactions
        while budget > 0 and queue:
            posting = queue[0]
            if posting.pending:
                budget -= self._compact(posting, budget)
                if posting.pending:
                    return
            queue.popleft()

    def _compact(self, posting: Posting, budget: int | None = None) -> int:
        """Compact a posting in place by up to `budget` entries (all of it when None): live
        entries move down over dead ones. Returns the entries read."""
        messages, counts, owners = posting.messages, posting.counts, self.owners
        read, write = posting.read, posting.write
        end = len(messages) if budget is None else min(len(messages), read + budget)
        for i in range(read, end):
            record = messages[i]
            if owners[record] != DEAD:
                if write != i:
                    messages[write] = record
                    if counts is not None:
                        counts[write] = counts[i]
                write += 1
            else:
                if counts is not None and counts[i] == BIG and posting.large is not None:
                    del posting.large[record]
                self._release(record)
        if end == len(messages):
            del messages[write:]
            if counts is not None:
                del counts[write:]
            posting.read = posting.write = 0
            posting.pending = False
        else:
            posting.read, posting.write = end, write
        return max(end - read, 1)
