"""Search terms: the tokenizer, a message's terms packed into a few bytes a term, and the
sorted vocabulary that prefix queries read."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections import Counter
from collections.abc import Collection, Iterator

_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Casefolded word tokens. NFKC after casefolding so a decomposed "É" (E + U+0301, as macOS
    keyboards send it) and full-width letters give the same token as their composed forms."""
    folded = text.casefold()
    if not folded.isascii():  # ASCII is its own NFKC form: most messages skip the pass
        folded = unicodedata.normalize("NFKC", folded)
    return _WORD.findall(folded)


def term_counts(text: str) -> Counter[str]:
    """Each distinct token of `text` with how often it occurs, in order of first occurrence."""
    return Counter(tokenize(text))


# A message's terms are kept as term numbers (the postings' own numbers), sorted, each as the
# gap from the one before in a LEB128 varint whose low bit says a count other than 1 follows
# (as count - 2, another varint). Frequent words get small numbers early and most words occur
# once in a message, so a term takes about two bytes here where a tuple of strings and a count
# took nine, and a session's messages' lists lie end to end in one bytearray.


def _varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def pack_terms(terms: list[int], out: bytearray) -> None:
    """Append to `out` the terms given as `number << 32 | count` (distinct numbers, counts
    from 1 to 2**32 - 1, one int each so that sorting them is cheap), packed; sorts `terms`."""
    previous = -1
    terms.sort()
    for term in terms:
        number, count = term >> 32, term & 0xFFFF_FFFF
        gap = (number - previous - 1) << 1
        previous = number
        if count == 1:  # most terms: one or two bytes, without a call
            if gap < 0x80:
                out.append(gap)
            elif gap < 0x4000:
                out.append(gap & 0x7F | 0x80)
                out.append(gap >> 7)
            else:
                _varint(out, gap)
        else:
            _varint(out, gap | 1)
            _varint(out, count - 2)


def unpack_terms(
    packed: bytes | bytearray, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, int]]:
    """The (term number, count) pairs packed in packed[start:end], in term number order."""
    number = -1
    i, end = start, len(packed) if end is None else end
    while i < end:
        byte = packed[i]
        i += 1
        value = byte & 0x7F
        shift = 7
        while byte & 0x80:
            byte = packed[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
        number += (value >> 1) + 1
        if not value & 1:
            yield number, 1
            continue
        byte = packed[i]
        i += 1
        count = byte & 0x7F
        shift = 7
        while byte & 0x80:
            byte = packed[i]
            i += 1
            count |= (byte & 0x7F) << shift
            shift += 7
        yield number, count + 2


class Vocabulary:
    """Every term held, sorted, for prefix lookup. New terms wait in a tail and are merged when
    a query needs them, so an update never pays for an insort into a large list; terms no
    longer held stay until a rebuild and are skipped when read."""

    __slots__ = ("_fresh", "_sorted", "_sources")

    def __init__(self, *sources: Collection[str]) -> None:
        self._sources = sources  # what holds terms: a term is live while one of them has it
        self._sorted: list[str] = []
        self._fresh: list[str] = []

    def add(self, term: str) -> None:
        """A term one of the sources has just begun to hold."""
        self._fresh.append(term)
        if len(self._fresh) > len(self._sorted) + 1024:
            # Without queries the tail would grow with every term that dies and comes back;
            # merging once it outgrows the rest keeps that bounded at amortised O(log n) a term.
            self._refresh()

    def completions(self, prefix: str) -> list[str]:
        """The live terms starting with `prefix`, in order."""
        self._refresh()
        terms, sources = self._sorted, self._sources
        found: list[str] = []
        previous = None
        for i in range(bisect_left(terms, prefix), len(terms)):
            term = terms[i]
            if not term.startswith(prefix):
                break
            # Skip duplicates (a term that died and came back) and dead terms.
            if term != previous and any(term in source for source in sources):
                found.append(term)
            previous = term
        return found

    def _refresh(self) -> None:
        live = sum(len(source) for source in self._sources)
        if len(self._sorted) + len(self._fresh) > 2 * live + 1024:
            # Mostly dead terms: rebuild, paid for by the removals that killed them.
            self._sorted = sorted(set().union(*self._sources))
        elif self._fresh:
            # Timsort merges the sorted run with the sorted tail in near-linear time.
            self._sorted.extend(self._fresh)
            self._sorted.sort()
        self._fresh = []
