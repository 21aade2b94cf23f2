"""The audit routes over HTTP: a session's history, time travel, and the global feed.

History and feed pages are followed through their `Link` headers exactly as a client would; time
travel is checked against the answers the server itself gave while the session was at each version.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from yarl import URL

from orion_events.storage.files.log import FileLog
from orion_events.store.store import Store
from tests.service.expect import (
    JSON,
    SESSION_KEYS,
    check_id,
    etag_version,
    event_types,
    expect_error,
    log_file,
    when,
)

EVENT_KEYS = {"position", "stream", "seq", "id", "type", "at", "data"}
LINK_NEXT = re.compile(r'<([^>]+)>; rel="next"')
# Between writes whose `at` values a test separates, so no two fall in the same microsecond.
TICK = 0.003


def short_id(value: Any) -> str | None:
    """Readable test ids: a query's params as `name=value`, a long value by its length."""
    if isinstance(value, dict):
        return ",".join(f"{k}={short_id(v)}" for k, v in value.items())
    if isinstance(value, str):
        return value if len(value) <= 40 else f"<{len(value)} chars>"
    return None


# -- helpers ----------------------------------------------------------------------------------


def check_event(body: Any) -> dict[str, Any]:
    """One event as history and feed show it."""
    assert isinstance(body, dict)
    assert set(body) in (EVENT_KEYS, EVENT_KEYS | {"meta"}), body
    assert type(body["position"]) is int
    assert body["position"] >= 1
    assert type(body["seq"]) is int
    assert body["seq"] >= 1
    assert isinstance(body["stream"], str)
    check_id(body["id"])
    assert isinstance(body["type"], str)
    assert re.fullmatch(r"[a-z]+(_[a-z]+)+", body["type"]), body["type"]
    when(body["at"])
    assert isinstance(body["data"], dict)
    return body


