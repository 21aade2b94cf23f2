"""The threads that the CPU work of reads runs on, off the event loop: one for small jobs, one
for large ones, the large one at the lowest CPU priority.

Decoding a log's lines, folding events into a view and building a large body are pure Python:
on the event loop, a read of a 20,000-event log held every other request for ~120 ms. Here they
run on worker threads instead, and few of them. CPython runs one thread's bytecode at a time,
and each busy thread makes the event loop wait for the GIL whenever it takes it back after I/O
(every socket read and write), so more computing threads only make every request slower.

Two lanes, each one thread, each first come first served:

- small jobs (at most SMALL events: a page of history, `?version=1`) run at the loop's own
  priority. They are as cheap as any request, so they are served like one, whatever else runs.
- large jobs (a long history folded, a long body built) run on a thread that asks the OS for
  the lowest priority there is (nice 19, on Linux, for that thread alone). The event loop then
  takes the CPU back the moment it has work: with the large thread at the loop's priority, the
  scheduler let it run out its time slice first, and `GET /api/health` waited up to ~5 ms behind
  30 long reads; at nice 19 its p99 stayed near 1 ms (make bench, reads part). The price: while
  the loop itself is saturated, large reads get the CPU it leaves, and wait.

A long read's jobs are all large, so a long read never holds up a short one.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from orion_events.domain.errors import StorageUnavailable

T = TypeVar("T")

SMALL = 128  # events: a job this small takes well under a millisecond
LOWEST_PRIORITY = 19  # nice

_Job = tuple[Callable[..., Any], tuple[Any, ...], "concurrent.futures.Future[Any]"]


class _Lane:
    """One worker thread and its queue."""

    def __init__(self, name: str, nice: int) -> None:
        self.name, self.nice = name, nice
        self.queue: collections.deque[_Job] = collections.deque()
        self.thread: threading.Thread | None = None


class ReadPool:
    """Runs `fn(*args)` on a worker thread; `size` (the events it covers) picks the lane."""

    def __init__(self, name: str = "orion-read") -> None:
        self._lanes = (_Lane(name, 0), _Lane(f"{name}-large", LOWEST_PRIORITY))
        self._lock = threading.Condition()
        self._closed = False

    async def run(self, fn: Callable[..., T], *args: Any, size: int) -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        lane = self._lanes[0 if size <= SMALL else 1]
        with self._lock:
            if self._closed:
                raise StorageUnavailable("the log is closed")
            lane.queue.append((fn, args, future))
            if lane.thread is None:  # started on first use: a log never read has none
                lane.thread = threading.Thread(
                    target=self._work, args=(lane,), name=lane.name, daemon=True
                )
                lane.thread.start()
            self._lock.notify_all()
        # A caller cancelled meanwhile (its client gone) cancels the job if it has not started.
        return await asyncio.wrap_future(future)

    def _work(self, lane: _Lane) -> None:
        if lane.nice:
            _lower_priority(lane.nice)
        while True:
            with self._lock:
                while not lane.queue and not self._closed:
                    self._lock.wait()
                if not lane.queue:
                    return
                fn, args, future = lane.queue.popleft()
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
        return sum(len(lane.queue) for lane in self._lanes)

    def threads(self) -> list[threading.Thread]:
        """The worker threads started so far."""
        return [lane.thread for lane in self._lanes if lane.thread is not None]

    def close(self) -> None:
        """Refuse new jobs, fail the queued ones, and wait for the running ones to end."""
        with self._lock:
            self._closed = True
            queued = [job for lane in self._lanes for job in lane.queue]
            for lane in self._lanes:
                lane.queue.clear()
            self._lock.notify_all()
        for *_, future in queued:
            if future.set_running_or_notify_cancel():
                future.set_exception(StorageUnavailable("the log is closed"))
        for thread in self.threads():
            if thread is not threading.current_thread():
                thread.join()


def _lower_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority (Linux keeps one per thread; elsewhere
    setpriority would lower the whole process, so there it is left as it is)."""
    if os.uname().sysname != "Linux":
        return
    with contextlib.suppress(OSError):  # a sandbox may forbid it: then reads merely compete
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
