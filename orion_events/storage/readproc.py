"""A child process for the longest reads: a long history folded, and its body built, where the
service's GIL is not.

The read threads (readpool.py) keep the work of reads off the event loop, but not off the GIL:
while one folds a 20,000-event history, the loop waits up to a switch interval for the GIL after
every socket call, and GET /api/health's p99 was ~2 ms under 30 such reads where it is 0.2 ms
alone. A child process shares no GIL. It reads the log's bytes itself (the file is append-only
and the parent names the byte range, as far as readers see it), folds them, and hands back what
the caller asked to make of the view; it runs at the lowest CPU priority, so the loop takes the
core back the moment it has work.

One child, started on the first long read (about a third of a second), jobs one at a time: as
with the read threads, more at once would only share the same core.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from orion_events.domain.errors import StorageUnavailable
from orion_events.storage.readpool import LOWEST_PRIORITY

T = TypeVar("T")

PARENT_CHECK = 0.5  # seconds: how soon the child ends after the service's process did


class ReadProcess:
    """Runs `fn(*args)` in the child process; `fn` and `args` must pickle (a module's own
    function, plain data)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StorageUnavailable("the log is closed")
        if self._pool is None:
            # Spawned, not forked: a fork of a process with threads (commit, reads) may copy a
            # lock some thread held, and would copy the whole store's memory besides.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                1, mp_context=context, initializer=_start_child, initargs=(os.getpid(),)
            )
        # A caller cancelled meanwhile (its client gone) cancels the job if it has not started.
        return await asyncio.wrap_future(self._pool.submit(fn, *args))

    def close(self) -> None:
        """Refuse new jobs, drop the queued ones, and stop the child (after the running job)."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _start_child(parent: int) -> None:
    """In the child, before its first job: the lowest CPU priority, and an end when the
    service's process ends, however it ends (after a kill -9 nothing else would end it: it
    waits on pipes it holds both ends of)."""
    with contextlib.suppress(OSError):  # a sandbox may forbid it: then the child competes
        os.nice(LOWEST_PRIORITY - os.nice(0))
    threading.Thread(target=_end_with, args=(parent,), name="orion-parent", daemon=True).start()


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK)
    os._exit(0)