async def create(client: Any, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/sessions", json=body)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert set(created) == SESSION_KEYS
    return created


async def add(client: Any, session_id: str, content: str, role: str = "user") -> dict[str, Any]:
    response = await client.post(
        f"/api/sessions/{session_id}/messages", json={"role": role, "content": content}
    )
    assert response.status == 201, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def current(client: Any, session_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/sessions/{session_id}")
    assert response.status == 200, await response.text()
    return await response.json()  # type: ignore[no-any-return]


def next_link(response: Any) -> str | None:
    header = response.headers.get("Link")
    if header is None:
        return None
    match = LINK_NEXT.fullmatch(header)
    assert match, header
    target = URL(match.group(1))
    assert not target.absolute, "the link is a path on this server"
    return str(target)


async def page(client: Any, url: str, **params: Any) -> tuple[Any, list[dict[str, Any]]]:
    response = await client.get(url, params=params)
    assert response.status == 200, await response.text()
    assert response.content_type == JSON
    body = await response.json()
    assert isinstance(body, list)
    return response, [check_event(e) for e in body]


async def follow(client: Any, url: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every event from `url` on, following `Link: rel="next"`; the events and the page count."""
    events: list[dict[str, Any]] = []
    pages = 0
    response, body = await page(client, url, **params)
    while True:
        pages += 1
        events.extend(body)
        link = next_link(response)
        if link is None:
            return events, pages
        assert body, "a page with a next link is never empty"
        response, body = await page(client, link)


async def history(client: Any, session_id: str) -> list[dict[str, Any]]:
    events, _ = await follow(client, f"/api/sessions/{session_id}/events", limit=1000)
    return events


async def feed(client: Any) -> list[dict[str, Any]]:
    events, _ = await follow(client, "/api/events", limit=1000)
    return events


def instant(at: str) -> datetime:
    return datetime.fromisoformat(at)


def rfc3339(moment: datetime) -> str:
    """`moment` in the server's own UTC format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def get_at(client: Any, session_id: str, **params: Any) -> Any:
    return await client.get(f"/api/sessions/{session_id}", params=params)


# -- a session's history ------------------------------------------------------------------------


async def test_history_lists_every_event_in_seq_order(client, data_dir) -> None:
    session = await create(client, title="Audit me", metadata={"team": "a"})
    sid = session["id"]
    first = await add(client, sid, "Hello there")
    second = await add(client, sid, "General Kenobi", role="assistant")
    renamed = await client.put(f"/api/sessions/{sid}", json={"title": "Renamed"})
    assert renamed.status == 200
    cleared = await client.delete(f"/api/sessions/{sid}/messages")
    assert cleared.status == 200

    response, events = await page(client, f"/api/sessions/{sid}/events")
    assert next_link(response) is None
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert [e["type"] for e in events] == [
        "session_created",
        "message_added",
        "message_added",
        "session_renamed",
        "messages_cleared",
    ]
    assert [e["type"] for e in events] == event_types(log_file(data_dir, sid).read_bytes())
    assert {e["stream"] for e in events} == {sid}
    assert len({e["id"] for e in events}) == 5
    positions = [e["position"] for e in events]
    assert positions == sorted(set(positions))
    ats = [when(e["at"]) for e in events]
    assert ats == sorted(ats)
    assert events[0]["at"] == session["created_at"]
    assert events[0]["data"] == {"title": "Audit me", "metadata": {"team": "a"}}
    assert events[1]["data"] == {
        "message_id": first["id"],
        "role": "user",
        "content": "Hello there",
        "agent": None,
        "model": None,
        "parent_id": None,  # a first message
    }
    assert events[1]["at"] == first["timestamp"]
    assert events[2]["data"]["message_id"] == second["id"]
    assert events[2]["data"]["parent_id"] == first["id"]
    assert events[2]["data"]["content"] == "General Kenobi"
    assert events[3]["data"] == {"title": "Renamed"}
    assert events[4]["data"] == {}
    assert events[-1]["seq"] == (await current(client, sid))["version"]


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7, 8])
async def test_history_pages_follow_link_to_the_end(client, limit) -> None:
    sid = (await create(client))["id"]
    for n in range(7):
        await add(client, sid, f"message {n}")
    events, pages = await follow(client, f"/api/sessions/{sid}/events", limit=limit)
    assert [e["seq"] for e in events] == list(range(1, 9)), "no duplicates, no gaps"
    assert pages == -(-8 // limit), "no empty trailing page"
    assert events == await history(client, sid)


async def test_history_link_names_the_next_page(client) -> None:
    sid = (await create(client))["id"]
    for n in range(4):
        await add(client, sid, f"m{n}")
    response, events = await page(client, f"/api/sessions/{sid}/events", limit=2)
    assert [e["seq"] for e in events] == [1, 2]
    link = URL(next_link(response) or "")
    assert link.path == f"/api/sessions/{sid}/events"
    assert dict(link.query) == {"after": "2", "limit": "2"}
    response, events = await page(client, f"/api/sessions/{sid}/events", after=2, limit=2)
    assert [e["seq"] for e in events] == [3, 4]
    response, events = await page(client, str(next_link(response)))
    assert [e["seq"] for e in events] == [5]
    assert next_link(response) is None


async def test_history_after_starts_past_that_seq(client) -> None:
    sid = (await create(client))["id"]
    for n in range(5):
        await add(client, sid, f"m{n}")
    everything = await history(client, sid)
    for after in range(7):
        _, events = await page(client, f"/api/sessions/{sid}/events", after=after)
        assert events == everything[after:]
    response, events = await page(client, f"/api/sessions/{sid}/events", after=10**6)
    assert events == []
    assert next_link(response) is None


async def test_history_default_page_is_100(client) -> None:
    sid = (await create(client))["id"]
    await asyncio.gather(*(add(client, sid, f"m{n}") for n in range(120)))
    response, events = await page(client, f"/api/sessions/{sid}/events")
    assert [e["seq"] for e in events] == list(range(1, 101))
    assert next_link(response) is not None
    rest, _ = await follow(client, str(next_link(response)))
    assert [e["seq"] for e in rest] == list(range(101, 122))


async def test_history_of_a_deleted_session_still_answers(client) -> None:
    sid = (await create(client, title="Doomed"))["id"]
    await add(client, sid, "last words")
    deleted = await client.delete(f"/api/sessions/{sid}")
    assert deleted.status == 204
    await expect_error(client, await client.get(f"/api/sessions/{sid}"), 404)

    events = await history(client, sid)
    assert [e["type"] for e in events] == ["session_created", "message_added", "session_deleted"]
    assert events[-1]["seq"] == 3
    assert events[-1]["data"] == {}
    assert events[1]["data"]["content"] == "last words"


@pytest.mark.parametrize(
    "session_id",
    [str(uuid.uuid4()), "not-a-uuid", "..%2F..%2Fsettings", "A" * 36],
)
async def test_history_of_an_unknown_session_is_404(client, data_dir, session_id) -> None:
    await create(client)
    before = sorted(p.name for p in (data_dir / "sessions").iterdir())
    response = await client.get(f"/api/sessions/{session_id}/events")
    await expect_error(client, response, 404)
    assert sorted(p.name for p in (data_dir / "sessions").iterdir()) == before


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "-1"}, "after"),
        ({"after": "x"}, "after"),
        ({"after": "1.5"}, "after"),
        ({"after": ""}, "after"),
        ({"after": "٣"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"after": "9" * 5000}, "after"),  # past Python's int() digit limit: never a 500
        ({"limit": "9" * 5000}, "limit"),
    ],
    ids=short_id,
)
async def test_history_bad_after_or_limit_is_422(client, params, field) -> None:
    sid = (await create(client))["id"]
    response = await client.get(f"/api/sessions/{sid}/events", params=params)
    await expect_error(client, response, 422, field=field)


