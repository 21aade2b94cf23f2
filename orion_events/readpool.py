"""The one thread that the CPU work of reads runs on, off the event loop: small jobs first.

Decoding a log's lines, folding events into a view and building a large body are pure Python:
on the event loop, a read of a 20,000-event log held every other request for ~120 ms. Here they
run on a worker thread instead, and on one only. CPython runs one thread's bytecode at a time,
and each busy thread makes the event loop wait for the GIL whenever it takes it back after I/O
(every socket read and write): with one busy thread beside an aiohttp loop its median latency
stayed near idle, with two it grew about thirty times (measured here on two cores). So however
many reads are under way, at most one thread computes for them; the others' jobs wait in a
queue, costing nothing.

The queue has two lanes: jobs of at most SMALL events (a page of history, `?version=1`) go
before any larger one, so they wait at most for the job running; larger jobs run in the order
they came. Not smallest-first throughout: a long read's last job (building its body) is its
largest, and would wait behind every page of every read that came after it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from orion_events.errors import StorageUnavailable

T = TypeVar("T")

SMALL = 128  # events: a job this small takes well under a millisecond

_Job = tuple[int, int, Callable[..., Any], tuple[Any, ...], "concurrent.futures.Future[Any]"]


class ReadPool:
    """Runs `fn(*args)` on its worker thread; `size` (the events it covers) picks its lane."""

    def __init__(self, name: str = "orion-read") -> None:
        self._name = name
        self._queue: list[_Job] = []
        self._order = itertools.count()  # within a lane, the order jobs came; never compares fn
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    async def run(self, fn: Callable[..., T], *args: Any, size: int) -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise StorageUnavailable("the log is closed")
            lane = 0 if size <= SMALL else 1
            heapq.heappush(self._queue, (lane, next(self._order), fn, args, future))
            if self._thread is None:  # started on first use: a log that is never read has none
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
            self._lock.notify()
        # A caller cancelled meanwhile (its client gone) cancels the job if it has not started.
        return await asyncio.wrap_future(future)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if not self._queue:
                    return
                _, _, fn, args, future = heapq.heappop(self._queue)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # the caller gets it, as from any executor
                future.set_exception(exc)
            else:
                future.set_result(result)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        """Refuse new jobs, fail the queued ones, and wait for the running one to end."""
        with self._lock:
            self._closed = True
            queued, self._queue = self._queue, []
            self._lock.notify()
        for *_, future in queued:
            if future.set_running_or_notify_cancel():
                future.set_exception(StorageUnavailable("the log is closed"))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
