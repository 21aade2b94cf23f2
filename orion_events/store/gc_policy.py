"""The cyclic garbage collector's share of a long-running store: pauses kept short and bounded.

Views, messages and index postings live as long as the process, and CPython's full collections
scan every tracked object that is not frozen. Frozen once after start-up, the heap still grows
with every message written, and each automatic full collection rescans all of that growth: with
~70,000 messages posted since start, one took 200 ms, stalling every request on the loop.

So the store takes full collections into its own hands: the automatic ones are switched off,
and after every `every` appended events it runs one itself and freezes the survivors. Each such
collection scans only what came since the previous one, a bounded pause that does not grow with
the store; the young generations are still collected as usual. The price: an object frozen
alive that later dies in a reference cycle is never reclaimed. Views and events hold no cycles,
and a collection right before each freeze leaves only objects alive at that instant, so what
can leak is what requests in flight then hold in cycles.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def _release_free_memory() -> None:
    """glibc's malloc_trim, where there is one: start-up frees far more than it keeps (file
    contents, parsed lines, a snapshot's bytes), and glibc holds on to freed memory it could
    give back; after a start from a snapshot that was 40 % of the process."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """Looked up at first use, not at import."""
    found: Callable[[int], int] | None = getattr(ctypes.CDLL(None), "malloc_trim", None)
    return found


# gen1 collections before an automatic full one: never, in practice.
_NO_AUTOMATIC_FULL_COLLECTIONS = 1 << 30


class HeapKeeper:
    """Full collections every so many appended events, each followed by a freeze."""

    def __init__(self, every: int = 2_000) -> None:
        self.every = every
        self._since = 0
        self._scheduled = False
        self._thresholds: tuple[int, int, int] | None = None

    def start(self) -> None:
        """Freeze what start-up built, give the memory it freed back to the system, and switch
        automatic full collections off."""
        gc.freeze()
        _release_free_memory()
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            young, middle, _ = self._thresholds
            gc.set_threshold(young, middle, _NO_AUTOMATIC_FULL_COLLECTIONS)

    def stop(self) -> None:
        """Give the process its own collector settings back (unless another store, open
        still, had already taken them over when this one started)."""
        if self._thresholds is not None:
            if self._thresholds[2] != _NO_AUTOMATIC_FULL_COLLECTIONS:
                gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def appended(self, events: int) -> None:
        """Count appended events; past `every`, collect soon, between two steps of the loop."""
        self._since += events
        if self._since >= self.every and not self._scheduled and self._thresholds is not None:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._collect)

    def _collect(self) -> None:
        self._scheduled = False
        self._since = 0
        started = time.perf_counter()
        found = gc.collect()
        gc.freeze()
        log.debug(
            "full collection: %d unreachable, %.1f ms", found, (time.perf_counter() - started) * 1e3
        )