async def test_history_accepts_the_largest_limit(client) -> None:
    sid = (await create(client))["id"]
    response, events = await page(client, f"/api/sessions/{sid}/events", limit=1000)
    assert [e["seq"] for e in events] == [1]
    assert next_link(response) is None


# -- time travel ----------------------------------------------------------------------------------


async def build_recorded_history(client: Any) -> tuple[str, dict[int, dict[str, Any]]]:
    """A session taken through every kind of change; what the server answered at each version."""
    answers: dict[int, dict[str, Any]] = {}

    def keep(body: dict[str, Any], response: Any) -> None:
        assert etag_version(response) == body["version"]
        assert body["version"] not in answers
        answers[body["version"]] = body

    async def snapshot() -> None:
        response = await client.get(f"/api/sessions/{sid}")
        assert response.status == 200
        keep(await response.json(), response)

    response = await client.post("/api/sessions", json={"metadata": {"k": "v1"}})
    assert response.status == 201
    created = await response.json()
    sid = created["id"]
    keep(created, response)
    await asyncio.sleep(TICK)
    first = await add(client, sid, "What is event sourcing?")  # auto-titles the session
    await snapshot()
    await asyncio.sleep(TICK)
    second = await add(client, sid, "Storing facts, not state.", role="assistant")
    await snapshot()
    await asyncio.sleep(TICK)
    response = await client.put(f"/api/sessions/{sid}", json={"title": "ES"})
    assert response.status == 200
    keep(await response.json(), response)
    await asyncio.sleep(TICK)
    # Two events (rename, then metadata): version 5 is a state no response showed.
    response = await client.put(
        f"/api/sessions/{sid}", json={"title": "Event sourcing", "metadata": {"k": "v2"}}
    )
    assert response.status == 200
    keep(await response.json(), response)
    await asyncio.sleep(TICK)
    response = await client.patch(
        f"/api/sessions/{sid}/messages/{first['id']}", json={"content": "What is ES, really?"}
    )
    assert response.status == 200
    await snapshot()
    await asyncio.sleep(TICK)
    response = await client.delete(f"/api/sessions/{sid}/messages/{second['id']}")
    assert response.status == 204
    await snapshot()
    await asyncio.sleep(TICK)
    response = await client.delete(f"/api/sessions/{sid}/messages")
    assert response.status == 200
    keep(await response.json(), response)
    await asyncio.sleep(TICK)
    await add(client, sid, "Starting over")
    await snapshot()
    return sid, answers


