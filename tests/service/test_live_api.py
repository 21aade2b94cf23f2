"""The live routes over HTTP: Server-Sent Events for the global feed and for one session.

Streams are read with the test client, line by line, into SSE blocks; every read is bounded by a
timeout, so a stream that stalls fails its test instead of hanging the suite. "Nothing more" is
checked by a heartbeat arriving where an event would otherwise be.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import BaseRunner
from attrs import field, frozen

from service.app import create_app
from service.app_keys import STORE
from service.config import Config
from service.streams import PAGE
from tests.conftest import EdgeTestServer
from tests.service.expect import JSON, MIB, expect_error

READ_TIMEOUT = 10.0  # no single read waits longer than this
MAX_LINE = 4 * 1024 * 1024  # an SSE data line carries a whole event, content and all
FEED = "/api/events/stream"


@frozen
class Block:
    """One SSE block: the fields up to a blank line (comments are kept, not dropped)."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: str | None = None
    comments: tuple[str, ...] = field(default=())


@frozen
class Message:
    id: int | None
    event: str
    data: Any


class EventStream:
    """An open SSE response, read block by block with timeouts."""

    def __init__(self, response: Any) -> None:
        self.response = response

    async def block(self, seconds: float = READ_TIMEOUT) -> Block | None:
        """The next block, or None once the stream has ended."""
        return await asyncio.wait_for(self._block(), seconds)

    async def _block(self) -> Block | None:
        fields: dict[str, str] = {}
        data: list[str] = []
        comments: list[str] = []
        while True:
            line = await self.response.content.readline(max_line_length=MAX_LINE)
            if not line:
                assert not fields, "the stream ended mid-block"
                assert not data, "the stream ended mid-block"
                assert not comments, "the stream ended mid-block"
                return None
            assert line.endswith(b"\n"), line[:80]
            text = line[:-1].decode()
            if text == "":
                if fields or data or comments:
                    return Block(
                        id=fields.get("id"),
                        event=fields.get("event"),
                        data="\n".join(data) if data else None,
                        retry=fields.get("retry"),
                        comments=tuple(comments),
                    )
                continue
            if text.startswith(":"):
                comments.append(text[1:].strip())
                continue
            name, _, value = text.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                assert name not in fields, f"field {name} twice in one block"
                fields[name] = value

    async def message(self, seconds: float = READ_TIMEOUT) -> Message:
        """The next block that carries data (skipping retry and heartbeat blocks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            block = await self.block(max(0.0, deadline - loop.time()))
            assert block is not None, "the stream ended"
            if block.data is None:
                continue
            assert block.event is not None
            event_id = None if block.id is None else int(block.id)
            return Message(event_id, block.event, orjson.loads(block.data))

    async def messages(self, count: int, seconds: float = READ_TIMEOUT) -> list[Message]:
        return [await self.message(seconds) for _ in range(count)]

    async def quiet(self) -> None:
        """Assert that nothing but heartbeats arrives until the next heartbeat."""
        block = await self.block()
        assert block is not None
        assert block.data is None, f"unexpected event {block}"
        assert "heartbeat" in block.comments, block

    async def end(self, seconds: float = READ_TIMEOUT) -> list[Block]:
        """Every block up to the end of the stream, which must come within `seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        blocks = []
        while (block := await self.block(max(0.0, deadline - loop.time()))) is not None:
            blocks.append(block)
        return blocks

    def close(self) -> None:
        self.response.close()


async def open_stream(client: Any, url: str, **headers: str) -> EventStream:
    response = await client.get(url, headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    stream = EventStream(response)
    first = await stream.block()
    assert first is not None
    assert first.retry == "2000", first
    return stream


async def create(client: Any, **body: Any) -> str:
    response = await client.post("/api/sessions", json=body)
    assert response.status == 201, await response.text()
    return (await response.json())["id"]  # type: ignore[no-any-return]


async def add(client: Any, session_id: str, content: str = "hello") -> dict[str, Any]:
    response = await client.post(
        f"/api/sessions/{session_id}/messages", json={"role": "user", "content": content}
    )
    assert response.status == 201, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def feed(client: Any, after: int = 0) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        response = await client.get("/api/events", params={"after": after, "limit": 1000})
        assert response.status == 200
        page = await response.json()
        if not page:
            return events
        events.extend(page)
        after = page[-1]["position"]


async def history(client: Any, session_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/sessions/{session_id}/events", params={"limit": 1000})
    assert response.status == 200
    return await response.json()  # type: ignore[no-any-return]


async def last_position(client: Any) -> int:
    response = await client.get("/api/health")
    return (await response.json())["last_position"]  # type: ignore[no-any-return]


async def until(condition: Callable[[], Any], seconds: float = 5.0) -> Any:
    """Poll `condition` until it holds and return its value; fail once `seconds` have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not (value := condition()):
        assert loop.time() < deadline, "the condition never came true"
        await asyncio.sleep(0.01)
    return value


async def raw_get(client: Any, url: str) -> socket.socket:
    """A connection that sends a GET for `url` by hand and never reads the answer, as a reader
    that stalls does; its small receive window makes a few large events fill every buffer."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await loop.sock_connect(sock, (client.host, client.port))
        request = f"GET {url} HTTP/1.1\r\nHost: {client.host}:{client.port}\r\n\r\n"
        await loop.sock_sendall(sock, request.encode())
    except BaseException:
        sock.close()
        raise
    return sock


def server_side(client: Any, sock: socket.socket) -> Any:
    """The server's handler of the connection `sock` made; None once the server let it go."""
    name = sock.getsockname()
    for handler in client.server.runner.server.connections:
        transport = handler.transport
        if transport is not None and transport.get_extra_info("peername") == name:
            return handler
    return None


def reset(sock: socket.socket) -> None:
    """Leave at once, with a TCP reset, as a client that crashed or lost its network does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def read_to_the_end(sock: socket.socket) -> None:
    """Read what the server sent until it closed the connection or reset it."""
    loop = asyncio.get_running_loop()
    try:
        while await loop.sock_recv(sock, MIB):
            pass
    except ConnectionResetError:
        pass


BIG = "x" * (MIB - 64)  # near the largest message allowed, so a few fill the socket buffers


def check_messages(messages: list[Message], events: list[dict[str, Any]], *, key: str) -> None:
    """Each message is its event: the id is the event's `key` (position or seq), the SSE event
    name its type, the data exactly the event as history and feed show it."""
    assert [m.id for m in messages] == [e[key] for e in events]
    assert [m.event for m in messages] == [e["type"] for e in events]
    assert [m.data for m in messages] == events


@pytest.fixture
async def live(make_client: Any) -> Any:
    """A client whose idle streams send a heartbeat every 0.2 s."""
    return await make_client(sse_heartbeat=0.2)


# -- the global feed ----------------------------------------------------------------------------


async def test_feed_stream_sends_events_written_after_connecting(live) -> None:
    earlier = await create(live, title="before")
    await add(live, earlier, "not for the subscriber")
    start = await last_position(live)
    stream = await open_stream(live, FEED)

    sid = await create(live, title="after")
    await add(live, sid, "one")
    await add(live, earlier, "two")
    messages = await stream.messages(3)
    events = await feed(live, start)
    assert len(events) == 3
    check_messages(messages, events, key="position")
    assert [m.id for m in messages] == [start + 1, start + 2, start + 3]
    assert [(m.data["stream"], m.data["type"]) for m in messages] == [
        (sid, "session_created"),
        (sid, "message_added"),
        (earlier, "message_added"),
    ]
    await stream.quiet()
    stream.close()


async def test_feed_stream_carries_settings_and_deletions(live) -> None:
    sid = await create(live)
    stream = await open_stream(live, FEED)
    assert (await live.patch("/api/settings", json={"max_tokens": 7})).status == 200
    assert (await live.delete(f"/api/sessions/{sid}")).status == 204
    messages = await stream.messages(2)
    assert [(m.data["stream"], m.event) for m in messages] == [
        ("settings", "settings_changed"),
        (sid, "session_deleted"),
    ]
    stream.close()


async def test_feed_stream_resumes_with_last_event_id(live) -> None:
    start = await last_position(live)
    stream = await open_stream(live, FEED)
    sid = await create(live)
    for n in range(4):
        await add(live, sid, f"seen {n}")
    seen = await stream.messages(5)
    stream.close()

    other = await create(live)
    for n in range(4):
        await add(live, sid if n % 2 else other, f"missed {n}")
    stream = await open_stream(live, FEED, **{"Last-Event-ID": str(seen[-1].id)})
    missed = await stream.messages(5)
    for n in range(3):
        await add(live, sid, f"live {n}")
    fresh = await stream.messages(3)
    await stream.quiet()
    stream.close()

    everything = await feed(live, start)
    assert len(everything) == 13
    check_messages(seen + missed + fresh, everything, key="position")


async def test_feed_stream_resumes_with_the_after_parameter(live) -> None:
    sid = await create(live)
    await add(live, sid, "one")
    await add(live, sid, "two")
    stream = await open_stream(live, f"{FEED}?after=1")
    check_messages(await stream.messages(2), (await feed(live))[1:], key="position")
    await stream.quiet()
    stream.close()


async def test_feed_stream_from_zero_replays_everything_then_goes_live(live) -> None:
    sessions = [await create(live) for _ in range(3)]
    await asyncio.gather(*(add(live, sessions[n % 3], f"m{n}") for n in range(30)))
    stream = await open_stream(live, FEED, **{"Last-Event-ID": "0"})
    replayed = await stream.messages(33)
    await add(live, sessions[0], "live")
    replayed.append(await stream.message())
    check_messages(replayed, await feed(live), key="position")
    await stream.quiet()
    stream.close()


async def test_feed_stream_after_a_restart_replays_from_disk(make_client, data_dir) -> None:
    client = await make_client()
    sessions = [await create(client) for _ in range(3)]
    await asyncio.gather(*(add(client, sessions[n % 3], f"m{n}") for n in range(30)))
    before = await feed(client)
    await client.close()

    client = await make_client(data_dir, sse_heartbeat=0.2)
    stream = await open_stream(client, FEED, **{"Last-Event-ID": "5"})
    replayed = await stream.messages(28)
    await add(client, sessions[1], "after the restart")
    live = await stream.message()
    await stream.quiet()
    stream.close()
    check_messages(replayed, before[5:], key="position")
    assert live.id == 34
    assert (await feed(client))[:33] == before


# -- one session ----------------------------------------------------------------------------------


async def test_session_stream_sends_only_that_sessions_events(live) -> None:
    sid = await create(live, title="watched")
    other = await create(live, title="ignored")
    stream = await open_stream(live, f"/api/sessions/{sid}/events/stream")
    for n in range(3):
        await add(live, other, f"other {n}")
        await add(live, sid, f"mine {n}")
    assert (await live.put(f"/api/sessions/{other}", json={"title": "x"})).status == 200
    assert (await live.put(f"/api/sessions/{sid}", json={"title": "y"})).status == 200
    messages = await stream.messages(4)
    check_messages(messages, (await history(live, sid))[1:], key="seq")
    assert [m.id for m in messages] == [2, 3, 4, 5]
    assert {m.data["stream"] for m in messages} == {sid}
    await stream.quiet()
    stream.close()


async def test_session_stream_resumes_with_last_event_id(live) -> None:
    sid = await create(live)
    other = await create(live)
    stream = await open_stream(live, f"/api/sessions/{sid}/events/stream")
    await add(live, sid, "seen 1")
    await add(live, sid, "seen 2")
    seen = await stream.messages(2)
    assert [m.id for m in seen] == [2, 3]
    stream.close()

    for n in range(3):
        await add(live, other, f"other {n}")
        await add(live, sid, f"missed {n}")
    stream = await open_stream(
        live, f"/api/sessions/{sid}/events/stream", **{"Last-Event-ID": str(seen[-1].id)}
    )
    missed = await stream.messages(3)
    await add(live, other, "other live")
    await add(live, sid, "live")
    fresh = await stream.messages(1)
    await stream.quiet()
    stream.close()

    check_messages(seen + missed + fresh, (await history(live, sid))[1:], key="seq")


async def test_session_stream_from_zero_replays_the_whole_history(live) -> None:
    sid = await create(live, title="t")
    for n in range(5):
        await add(live, sid, f"m{n}")
    stream = await open_stream(live, f"/api/sessions/{sid}/events/stream", **{"Last-Event-ID": "0"})
    messages = await stream.messages(6)
    await add(live, sid, "live")
    messages.append(await stream.message())
    check_messages(messages, await history(live, sid), key="seq")
    assert [m.id for m in messages] == list(range(1, 8))
    await stream.quiet()
    stream.close()


async def test_session_stream_resume_races_with_writes(live) -> None:
    """Writes landing while a resumed stream reads the history are neither lost nor doubled."""
    sid = await create(live)
    other = await create(live)
    for n in range(30):
        await add(live, sid, f"before {n}")
    stop = asyncio.Event()

    async def writer(session_id: str) -> int:
        written = 0
        while not stop.is_set():
            await add(live, session_id, f"during {written}")
            written += 1
        return written

    writers = [asyncio.create_task(writer(s)) for s in (sid, sid, other)]
    try:
        streams = []
        for after in range(1, 31, 3):  # resume from many points while the writes go on
            streams.append(
                await open_stream(
                    live, f"/api/sessions/{sid}/events/stream", **{"Last-Event-ID": str(after)}
                )
            )
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        written = await asyncio.gather(*writers)
    assert all(written), "every writer wrote while streams opened"
    events = await history(live, sid)
    for after, stream in zip(range(1, 31, 3), streams, strict=True):
        messages = await stream.messages(len(events) - after)
        check_messages(messages, events[after:], key="seq")
        await stream.quiet()
        stream.close()


# -- heartbeats, lag, many readers, shutdown ------------------------------------------------------


@pytest.mark.parametrize("path", ["feed", "session"])
async def test_idle_streams_send_heartbeats(live, path) -> None:
    sid = await create(live)
    url = FEED if path == "feed" else f"/api/sessions/{sid}/events/stream"
    stream = await open_stream(live, url)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(3):
        block = await stream.block(seconds=2.0)
        assert block is not None
        assert block == Block(comments=("heartbeat",))
    # Three 0.2 s heartbeats, not a burst and not the 15 s default.
    assert 0.4 <= loop.time() - started < 3.0
    stream.close()


async def test_a_subscriber_that_falls_too_far_behind_is_let_go_and_resumes(
    make_client,
) -> None:
    # The stalled write must outlast the 400 posts however slow the machine (the write timeout
    # would drop the reader without a word): this is the lag policy's test.
    client = await make_client(sse_heartbeat=0.2, sse_max_lag=50, sse_write_timeout=600)
    sid = await create(client)
    stream = await open_stream(client, FEED)
    await add(client, sid, "first")
    first = await stream.message()  # caught up once

    # Without reading: enough bytes to fill every buffer between server and reader, so the
    # server's writes to this stream stall while the log runs far ahead.
    big = "x" * 60_000
    for n in range(400):
        await add(client, sid, f"{n} {big}")
    total = await last_position(client)
    assert total == first.id + 400

    received = [first]
    blocks = await stream.end(seconds=30)
    assert blocks, "the stream ended without telling why"
    *events, error = blocks
    assert error.event == "error", error
    assert error.id is None
    reason = orjson.loads(error.data or "null")
    assert set(reason) == {"reason", "resume_after"}
    assert reason["reason"] == "too_far_behind"
    received += [
        Message(int(b.id), b.event, orjson.loads(b.data))
        for b in events
        if b.data is not None and b.id is not None and b.event is not None
    ]
    assert reason["resume_after"] == received[-1].id
    assert received[-1].id < total - 50, "let go while more than sse_max_lag behind"

    # Resuming catches up with a backlog past sse_max_lag without being cut off again.
    stream = await open_stream(client, FEED, **{"Last-Event-ID": str(reason["resume_after"])})
    rest = await stream.messages(total - reason["resume_after"], seconds=30)
    await stream.quiet()
    stream.close()
    check_messages(received + rest, await feed(client, first.id - 1), key="position")


async def test_a_reader_that_stops_reading_is_let_go(make_client, caplog) -> None:
    client = await make_client(sse_heartbeat=30, sse_write_timeout=0.5)
    sid = await create(client)
    healthy = await open_stream(client, FEED, **{"Last-Event-ID": "0"})
    reading = asyncio.create_task(healthy.messages(7))
    sock = await raw_get(client, f"{FEED}?after=0")
    try:
        await until(lambda: server_side(client, sock))
        for n in range(6):  # every write is acknowledged while one reader reads nothing
            await add(client, sid, f"{n} {BIG}")
        # Its handler, stuck writing to it, gives up and drops the connection.
        await until(lambda: server_side(client, sock) is None)
        await asyncio.wait_for(read_to_the_end(sock), READ_TIMEOUT)
    finally:
        sock.close()

    # The reader that kept up got everything and is still served.
    check_messages(await reading, await feed(client), key="position")
    await add(client, sid, "after")
    assert (await healthy.message()).id == 8
    healthy.close()
    assert (await (await client.get("/api/health")).json())["status"] == "ok"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_closing_the_app_ends_a_stream_stuck_writing(make_client, caplog) -> None:
    # The write timeout outlasts the test: only the shutdown can end the stuck write.
    client = await make_client(sse_heartbeat=30, sse_write_timeout=600)
    sid = await create(client)
    sock = await raw_get(client, f"{FEED}?after=0")
    try:
        handler = await until(lambda: server_side(client, sock))
        for n in range(6):
            await add(client, sid, f"{n} {BIG}")
        # Bytes wait in the server's own buffer: the kernel's are full, the write is stuck.
        await until(lambda: handler.transport.get_write_buffer_size() > 0)
        await asyncio.wait_for(client.server.close(), timeout=5)
        await asyncio.wait_for(read_to_the_end(sock), READ_TIMEOUT)
    finally:
        sock.close()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("last_event_id", [None, "1", "3"], ids=["live", "resumed", "up-to-date"])
async def test_a_session_reader_let_go_is_told_where_to_resume(make_client, last_event_id) -> None:
    client = await make_client(sse_heartbeat=0.2, sse_max_lag=10)
    sid = await create(client)
    other = await create(client)
    await add(client, sid, "two")
    await add(client, sid, "three")
    url = f"/api/sessions/{sid}/events/stream"
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    stream = await open_stream(client, url, **headers)
    replayed = await stream.messages(3 - int(last_event_id or 3))
    assert [m.id for m in replayed] == list(range(int(last_event_id or 3) + 1, 4))
    await stream.quiet()  # caught up, waiting for news

    # Another session's events in one batch, written to the log at once (straight to the store,
    # so no HTTP connection limit splits them): the reader wakes more than a page behind, with
    # nothing of its own to send.
    store = client.app[STORE]
    await asyncio.gather(
        *(store.add_message(other, role="user", content=f"{n}") for n in range(PAGE + 50))
    )
    errors = [b for b in await stream.end() if b.data is not None]
    assert [b.event for b in errors] == ["error"], errors
    reason = orjson.loads(errors[0].data or "null")
    assert reason == {"reason": "too_far_behind", "resume_after": 3}

    stream = await open_stream(client, url, **{"Last-Event-ID": str(reason["resume_after"])})
    await add(client, sid, "four")
    assert (await stream.message()).id == 4
    await stream.quiet()
    stream.close()


async def test_catching_up_is_never_cut_off(make_client) -> None:
    client = await make_client(sse_heartbeat=0.2, sse_max_lag=5)
    sid = await create(client)
    await asyncio.gather(*(add(client, sid, f"m{n}") for n in range(200)))
    stream = await open_stream(client, FEED, **{"Last-Event-ID": "0"})
    messages = await stream.messages(201)
    await stream.quiet()
    stream.close()
    check_messages(messages, await feed(client), key="position")


async def test_many_idle_subscribers_do_not_hold_up_writes(make_client) -> None:
    client = await make_client(sse_heartbeat=0.2)
    sessions = [await create(client) for _ in range(5)]
    start = await last_position(client)
    streams = [await open_stream(client, FEED) for _ in range(20)]
    # None of the twenty reads while 100 writes of 20 kB each (2 MB per stream) are acknowledged.
    content = "y" * 20_000
    writes = asyncio.gather(*(add(client, sessions[n % 5], f"{n} {content}") for n in range(100)))
    acknowledged = await asyncio.wait_for(writes, timeout=60)
    assert len(acknowledged) == 100
    events = await feed(client, start)
    assert len(events) == 100
    for stream in streams:
        check_messages(await stream.messages(100), events, key="position")
    for stream in streams:
        stream.close()


async def test_closing_the_app_ends_open_streams(make_client, data_dir) -> None:
    client = await make_client(sse_heartbeat=30)
    sid = await create(client)
    feed_stream = await open_stream(client, FEED)
    session_stream = await open_stream(client, f"/api/sessions/{sid}/events/stream")
    await add(client, sid, "before shutdown")
    assert (await feed_stream.message()).event == "message_added"
    assert (await session_stream.message()).event == "message_added"

    # The server stops: on_shutdown must end the streams, long before the 30 s heartbeat.
    await asyncio.wait_for(client.server.close(), timeout=5)
    assert await feed_stream.end(seconds=5) == []
    assert await session_stream.end(seconds=5) == []
    await asyncio.wait_for(client.close(), timeout=5)

    # Everything acknowledged is there after the shutdown, and the data dir is free again.
    client = await make_client(data_dir)
    assert [e["type"] for e in await history(client, sid)] == ["session_created", "message_added"]


async def test_closing_the_client_with_a_stream_open_does_not_hang(make_client, data_dir) -> None:
    client = await make_client()  # the 15 s default heartbeat: shutdown must not wait for it
    sid = await create(client)
    await open_stream(client, FEED)
    await open_stream(client, f"/api/sessions/{sid}/events/stream")
    await asyncio.wait_for(client.close(), timeout=5)
    client = await make_client(data_dir)
    assert len(await history(client, sid)) == 1


async def test_a_disconnected_subscriber_does_not_disturb_the_service(live) -> None:
    sid = await create(live)
    stream = await open_stream(live, FEED)
    stream.close()
    for n in range(20):
        await add(live, sid, f"m{n}")
    await asyncio.sleep(0.5)  # heartbeats to the gone reader fail quietly
    health = await live.get("/api/health")
    assert (await health.json())["status"] == "ok"
    assert len(await history(live, sid)) == 21


class UncancelledServer(EdgeTestServer):
    """Serves as `web.run_app` does: a client that goes away does not cancel its handler."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return await super()._make_runner(**{**kwargs, "handler_cancellation": False})


@pytest.mark.parametrize("path", ["feed", "session"])
async def test_a_reader_gone_before_the_stream_opens_ends_it_quietly(
    aiohttp_client, data_dir: Path, caplog, path
) -> None:
    app = create_app(Config(data_dir=data_dir))
    arrived, left = asyncio.Event(), asyncio.Event()
    outcomes: list[int] = []

    async def hold_the_stream_until_its_reader_left(
        request: web.Request, response: web.StreamResponse
    ) -> None:
        if request.path.endswith("/stream") and not arrived.is_set():
            arrived.set()
            await until(lambda: request.transport is None or request.transport.is_closing())
            left.set()

    @web.middleware
    async def record_outcome(request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        if request.path.endswith("/stream"):
            outcomes.append(response.status)
        return response

    app.on_response_prepare.append(hold_the_stream_until_its_reader_left)
    app.middlewares.insert(0, record_outcome)  # outermost: it sees what the error table made
    client = await aiohttp_client(UncancelledServer(app))
    sid = await create(client)
    url = FEED if path == "feed" else f"/api/sessions/{sid}/events/stream"

    sock = await raw_get(client, url)
    try:
        await asyncio.wait_for(arrived.wait(), READ_TIMEOUT)
    finally:
        reset(sock)
    await asyncio.wait_for(left.wait(), READ_TIMEOUT)
    await until(lambda: outcomes)
    assert outcomes == [200], "the handler ended as a stream, not as an error answer"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert (await (await client.get("/api/health")).json())["status"] == "ok"


# -- errors before a stream opens -----------------------------------------------------------------


@pytest.mark.parametrize("session_id", [str(uuid.uuid4()), "nope", "0" * 32])
async def test_stream_of_an_unknown_session_is_404(live, session_id) -> None:
    response = await live.get(f"/api/sessions/{session_id}/events/stream")
    assert response.content_type == JSON
    await expect_error(live, response, 404)


@pytest.mark.parametrize(
    "last_event_id",
    ["abc", "-1", "1.5", "1e3", "0x10", "٣", "9" * 5000],
    ids=["abc", "negative", "fraction", "exponent", "hex", "arabic-indic", "5000-digits"],
)
@pytest.mark.parametrize("path", ["feed", "session"])
async def test_bad_last_event_id_is_422(live, path, last_event_id) -> None:
    sid = await create(live)
    url = FEED if path == "feed" else f"/api/sessions/{sid}/events/stream"
    response = await live.get(url, headers={"Last-Event-ID": last_event_id})
    assert response.content_type == JSON
    await expect_error(live, response, 422, field="Last-Event-ID")
    response = await live.get(url, params={"after": last_event_id})
    await expect_error(live, response, 422, field="after")
