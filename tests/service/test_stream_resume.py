"""Resuming a live stream from a point it has not reached (SPEC §12), and naming a bad one.

A `Last-Event-ID` (or `?after=`) beyond the stream's last event is answered alike on both streams:
one `event: reset` whose `id:` is the stream's last event id and whose data says so, then the
stream goes on live from there. A malformed one is 422 naming what the client sent.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.expect import JSON, expect_error
from tests.service.test_live_api import (
    FEED,
    add,
    check_messages,
    create,
    feed,
    history,
    last_position,
    open_stream,
)

HOW = ["header", "query"]
PATHS = ["feed", "session"]


@pytest.fixture
async def live_client(make_client: Any) -> Any:
    """A client whose idle streams send a heartbeat every 0.2 s, so `quiet()` is quick."""
    return await make_client(sse_heartbeat=0.2)


async def stream_with_history(client: Any, path: str) -> tuple[str, str, int]:
    """A session with three events; the stream's url and its last event id (position or seq)."""
    await create(client, title="elsewhere")  # so the feed's positions and a session's seqs differ
    sid = await create(client, title="watched")
    await add(client, sid, "one")
    await add(client, sid, "two")
    if path == "feed":
        return sid, FEED, await last_position(client)
    return sid, f"/api/sessions/{sid}/events/stream", len(await history(client, sid))


async def open_after(client: Any, url: str, after: int | str, how: str) -> Any:
    if how == "header":
        return await open_stream(client, url, **{"Last-Event-ID": str(after)})
    return await open_stream(client, f"{url}?after={after}")


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("ahead_by", [1, 1000, 10**17])
@pytest.mark.parametrize("path", PATHS)
async def test_resuming_beyond_the_end_is_reset_to_the_end_then_live(
    live_client, path, ahead_by, how
) -> None:
    sid, url, last = await stream_with_history(live_client, path)
    stream = await open_after(live_client, url, last + ahead_by, how)

    reset = await stream.message()
    assert (reset.event, reset.id) == ("reset", last)
    assert reset.data == {"reason": "ahead_of_stream", "resume_after": last}
    # Nothing the client claimed to have is sent again, and the next event comes live after it.
    await stream.quiet()
    added = await add(live_client, sid, "three")
    fresh = await stream.message()
    await stream.quiet()
    stream.close()
    events = (
        await feed(live_client, last)
        if path == "feed"
        else (await history(live_client, sid))[last:]
    )
    check_messages([fresh], events, key="position" if path == "feed" else "seq")
    assert fresh.data["data"]["message_id"] == added["id"]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("path", PATHS)
async def test_resuming_at_the_end_is_no_reset(live_client, path, how) -> None:
    sid, url, last = await stream_with_history(live_client, path)
    stream = await open_after(live_client, url, last, how)
    await stream.quiet()
    await add(live_client, sid, "three")
    fresh = await stream.message()
    assert (fresh.event, fresh.id) == ("message_added", last + 1)
    stream.close()


@pytest.mark.parametrize("path", PATHS)
async def test_an_empty_stream_resets_to_zero(make_client, path) -> None:
    client = await make_client(sse_heartbeat=0.2)
    # A session's stream is never empty: its creation is seq 1.
    sid = await create(client) if path == "session" else None
    url = FEED if sid is None else f"/api/sessions/{sid}/events/stream"
    last = 0 if sid is None else 1
    stream = await open_stream(client, url, **{"Last-Event-ID": "5"})
    reset = await stream.message()
    assert (reset.event, reset.id, reset.data["resume_after"]) == ("reset", last, last)
    await stream.quiet()
    stream.close()


@pytest.mark.parametrize("path", PATHS)
async def test_a_malformed_resume_point_names_what_was_sent(live_client, path) -> None:
    sid = await create(live_client)
    url = FEED if path == "feed" else f"/api/sessions/{sid}/events/stream"
    for headers, query, field in [
        ({}, "?after=abc", "after"),
        ({}, "?after=-1", "after"),
        ({"Last-Event-ID": "abc"}, "", "Last-Event-ID"),
        ({"Last-Event-ID": "abc"}, "?after=1", "Last-Event-ID"),  # the header wins, as resumes
        # ... but a bad ?after= beside it is refused all the same: no bad input goes unread.
        ({"Last-Event-ID": "1"}, "?after=abc", "after"),
    ]:
        response = await live_client.get(url + query, headers=headers)
        assert response.content_type == JSON
        error = await expect_error(live_client, response, 422, field=field)
        assert field in error["message"]