async def test_version_n_is_the_answer_given_at_version_n(client) -> None:
    sid, answers = await build_recorded_history(client)
    assert sorted(answers) == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    for version, answer in answers.items():
        response = await get_at(client, sid, version=version)
        assert response.status == 200, await response.text()
        assert etag_version(response) == version
        assert await response.json() == answer, f"version {version}"
    # The state between the two events of one PUT.
    response = await get_at(client, sid, version=5)
    assert response.status == 200
    middle = await response.json()
    assert middle["version"] == 5
    assert middle["title"] == "Event sourcing"
    assert middle["metadata"] == {"k": "v1"}
    assert middle["messages"] == answers[4]["messages"]
    # The message text before its edit, and the deleted and cleared messages, are all still there.
    assert [m["content"] for m in answers[3]["messages"]] == [
        "What is event sourcing?",
        "Storing facts, not state.",
    ]
    assert answers[2]["title"] == "What is event sourcing?"
    assert answers[1]["title"] == "New Chat"


async def test_time_travel_past_the_first_page_is_the_answer_given_then(client) -> None:
    """A read of the past longer than its first page (on the file log, in the read process; on
    PostgreSQL, on the read thread) gives what the server answered at that version."""
    sid = (await client.post("/api/sessions", json={"title": "long"})).headers["Location"]
    sid = sid.rsplit("/", 1)[1]
    answers = {}
    for n in range(40):
        await add(client, sid, f"message {n}")
        answer = await current(client, sid)
        answers[answer["version"]] = answer
    for version in (17, 30, 41):
        response = await get_at(client, sid, version=version)
        assert response.status == 200, await response.text()
        assert etag_version(response) == version
        assert await response.json() == answers[version]
    events = await history(client, sid)
    response = await get_at(client, sid, as_of=events[29]["at"])
    assert (await response.json())["version"] == 30
    await client.delete(f"/api/sessions/{sid}")
    response = await get_at(client, sid, version=42)  # deleted then: as if it never existed
    await expect_error(client, response, 404)
    assert (await get_at(client, sid, version=41)).status == 200


async def test_as_of_gives_the_state_at_that_instant(client) -> None:
    sid, answers = await build_recorded_history(client)
    events = await history(client, sid)
    assert len(events) == 10
    by_version = {v: answers.get(v) for v in range(1, 11)}
    by_version[5] = await (await get_at(client, sid, version=5)).json()
    checked = 0
    for before, after in itertools.pairwise(events):
        start, end = instant(before["at"]), instant(after["at"])
        if start == end:  # the two events of one request may share an instant
            continue
        middle = start + (end - start) / 2
        assert start < middle < end
        response = await get_at(client, sid, as_of=rfc3339(middle))
        assert response.status == 200, await response.text()
        assert await response.json() == by_version[before["seq"]]
        assert etag_version(response) == before["seq"]
        # The same instant written with another offset is the same instant.
        east = middle.astimezone(timezone(timedelta(hours=2))).isoformat()
        assert east.endswith("+02:00")
        response = await get_at(client, sid, as_of=east)
        assert response.status == 200, await response.text()
        assert await response.json() == by_version[before["seq"]]
        checked += 1
    assert checked >= 8, "the requests were TICK apart, so their events have distinct instants"

    # An event's own instant includes it.
    response = await get_at(client, sid, as_of=events[2]["at"])
    assert (await response.json())["version"] == 3
    # After the last event: the session now.
    later = rfc3339(instant(events[-1]["at"]) + timedelta(days=1))
    response = await get_at(client, sid, as_of=later)
    assert await response.json() == await current(client, sid)


