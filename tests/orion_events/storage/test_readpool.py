"""The read threads: small jobs on one, large ones on another at the lowest CPU priority;
cancellation and close."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator

import pytest

from orion_events.domain.errors import StorageUnavailable
from orion_events.storage.readpool import LOWEST_PRIORITY, SMALL, ReadPool


@pytest.fixture
async def pool() -> AsyncIterator[ReadPool]:
    opened = ReadPool()
    try:
        yield opened
    finally:
        await asyncio.to_thread(opened.close)


async def hold(pool: ReadPool, size: int = 0) -> tuple[threading.Event, asyncio.Future[None]]:
    """Keep the worker of `size`'s lane busy until the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def busy() -> None:
        started.set()
        assert release.wait(10)

    running = asyncio.ensure_future(pool.run(busy, size=size))
    assert await asyncio.to_thread(started.wait, 10)
    return release, running


def priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


async def test_small_and_large_jobs_each_run_on_one_thread_that_is_not_the_loops(
    pool: ReadPool,
) -> None:
    small = await asyncio.gather(*(pool.run(threading.get_ident, size=n) for n in range(20)))
    large = await asyncio.gather(
        *(pool.run(threading.get_ident, size=SMALL + n) for n in range(1, 20))
    )
    assert len(set(small)) == len(set(large)) == 1
    assert {small[0], large[0]}.isdisjoint({threading.get_ident()})
    assert small[0] != large[0]
    assert {t.ident for t in pool.threads()} == {small[0], large[0]}


async def test_large_jobs_run_at_the_lowest_cpu_priority_small_ones_at_the_loops(
    pool: ReadPool,
) -> None:
    """The event loop takes the CPU back from a long read the moment it has work (SPEC §12)."""
    own = priority()
    assert await pool.run(priority, size=SMALL + 1) == LOWEST_PRIORITY
    assert await pool.run(priority, size=1) == own
    assert priority() == own  # the thread's alone, not the process's


async def test_small_jobs_never_wait_for_large_ones(pool: ReadPool) -> None:
    release, running = await hold(pool, size=SMALL + 1)
    assert await pool.run(sum, [1, 2], size=SMALL) == 3
    assert not running.done()
    release.set()
    await running


async def test_each_lane_runs_its_jobs_in_the_order_they_came(pool: ReadPool) -> None:
    holds = [await hold(pool, size=0), await hold(pool, size=SMALL + 1)]
    order: list[int] = []
    sizes = (5000, SMALL + 1, 3, 900, SMALL, 1)
    jobs = [asyncio.ensure_future(pool.run(order.append, size, size=size)) for size in sizes]
    await asyncio.sleep(0)  # every job queued behind the ones running
    assert pool.queued == len(sizes)
    for release, _ in holds:
        release.set()
    await asyncio.gather(*(running for _, running in holds), *jobs)
    assert [n for n in order if n <= SMALL] == [3, SMALL, 1]
    assert [n for n in order if n > SMALL] == [5000, SMALL + 1, 900]


async def test_a_cancelled_job_that_has_not_started_never_runs(pool: ReadPool) -> None:
    release, running = await hold(pool)
    ran: list[str] = []
    job = asyncio.ensure_future(pool.run(ran.append, "cancelled", size=1))
    await asyncio.sleep(0)
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await job
    await asyncio.sleep(0)  # the queued job learns of it in a callback the loop runs next
    release.set()
    await running
    await pool.run(ran.append, "after", size=1)
    assert ran == ["after"]
    assert job.cancelled()


async def test_a_job_raises_to_its_caller_and_the_worker_goes_on(pool: ReadPool) -> None:
    def fails() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await pool.run(fails, size=1)
    assert await pool.run(sum, [1, 2], size=1) == 3


async def test_close_fails_queued_jobs_and_refuses_new_ones(pool: ReadPool) -> None:
    release, running = await hold(pool)
    queued = asyncio.ensure_future(pool.run(sum, [1], size=1))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(asyncio.to_thread(pool.close))
    for _ in range(1000):  # until close() has taken the queue (it then waits for `running`)
        if not pool.queued:
            break
        await asyncio.sleep(0.01)
    release.set()
    await closing
    await running  # the job under way finishes
    with pytest.raises(StorageUnavailable):
        await queued
    with pytest.raises(StorageUnavailable):
        await pool.run(sum, [1], size=1)
