"""Write a data directory of realistic session logs straight through the codec (fast).

Messages are word-like text, not one sentence repeated: the search index's size depends on how
many distinct words each message holds and how many distinct words there are in all, and a
repeated "lorem ipsum" (five words) would make it look several times smaller than it is. Words
are drawn from a fixed vocabulary with Zipf's law (the word of rank r with weight 1/r), as words
in English text are: about 150 common English words first, then 50,000 made-up words of one to
four syllables. A 300-byte message holds about 55 words, 46 of them distinct. Everything comes
from one seeded RNG, so every run writes the same text.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import uuid
from pathlib import Path

from orion_events.domain.events import MessageAdded, Recorded, SessionCreated
from orion_events.storage.codec import GENESIS, encode_batch

ROLES = ("user", "assistant")
SEED = 20251110
VOCABULARY = 50_000
_COMMON = """
the of and to a in is it you that i was for on are with as be at this have from or one had by
but not what all were we when your can said there use an each which she do how their if will up
other about out many then them these so some her would make like him into time has look two more
write go see number no way could people my than first been call who its now find long down day
did get come made may part thanks please here just also should why because does think know need
want yes sure try code error file run line help work question answer example using function data
set new value list test server model text
"""
_CONSONANTS = "bcdfghklmnprstvwz"
_VOWELS = "aeiou"
# Messages are cut from one long i.i.d. draw at random places: drawing each message's words
# anew costs a Python call per word (a minute for a million messages); a window of an i.i.d.
# sequence is an i.i.d. sample all the same.
_POOL = 1 << 21


def vocabulary(rng: random.Random, size: int = VOCABULARY) -> list[str]:
    """The common words, then made-up ones, most frequent first; at least one of each length."""
    words = list(dict.fromkeys(_COMMON.split()))
    seen = set(words)
    while len(words) < size:
        syllables = rng.choice((1, 2, 2, 3, 3, 3, 4))
        word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
        if rng.random() < 0.5:
            word += rng.choice(_CONSONANTS)
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Texts:
    """Messages of exactly `size` bytes of words drawn with Zipf's law."""

    def __init__(self, size: int = 300, seed: int = SEED) -> None:
        self._rng = random.Random(seed)
        words = vocabulary(self._rng)
        weights = list(itertools.accumulate(1.0 / rank for rank in range(1, len(words) + 1)))
        self._pool = self._rng.choices(words, cum_weights=weights, k=_POOL)
        self._size = size
        # Enough words to fill a message whatever their length (the shortest are one letter).
        self._span = size // 2 + 2
        # A message ends on a whole word of exactly the length left over.
        self._by_length: dict[int, list[str]] = {}
        for word in words:
            self._by_length.setdefault(len(word), []).append(word)

    def __call__(self) -> str:
        start = self._rng.randrange(_POOL - self._span)
        text = " ".join(self._pool[start : start + self._span])
        cut = text.rfind(" ", 0, self._size)
        if cut < 0:  # under a word's length: one word of the size asked
            return self._filler(self._size)
        return f"{text[:cut]} {self._filler(self._size - cut - 1)}"

    def _filler(self, length: int) -> str:
        if length == 0:
            return ""
        choices = self._by_length.get(length)
        if choices is None:
            return "x" * length
        return self._rng.choice(choices)


def make_data_dir(
    root: Path,
    sessions: int,
    events_per_session: int,
    content_bytes: int = 300,
    *,
    position: int = 0,
) -> int:
    """Create `sessions` logs of `events_per_session` events each; returns the events written.

    Global positions follow `position`, so that logs added by a second call to a data dir do not
    share positions with the first call's.
    """
    (root / "sessions").mkdir(parents=True, exist_ok=True)
    texts = Texts(content_bytes)
    at = "2025-11-10T12:00:00.000000Z"
    for _ in range(sessions):
        stream = str(uuid.uuid4())
        position += 1
        records = [Recorded(stream, 1, str(uuid.uuid4()), at, SessionCreated(None, {}), position)]
        for seq in range(2, events_per_session + 1):
            event = MessageAdded(str(uuid.uuid4()), ROLES[seq % 2], texts(), None, "qwen2.5:1.5b")
            position += 1
            records.append(Recorded(stream, seq, str(uuid.uuid4()), at, event, position))
        data, _ = encode_batch(records, GENESIS)
        with open(root / "sessions" / f"{stream}.jsonl", "wb") as f:
            f.write(data)
    os.sync()
    return sessions * events_per_session


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100, help="events per session")
    args = parser.parse_args()
    print(make_data_dir(args.dest, args.sessions, args.events), "events written")
