"""Server-Sent Events: the global feed and one session's events, live and resumable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from aiohttp import web

from orion_events.errors import InvalidInput
from orion_events.events import Recorded
from service.keys import CONFIG, SHUTTING_DOWN, STORE
from service.payloads import event_json, is_count, session_id_of

PAGE = 500


def _last_event_id(request: web.Request) -> int | None:
    """Where a client resumes: its `Last-Event-ID` header, else `?after=`; None for 'now'."""
    raw = request.headers.get("Last-Event-ID", request.query.get("after"))
    if raw is None or raw == "":
        return None
    if not is_count(raw):
        raise InvalidInput("Last-Event-ID must be a non-negative integer", field="Last-Event-ID")
    return int(raw)


async def _open(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # so a proxy such as nginx passes events on at once
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 2000\n\n")
    return response


def _message(event_id: int, recorded: Recorded) -> bytes:
    data = orjson.dumps(event_json(recorded))
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, recorded.type.encode(), data)


async def _tail(
    request: web.Request,
    response: web.StreamResponse,
    after: int,
    *,
    keep: Callable[[Recorded], bool],
    event_id: Callable[[Recorded], int],
) -> None:
    """Send every event after global position `after` that `keep` accepts, then live ones.

    Readers pull from the feed at their own pace, so a slow one never holds up writers; one that
    falls more than `sse_max_lag` events behind after catching up is told so and let go, to
    resume with its last id.
    """
    store, config = request.app[STORE], request.app[CONFIG]
    shutting_down = request.app[SHUTTING_DOWN]
    caught_up = False
    last_sent: int | None = None
    while not shutting_down.is_set():
        events = await store.feed(after, PAGE)
        if events:
            for recorded in events:
                if keep(recorded):
                    await response.write(_message(event_id(recorded), recorded))
                    last_sent = event_id(recorded)
            after = events[-1].position
            if caught_up and store.last_position - after > config.sse_max_lag:
                reason = {"reason": "too_far_behind", "resume_after": last_sent}
                await response.write(b"event: error\ndata: %s\n\n" % orjson.dumps(reason))
                return
            continue
        caught_up = True
        if not await _wait(store.wait_beyond(after), shutting_down, config.sse_heartbeat):
            await response.write(b": heartbeat\n\n")


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


async def stream_feed(request: web.Request) -> web.StreamResponse:
    """GET /api/events/stream: every event of every log; ids are global positions."""
    store = request.app[STORE]
    after = _last_event_id(request)
    response = await _open(request)
    with contextlib.suppress(ConnectionResetError):
        await _tail(
            request,
            response,
            store.last_position if after is None else after,
            keep=lambda r: True,
            event_id=lambda r: r.position,
        )
    return response


async def stream_session(request: web.Request) -> web.StreamResponse:
    """GET /api/sessions/{id}/events/stream: one session's events; ids are its seqs."""
    store = request.app[STORE]
    session_id = session_id_of(request)
    after_seq = _last_event_id(request)
    history = await store.history(session_id, 0, 1 << 62)  # 404 before the stream opens
    response = await _open(request)
    with contextlib.suppress(ConnectionResetError):
        position = store.last_position
        if after_seq is not None:
            for recorded in history[after_seq:]:
                await response.write(_message(recorded.seq, recorded))
            # Live events come after the last one in the history already read.
            position = history[-1].position if history else 0
        await _tail(
            request,
            response,
            position,
            keep=lambda r: r.stream == session_id,
            event_id=lambda r: r.seq,
        )
    return response