async def test_as_of_with_an_offset_in_the_raw_query(client) -> None:
    sid = (await create(client, title="T"))["id"]
    await asyncio.sleep(TICK)
    await add(client, sid, "one")
    events = await history(client, sid)
    start, end = instant(events[0]["at"]), instant(events[1]["at"])
    middle = (start + (end - start) / 2).astimezone(timezone(timedelta(hours=2)))
    raw = middle.isoformat().replace("+", "%2B")
    response = await client.get(URL(f"/api/sessions/{sid}?as_of={raw}", encoded=True))
    assert response.status == 200, await response.text()
    assert (await response.json())["version"] == 1


async def test_as_of_before_the_session_existed_is_404(client) -> None:
    session = await create(client)
    earlier = rfc3339(instant(session["created_at"]) - timedelta(microseconds=1))
    await expect_error(client, await get_at(client, session["id"], as_of=earlier), 404)
    response = await get_at(client, session["id"], as_of=session["created_at"])
    assert response.status == 200
    assert await response.json() == session


@pytest.mark.parametrize("early", ["0999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
async def test_as_of_in_an_early_year_is_before_every_session(client, early) -> None:
    session = await create(client)
    await expect_error(client, await get_at(client, session["id"], as_of=early), 404)


async def test_a_deleted_session_is_readable_only_before_its_deletion(client) -> None:
    response = await client.post("/api/sessions", json={"title": "Gone"})
    v1 = await response.json()
    sid = v1["id"]
    await asyncio.sleep(TICK)
    await add(client, sid, "still here")
    v2 = await current(client, sid)
    await asyncio.sleep(TICK)
    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    await expect_error(client, await client.get(f"/api/sessions/{sid}"), 404)

    for version, answer in [(1, v1), (2, v2)]:
        response = await get_at(client, sid, version=version)
        assert response.status == 200
        assert await response.json() == answer
    await expect_error(client, await get_at(client, sid, version=3), 404)  # the deletion
    await expect_error(client, await get_at(client, sid, version=4), 404)  # beyond it
    events = await history(client, sid)
    deleted_at = instant(events[2]["at"])
    just_before = rfc3339(deleted_at - (deleted_at - instant(events[1]["at"])) / 2)
    response = await get_at(client, sid, as_of=just_before)
    assert response.status == 200
    assert await response.json() == v2
    await expect_error(client, await get_at(client, sid, as_of=events[2]["at"]), 404)

    # Once restored, the deletion itself stays unreadable but the restored versions are not.
    await asyncio.sleep(TICK)
    restored = await client.post(f"/api/sessions/{sid}/restore")
    assert restored.status == 200
    v4 = await restored.json()
    await expect_error(client, await get_at(client, sid, version=3), 404)
    response = await get_at(client, sid, version=4)
    assert response.status == 200
    assert await response.json() == v4
    response = await get_at(client, sid, version=2)
    assert await response.json() == v2
    await expect_error(client, await get_at(client, sid, as_of=events[2]["at"]), 404)


async def test_version_beyond_the_current_one_is_404(client) -> None:
    sid = (await create(client))["id"]
    await add(client, sid, "x")
    response = await get_at(client, sid, version=2)
    assert response.status == 200
    await expect_error(client, await get_at(client, sid, version=3), 404)
    await expect_error(client, await get_at(client, sid, version=10**9), 404)


async def test_time_travel_on_an_unknown_session_is_404(client) -> None:
    unknown = str(uuid.uuid4())
    await expect_error(client, await get_at(client, unknown, version=1), 404)
    await expect_error(client, await get_at(client, unknown, as_of="2030-01-01T00:00:00Z"), 404)


@pytest.mark.parametrize(
    "version", ["0", "-1", "one", "1.0", "", "2e1", str(1 << 63), "9" * 5000], ids=short_id
)
async def test_malformed_or_zero_version_is_422(client, version) -> None:
    sid = (await create(client))["id"]
    await expect_error(client, await get_at(client, sid, version=version), 422, field="version")


@pytest.mark.files_only  # writes its log through a FileLog of its own
async def test_as_of_survives_a_clock_that_stepped_back(make_client, data_dir) -> None:
    """Wall clocks step back (NTP, a migrated VM), so `at` need not grow along a log. The state
    as of an instant must still be one the session really had, never a 500."""
    # The third event's clock stepped back 5 s.
    times = iter(f"2025-11-10T12:00:{second}.000000Z" for second in (10, 20, 15, 30))
    store = Store(FileLog(data_dir), clock=lambda: next(times))
    await store.open()
    created = await store.create_session("Clock")
    view = await store.add_message(created.id, role="user", content="before the step")
    await store.edit_message(created.id, view.messages[0].id, content="after the step")
    await store.add_message(created.id, role="user", content="later")
    await store.close()

    client = await make_client(data_dir)
    sid = created.id
    versions = []
    for version in range(1, 5):
        response = await get_at(client, sid, version=version)
        assert response.status == 200
        versions.append(await response.json())
    for second in (12, 17, 22, 35):
        response = await get_at(client, sid, as_of=f"2025-11-10T12:00:{second}Z")
        assert response.status == 200, f"{second}: {await response.text()}"
        assert await response.json() in versions, second


@pytest.mark.parametrize(
    "as_of",
    [
        "yesterday",
        "",
        "2025-13-01T00:00:00Z",
        "2025-11-10T25:00:00Z",
        "2025-11-10T12:00:00",  # no time zone: ambiguous
        "2025-11-10",
        "1731240000",
        # Well-formed, but their UTC instant is outside what a timestamp can hold.
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:30:00-02:00",
    ],
)
async def test_malformed_as_of_is_422(client, as_of) -> None:
    sid = (await create(client))["id"]
    await expect_error(client, await get_at(client, sid, as_of=as_of), 422, field="as_of")


# -- the global feed ------------------------------------------------------------------------------


async def test_feed_lists_every_event_of_every_log_in_position_order(client) -> None:
    a = (await create(client, title="A"))["id"]
    b = (await create(client, title="B"))["id"]
    await add(client, a, "a1")
    await add(client, b, "b1")
    await add(client, a, "a2")
    events = await feed(client)
    assert [e["position"] for e in events] == [1, 2, 3, 4, 5]
    assert [(e["stream"], e["seq"]) for e in events] == [(a, 1), (b, 1), (a, 2), (b, 2), (a, 3)]
    # The same events as each session's own history, position and all.
    assert [e for e in events if e["stream"] == a] == await history(client, a)
    assert [e for e in events if e["stream"] == b] == await history(client, b)


async def test_feed_after_and_limit(client) -> None:
    sid = (await create(client))["id"]
    for n in range(6):
        await add(client, sid, f"m{n}")
    everything = await feed(client)
    response, events = await page(client, "/api/events", after=2, limit=3)
    assert events == everything[2:5]
    link = URL(next_link(response) or "")
    assert link.path == "/api/events"
    assert dict(link.query) == {"after": "5", "limit": "3"}
    response, events = await page(client, "/api/events", after=7)
    assert events == []
    assert next_link(response) is None
    response, events = await page(client, "/api/events", after=10**9)
    assert events == []


async def test_feed_of_a_new_data_dir_is_empty(client) -> None:
    response, events = await page(client, "/api/events")
    assert events == []
    assert next_link(response) is None


async def test_feed_holds_settings_events_and_deletions(client) -> None:
    sid = (await create(client))["id"]
    response = await client.patch("/api/settings", json={"theme": "light"})
    assert response.status == 200
    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    events = await feed(client)
    assert [(e["stream"], e["type"]) for e in events] == [
        (sid, "session_created"),
        ("settings", "settings_changed"),
        (sid, "session_deleted"),
    ]
    assert events[1]["data"] == {"changes": {"theme": "light"}}


async def test_feed_under_concurrent_writers_is_gap_free_and_ordered(client) -> None:
    sessions = [s["id"] for s in await asyncio.gather(*(create(client) for _ in range(20)))]
    posts = [
        add(client, sessions[n % 20], f"message {n // 20} of {sessions[n % 20]}")
        for n in range(400)
    ]
    messages = await asyncio.gather(*posts)
    assert len({m["id"] for m in messages}) == 400

    events = await feed(client)
    assert [e["position"] for e in events] == list(range(1, 421)), "gap-free, in order"
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_session[event["stream"]].append(event)
    assert set(by_session) == set(sessions)
    for sid, own in by_session.items():
        assert [e["seq"] for e in own] == list(range(1, 22)), sid
        assert own == await history(client, sid)
        # The feed's order of a session's messages is the session's own order.
        session = await current(client, sid)
        assert [m["id"] for m in session["messages"]] == [e["data"]["message_id"] for e in own[1:]]


async def test_200_concurrent_posts_to_one_session_take_seqs_1_to_201(client, data_dir) -> None:
    sid = (await create(client))["id"]
    contents = [f"burst {n:03d}" for n in range(200)]
    responses = await asyncio.gather(
        *(
            client.post(f"/api/sessions/{sid}/messages", json={"role": "user", "content": c})
            for c in contents
        )
    )
    assert [r.status for r in responses] == [201] * 200
    messages = [await r.json() for r in responses]
    assert [m["content"] for m in messages] == contents, "each answer is its own message"
    assert sorted(etag_version(r) for r in responses) == list(range(2, 202))

    events = await history(client, sid)
    assert [e["seq"] for e in events] == list(range(1, 202)), "no gap, no duplicate"
    assert sorted(e["data"]["content"] for e in events[1:]) == contents
    by_message = {e["data"]["message_id"]: e["seq"] for e in events[1:]}
    assert {m["id"]: etag_version(r) for m, r in zip(messages, responses, strict=True)} == (
        by_message
    )
    session = await current(client, sid)
    assert (session["version"], session["message_count"]) == (201, 200)
    assert [m["id"] for m in session["messages"]] == list(by_message)

    lines = [orjson.loads(line) for line in log_file(data_dir, sid).read_bytes().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, 202))
    assert [line["id"] for line in lines] == [e["id"] for e in events]


@pytest.mark.parametrize("limit", [1, 7, 50, 420])
async def test_feed_paging_reaches_every_event_once(client, limit) -> None:
    sessions = [s["id"] for s in await asyncio.gather(*(create(client) for _ in range(20)))]
    await asyncio.gather(*(add(client, sessions[n % 20], f"m{n}") for n in range(100)))
    events, pages = await follow(client, "/api/events", limit=limit)
    assert [e["position"] for e in events] == list(range(1, 121))
    assert len({e["id"] for e in events}) == 120
    assert pages == -(-120 // limit)


async def test_feed_positions_survive_a_restart(make_client, data_dir: Path) -> None:
    client = await make_client()
    sessions = [s["id"] for s in await asyncio.gather(*(create(client) for _ in range(5)))]
    await asyncio.gather(*(add(client, sessions[n % 5], f"m{n}") for n in range(40)))
    before = await feed(client)
    histories = {sid: await history(client, sid) for sid in sessions}
    assert [e["position"] for e in before] == list(range(1, 46))
    await client.close()

    client = await make_client(data_dir)
    assert await feed(client) == before
    for sid in sessions:
        assert await history(client, sid) == histories[sid]
    new = (await create(client))["id"]
    await add(client, sessions[0], "after the restart")
    after = await feed(client)
    assert after[:45] == before
    assert [(e["position"], e["stream"], e["seq"]) for e in after[45:]] == [
        (46, new, 1),
        (47, sessions[0], 10),
    ]


async def test_history_and_feed_across_several_restarts(make_client, data_dir: Path) -> None:
    """Each restart (from the snapshot written at close, or without one) serves the same feed,
    histories and past versions, and new events continue the positions."""
    client = await make_client()
    a, b = (await create(client, title="A"))["id"], (await create(client, title="B"))["id"]
    await add(client, a, "a1")
    expected_last = 3
    for round_ in range(4):
        feed_before = await feed(client)
        assert [e["position"] for e in feed_before] == list(range(1, expected_last + 1))
        histories = {sid: await history(client, sid) for sid in (a, b)}
        versions = {
            (sid, v): await (await get_at(client, sid, version=v)).json()
            for sid in (a, b)
            for v in range(1, histories[sid][-1]["seq"] + 1)
            if histories[sid][v - 1]["type"] != "session_deleted"
        }
        await client.close()
        if round_ == 2:  # derived data: the next start replays the logs in full
            for path in (data_dir / "snapshots").glob("*"):  # none on PostgreSQL
                path.unlink()
        client = await make_client(data_dir, **({"cache_mb": 0} if round_ % 2 else {}))

        assert await feed(client) == feed_before
        for sid in (a, b):
            assert await history(client, sid) == histories[sid]
        for (sid, v), body in versions.items():
            response = await get_at(client, sid, version=v)
            assert await response.json() == body, (round_, sid, v)
        # New events, on both sessions and one deleted and restored, continue the positions.
        await add(client, b, f"b after restart {round_}")
        await add(client, a, f"a after restart {round_}")
        if round_ == 1:
            assert (await client.delete(f"/api/sessions/{b}")).status == 204
            assert (await client.post(f"/api/sessions/{b}/restore")).status == 200
            expected_last += 2
        expected_last += 2
        tail = (await feed(client))[len(feed_before) :]
        assert [e["position"] for e in tail] == list(range(len(feed_before) + 1, expected_last + 1))


async def test_history_and_time_travel_of_cold_sessions(make_client) -> None:
    """Under a memory budget only the last used session keeps its messages in memory; the others
    answer from their logs exactly as a hot one does."""
    client = await make_client(cache_mb=0)
    sid, answers = await build_recorded_history(client)
    others = [(await create(client, title=f"Other {n}"))["id"] for n in range(3)]
    for other in others:
        await add(client, other, "pushes the first session out of memory")
    health = await (await client.get("/api/health")).json()
    assert health["cache"]["hot_sessions"] == 1, health["cache"]
    for version, answer in answers.items():
        response = await get_at(client, sid, version=version)
        assert response.status == 200
        assert await response.json() == answer
    events = await history(client, sid)
    assert [e["seq"] for e in events] == list(range(1, 11))
    assert await current(client, sid) == answers[10]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "-1"}, "after"),
        ({"after": "next"}, "after"),
        ({"after": ""}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"after": "9" * 5000}, "after"),
    ],
    ids=short_id,
)
async def test_feed_bad_after_or_limit_is_422(client, params, field) -> None:
    await expect_error(client, await client.get("/api/events", params=params), 422, field=field)


async def test_feed_and_history_follow_the_log_files(client, data_dir) -> None:
    sid = (await create(client))["id"]
    await add(client, sid, "on disk")
    lines = log_file(data_dir, sid).read_bytes().splitlines()
    events = await history(client, sid)
    assert len(lines) == len(events) == 2
    for line, event in zip(lines, events, strict=True):
        stored = orjson.loads(line)
        assert (stored["seq"], stored["pos"], stored["id"], stored["type"], stored["at"]) == (
            event["seq"],
            event["position"],
            event["id"],
            event["type"],
            event["at"],
        )
        assert stored["data"] == event["data"]
