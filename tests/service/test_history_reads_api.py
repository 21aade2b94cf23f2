"""Reads of history over HTTP off the event loop (SPEC §12), and a session stream's catch-up read
a page at a time.

The app runs on the test's own event loop, so the test's thread is the loop's: a decode, a fold
or a body built on it is work a read did on the loop. Which thread ran what is watched by
wrapping the functions that do that work; nothing here is timed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from orion_events.domain import projector
from orion_events.domain.events import Recorded
from orion_events.storage.files import lineindex
from orion_events.storage.readpool import LOWEST_PRIORITY
from orion_events.store import history as reads
from service import export, payloads, streams
from service.app_keys import STORE
from service.payloads import session_json, session_pieces
from tests.service.test_live_api import (
    add,
    check_messages,
    create,
    history,
    open_stream,
)


class Threads:
    """The thread each watched call ran on, by what it did."""

    def __init__(self) -> None:
        self.calls: dict[str, list[int]] = {}

    def on(self, thread: int) -> dict[str, int]:
        return {what: ids.count(thread) for what, ids in self.calls.items()}

    def total(self) -> dict[str, int]:
        return {what: len(ids) for what, ids in self.calls.items()}

    def clear(self) -> None:
        for ids in self.calls.values():
            ids.clear()


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> Threads:
    """Decoding a line, folding events into a view of the past, and turning a message or an
    event into JSON, each noted with its thread."""
    seen = Threads()

    def watch(owner: Any, name: str, what: str) -> None:
        real: Callable[..., Any] = getattr(owner, name)
        ids = seen.calls.setdefault(what, [])

        def watched(*args: Any, **kwargs: Any) -> Any:
            ids.append(threading.get_ident())
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, watched)

    watch(lineindex, "decode", "decode")
    watch(projector.SessionFold, "add", "fold")
    watch(payloads, "message_json", "message body")
    watch(export, "event_json", "event body")
    watch(export, "_message_lines", "transcript")
    return seen


async def test_time_travel_export_fork_and_long_bodies_run_off_the_loop(
    client: Any, threads: Threads
) -> None:
    count = payloads.LONG_BODY + 20  # a session whose body is built off the loop too
    sid = await create(client, title="long")
    for n in range(count):
        await add(client, sid, f"message {n}")
    loop_thread = threading.get_ident()
    threads.clear()

    for query in ({"version": "140"}, {"as_of": "2999-01-01T00:00:00Z"}):
        response = await client.get(f"/api/sessions/{sid}", params=query)
        assert response.status == 200
        assert len((await response.json())["messages"]) >= 139
    for kind in ("json", "markdown"):
        response = await client.get(f"/api/sessions/{sid}/export", params={"format": kind})
        assert response.status == 200
        assert f"message {count - 1}" in await response.text()
    response = await client.post(f"/api/sessions/{sid}/fork", json={"version": 130})
    assert response.status == 201
    assert len((await response.json())["messages"]) == 129
    response = await client.get(f"/api/sessions/{sid}/events", params={"limit": 1000})
    assert len(await response.json()) == count + 1
    response = await client.put(f"/api/sessions/{sid}", json={"title": "renamed"})
    assert len((await response.json())["messages"]) == count
    response = await client.get(f"/api/sessions/{sid}")
    assert len((await response.json())["messages"]) == count

    assert all(threads.total().values()), threads.total()
    assert threads.on(loop_thread) == dict.fromkeys(threads.calls, 0)


async def test_a_long_read_of_the_past_runs_in_the_read_process(
    client: Any, threads: Threads
) -> None:
    """Past the first page, `?version=` and `?as_of` of a file log are folded and encoded in
    the read process, at the lowest CPU priority: here only the first page is decoded."""
    sid = await create(client, title="long")
    for n in range(200):
        await add(client, sid, f"message {n}")
    store = client.app[STORE]
    expected = {
        n: orjson.dumps(session_json(await store.session_at(sid, version=n))) for n in (5, 150)
    }
    threads.clear()

    response = await client.get(f"/api/sessions/{sid}", params={"version": "150"})
    assert response.status == 200
    assert response.headers["ETag"] == '"150"'
    assert await response.read() == expected[150]
    assert threads.total()["decode"] == reads.FIRST_PAGE
    (child,) = multiprocessing.active_children()
    assert os.getpriority(os.PRIO_PROCESS, child.pid) == LOWEST_PRIORITY

    response = await client.get(f"/api/sessions/{sid}", params={"as_of": "2999-01-01T00:00:00Z"})
    assert (await response.json())["version"] == 201
    threads.clear()
    response = await client.get(f"/api/sessions/{sid}", params={"version": "5"})  # one page
    assert await response.read() == expected[5]
    assert threads.total()["decode"] == 5

    await store.delete_session(sid)
    response = await client.get(f"/api/sessions/{sid}", params={"version": "202"})
    assert response.status == 404  # deleted then, as an id that never existed
    assert await store.past(sid, session_pieces, version=201) is not None


@pytest.fixture
async def live(make_client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A client whose idle streams send a heartbeat every 0.2 s; catch-up pages of 4 events."""
    monkeypatch.setattr(streams, "PAGE", 4)
    return await make_client(sse_heartbeat=0.2)


async def test_a_resumed_session_stream_reads_only_what_it_missed(
    live: Any, threads: Threads
) -> None:
    sid = await create(live)
    for n in range(40):
        await add(live, sid, f"m{n}")
    url = f"/api/sessions/{sid}/events/stream"
    await history(live, sid)  # the log's index, built by a first read
    threads.clear()

    stream = await open_stream(live, url, **{"Last-Event-ID": "38"})
    missed = await stream.messages(3)
    await stream.quiet()
    assert [m.id for m in missed] == [39, 40, 41]
    assert threads.total()["decode"] == 3  # the three it missed, not the forty before them
    await add(live, sid, "live")
    assert (await stream.message()).id == 42
    stream.close()


async def test_a_session_stream_catches_up_across_pages_then_goes_live(live: Any) -> None:
    sid = await create(live)
    other = await create(live)
    for n in range(13):
        await add(live, sid, f"m{n}")
        await add(live, other, f"o{n}")
    stream = await open_stream(live, f"/api/sessions/{sid}/events/stream", **{"Last-Event-ID": "1"})
    caught_up = await stream.messages(13)
    await add(live, other, "not this one")
    await add(live, sid, "live")
    fresh = await stream.message()
    await stream.quiet()
    stream.close()
    check_messages([*caught_up, fresh], (await history(live, sid))[1:], key="seq")


async def test_events_written_while_a_stream_catches_up_are_sent_once(
    live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event written between the stream's opening and its history read is in both that read
    and the live feed after the point the stream started from: it must be sent once."""
    sid = await create(live)
    for n in range(6):
        await add(live, sid, f"m{n}")
    store = live.app[STORE]
    real = store.history
    written = asyncio.Event()

    async def history_after_a_write(session_id: str, after: int, limit: int) -> list[Recorded]:
        if not written.is_set():
            written.set()
            await store.add_message(sid, role="user", content="while catching up")
        return await real(session_id, after, limit)

    monkeypatch.setattr(store, "history", history_after_a_write)
    stream = await open_stream(live, f"/api/sessions/{sid}/events/stream", **{"Last-Event-ID": "2"})
    caught_up = await stream.messages(6)
    await stream.quiet()
    await add(live, sid, "live")
    fresh = await stream.message()
    await stream.quiet()
    stream.close()
    check_messages([*caught_up, fresh], (await history(live, sid))[2:], key="seq")
