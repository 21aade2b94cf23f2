"""Server-Sent Events: the global feed and one session's events, live and resumable."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from aiohttp import web

from orion_events.domain.errors import InvalidInput
from orion_events.domain.events import Recorded
from service.access import visible_events
from service.app_keys import CONFIG, SHUTTING_DOWN, STORE
from service.payloads import MAX_COUNT, event_json, int_param, is_count, session_id_of

PAGE = 500
MAX_POSITION = MAX_COUNT


def _resume_point(request: web.Request) -> int | None:
    """Where a client resumes: after its `Last-Event-ID` header (what a reconnecting browser
    sends), else after `?after=`; None for 'from now on'. A malformed one is 422 naming the one
    that was sent; a malformed `?after=` is refused beside a header too."""
    after = int_param(request, "after", default=None, low=0, high=MAX_POSITION)
    header = request.headers.get("Last-Event-ID")
    if header is None or header == "":
        return after
    if not is_count(header):
        raise InvalidInput("Last-Event-ID must be a non-negative integer", field="Last-Event-ID")
    return int(header)


class _Stalled(Exception):
    """A write waited too long for its reader, or was cut short because the server is stopping."""


class _Stream:
    """One open event stream whose every write is bounded in time, so a reader that stops
    reading (its TCP window full) is let go instead of holding its handler, and the server's
    shutdown, in `write` for ever."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self.request = request
        self._response = response
        self._seconds = request.app[CONFIG].sse_write_timeout
        self._shutting_down = request.app[SHUTTING_DOWN]
        self._writing: asyncio.Timeout | None = None
        # The shutdown flag is only looked at between writes; this cuts short one under way.
        self._stopping = asyncio.ensure_future(self._shutting_down.wait())
        self._stopping.add_done_callback(self._cut_short)

    async def send(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        seconds = 0.0 if self._shutting_down.is_set() else self._seconds
        try:
            # A timeout only fires where the write suspends: one that the buffers take at once
            # goes through even while the server stops.
            async with asyncio.timeout_at(loop.time() + seconds) as self._writing:
                await self._response.write(data)
        except TimeoutError:
            raise _Stalled from None
        finally:
            self._writing = None

    def _cut_short(self, _: object) -> None:
        if self._writing is not None and not self._writing.expired():
            self._writing.reschedule(asyncio.get_running_loop().time())

    def let_go(self) -> None:
        """Drop the connection: the stalled reader could not take even a closing chunk."""
        transport = self.request.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # A reset frees the kernel's buffers now; a plain close would keep trying to
            # deliver them to a reader that takes nothing (nginx: reset_timedout_connection).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def close(self) -> None:
        self._stopping.cancel()


async def _serve(
    request: web.Request, body: Callable[[_Stream], Coroutine[Any, Any, None]]
) -> web.StreamResponse:
    """Open an event stream and run `body` on it until it ends, its reader leaves or stalls."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # so a proxy such as nginx passes events on at once
        }
    )
    stream = _Stream(request, response)
    try:
        # A reader may be gone before the first byte: that ends the stream like any other
        # write to it, never as an error answer on a response already started.
        await response.prepare(request)
        await stream.send(b"retry: 2000\n\n")
        await body(stream)
    except ConnectionResetError:
        pass  # the reader left
    except _Stalled:
        stream.let_go()
    finally:
        stream.close()
    return response


def _message(event_id: int, recorded: Recorded) -> bytes:
    data = orjson.dumps(event_json(recorded))
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, recorded.type.encode(), data)


async def _tail(
    stream: _Stream,
    after: int,
    *,
    last_sent: int,
    keep: Callable[[Recorded], bool],
    event_id: Callable[[Recorded], int],
) -> None:
    """Send every event after global position `after` that `keep` accepts, then live ones.

    Readers pull from the feed at their own pace, so a slow one never holds up writers; one that
    falls more than `sse_max_lag` events behind after catching up is told so and let go, to
    resume after `last_sent` (the id it resumed after while nothing has been sent since).
    """
    app = stream.request.app
    store, config, shutting_down = app[STORE], app[CONFIG], app[SHUTTING_DOWN]
    caught_up = False
    while not shutting_down.is_set():
        events = await store.feed(after, PAGE)
        if events:
            for recorded in events:
                if keep(recorded):
                    await stream.send(_message(event_id(recorded), recorded))
                    last_sent = event_id(recorded)
            after = events[-1].position
            if caught_up and store.last_position - after > config.sse_max_lag:
                reason = {"reason": "too_far_behind", "resume_after": last_sent}
                await stream.send(b"event: error\ndata: %s\n\n" % orjson.dumps(reason))
                return
            continue
        caught_up = True
        if not await _wait(store.wait_beyond(after), shutting_down, config.sse_heartbeat):
            await stream.send(b": heartbeat\n\n")


async def _wait(
    news: Coroutine[Any, Any, None], shutting_down: asyncio.Event, seconds: float
) -> bool:
    """Wait for news or shutdown; False when `seconds` passed with neither."""
    waiters = {asyncio.ensure_future(news), asyncio.ensure_future(shutting_down.wait())}
    done, pending = await asyncio.wait(
        waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    return bool(done)


async def _resumed(stream: _Stream, after: int, last: int) -> int:
    """Where a stream whose last event is `last` resumes for a client that asked for the events
    after `after`: there, or, when `after` is beyond `last`, after `last`, which the client is
    told in one `reset` message. Its ids were never given out by this stream (a restored backup,
    another server); its EventSource takes the message's `id:` as the one to send when it
    reconnects."""
    if after <= last:
        return after
    data = orjson.dumps({"reason": "ahead_of_stream", "resume_after": last})
    await stream.send(b"id: %d\nevent: reset\ndata: %s\n\n" % (last, data))
    return last


async def stream_feed(request: web.Request) -> web.StreamResponse:
    """GET /api/events/stream: every event of every log; ids are global positions."""
    store = request.app[STORE]
    after = _resume_point(request)
    last = store.last_position

    visible = visible_events(request) or (lambda r: True)

    async def body(stream: _Stream) -> None:
        start = last if after is None else await _resumed(stream, after, last)
        await _tail(stream, start, last_sent=start, keep=visible, event_id=lambda r: r.position)

    return await _serve(request, body)


async def stream_session(request: web.Request) -> web.StreamResponse:
    """GET /api/sessions/{id}/events/stream: one session's events; ids are its seqs.

    The missed events come from the session's own history, a page at a time, so a reader
    resuming far back costs what it reads; then live ones from the global feed, from where it
    stood when the stream opened (not from the session's last event, which may lie far back in
    the feed). Events the history read already sent are not sent again.
    """
    store = request.app[STORE]
    session_id = session_id_of(request)
    after = _resume_point(request)
    # Together, with no await between: every event of the feed up to `position` is in the
    # session's history from now on, whatever the history read below finds beyond it.
    position = store.last_position
    last = store.known_version(session_id)  # 404 before the stream opens

    async def body(stream: _Stream) -> None:
        # Without a resume point, live from now: the reader has seen the session as it is.
        sent = last if after is None else await _resumed(stream, after, last)
        while True:
            page = await store.history(session_id, sent, PAGE)
            for recorded in page:
                await stream.send(_message(recorded.seq, recorded))
                sent = recorded.seq
            if len(page) < PAGE:
                break
        caught_up = sent
        await _tail(
            stream,
            position,
            last_sent=sent,
            keep=lambda r: r.stream == session_id and r.seq > caught_up,
            event_id=lambda r: r.seq,
        )

    return await _serve(request, body)
