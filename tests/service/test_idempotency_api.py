"""Idempotency-Key over HTTP (SPEC §6): a POST appends at most once per key and session, and a
retry, however late and whether or not the service restarted in between, gets the original answer.

"Appended once" is checked on the log files and the global feed, not on the API's word.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.service.expect import event_types, expect_error, log_file

KEY = "Idempotency-Key"


# -- helpers ----------------------------------------------------------------------------------


async def create(client: Any, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/sessions", json=body)
    assert response.status == 201, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def add(client: Any, session_id: str, content: str) -> dict[str, Any]:
    response = await client.post(
        f"/api/sessions/{session_id}/messages", json={"role": "user", "content": content}
    )
    assert response.status == 201, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def answer(response: Any) -> tuple[int, Any, str | None, str | None]:
    """What a retry must repeat: status, body, ETag and Location."""
    return (
        response.status,
        await response.json(),
        response.headers.get("ETag"),
        response.headers.get("Location"),
    )


def session_files(data_dir: Path) -> list[str]:
    directory = data_dir / "sessions"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def log_types(data_dir: Path, session_id: str) -> list[str]:
    return event_types(log_file(data_dir, session_id).read_bytes())


async def feed_length(client: Any) -> int:
    response = await client.get("/api/events", params={"limit": 1000})
    assert response.status == 200
    return len(await response.json())


async def post_session(client: Any, key: str, **body: Any) -> Any:
    return await client.post("/api/sessions", json=body, headers={KEY: key})


async def post_message(client: Any, session_id: str, key: str, content: str = "hello") -> Any:
    return await client.post(
        f"/api/sessions/{session_id}/messages",
        json={"role": "user", "content": content},
        headers={KEY: key},
    )


async def post_fork(client: Any, session_id: str, key: str, **body: Any) -> Any:
    return await client.post(f"/api/sessions/{session_id}/fork", json=body, headers={KEY: key})


# -- one key, one append --------------------------------------------------------------------------


async def test_create_retried_gets_the_original_answer(client, data_dir) -> None:
    first = await answer(await post_session(client, "create-1", title="Once"))
    await asyncio.sleep(0.002)  # a new append would get a new timestamp
    second = await answer(await post_session(client, "create-1", title="Once"))
    assert first[0] == 201
    assert second == first
    assert first[3] == f"/api/sessions/{first[1]['id']}"
    assert session_files(data_dir) == [f"{first[1]['id']}.jsonl"]
    assert log_types(data_dir, first[1]["id"]) == ["session_created"]
    assert await feed_length(client) == 1
    listed = await (await client.get("/api/sessions")).json()
    assert [s["id"] for s in listed] == [first[1]["id"]]


async def test_create_with_an_empty_body_retried(client, data_dir) -> None:
    first = await answer(await client.post("/api/sessions", headers={KEY: "empty"}))
    second = await answer(await client.post("/api/sessions", headers={KEY: "empty"}))
    assert first[0] == 201
    assert second == first
    assert len(session_files(data_dir)) == 1


async def test_the_key_is_recorded_in_the_history(client) -> None:
    created = await (await post_session(client, "audit-key")).json()
    response = await client.get(f"/api/sessions/{created['id']}/events")
    (event,) = await response.json()
    assert event["meta"]["idempotency_key"] == "audit-key"
    message = await (await post_message(client, created["id"], "msg-key")).json()
    response = await client.get(f"/api/sessions/{created['id']}/events")
    events = await response.json()
    assert events[1]["data"]["message_id"] == message["id"]
    assert events[1]["meta"]["idempotency_key"] == "msg-key"


async def test_message_retried_gets_the_original_answer(client, data_dir) -> None:
    sid = (await create(client))["id"]
    first = await answer(await post_message(client, sid, "m-1", "only once"))
    await asyncio.sleep(0.002)
    second = await answer(await post_message(client, sid, "m-1", "only once"))
    assert first[0] == 201
    assert second == first  # same id, same timestamp, same ETag
    session = await (await client.get(f"/api/sessions/{sid}")).json()
    assert [m["id"] for m in session["messages"]] == [first[1]["id"]]
    assert log_types(data_dir, sid) == ["session_created", "message_added"]


async def test_a_late_retry_still_gets_the_original_answer(client, data_dir) -> None:
    sid = (await create(client))["id"]
    first = await answer(await post_message(client, sid, "late", "the original"))
    await add(client, sid, "something else")
    assert (await client.put(f"/api/sessions/{sid}", json={"title": "Renamed"})).status == 200
    second = await answer(await post_message(client, sid, "late", "the original"))
    assert second == first
    assert first[2] == '"2"', "the ETag of the version the message was added at"
    assert log_types(data_dir, sid) == [
        "session_created",
        "message_added",
        "message_added",
        "session_renamed",
    ]


async def test_fork_retried_gets_the_original_answer(client, data_dir) -> None:
    sid = (await create(client, title="Source"))["id"]
    message = await add(client, sid, "to fork")
    await add(client, sid, "not in the fork")
    first = await answer(await post_fork(client, sid, "fork-1", message_id=message["id"]))
    await asyncio.sleep(0.002)
    second = await answer(await post_fork(client, sid, "fork-1", message_id=message["id"]))
    assert first[0] == 201
    assert second == first
    fid = first[1]["id"]
    assert sorted(session_files(data_dir)) == sorted([f"{sid}.jsonl", f"{fid}.jsonl"])
    assert log_types(data_dir, fid) == ["session_forked"]
    assert log_types(data_dir, sid) == ["session_created", "message_added", "message_added"]


async def test_restore_retried_gets_the_original_answer(client, data_dir) -> None:
    sid = (await create(client))["id"]
    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    url = f"/api/sessions/{sid}/restore"
    first = await answer(await client.post(url, headers={KEY: "restore-1"}))
    second = await answer(await client.post(url, headers={KEY: "restore-1"}))
    assert first[0] == 200
    assert second == first  # not 409: the retry is answered, not re-run
    assert log_types(data_dir, sid) == ["session_created", "session_deleted", "session_restored"]
    # Without the key, a second restore is what it is: a conflict.
    await expect_error(client, await client.post(url), 409)


# -- concurrent retries ---------------------------------------------------------------------------


async def test_concurrent_creates_with_one_key_append_once(client, data_dir) -> None:
    responses = await asyncio.gather(
        *(post_session(client, "burst", title="Burst") for _ in range(10))
    )
    answers = [await answer(r) for r in responses]
    assert answers[0][0] == 201
    assert all(a == answers[0] for a in answers)
    assert len(session_files(data_dir)) == 1
    assert await feed_length(client) == 1


async def test_concurrent_messages_with_one_key_append_once(client, data_dir) -> None:
    sid = (await create(client))["id"]
    responses = await asyncio.gather(*(post_message(client, sid, "burst") for _ in range(10)))
    answers = [await answer(r) for r in responses]
    assert answers[0][0] == 201
    assert all(a == answers[0] for a in answers)
    assert log_types(data_dir, sid) == ["session_created", "message_added"]


async def test_concurrent_forks_with_one_key_append_once(client, data_dir) -> None:
    sid = (await create(client))["id"]
    await add(client, sid, "x")
    responses = await asyncio.gather(*(post_fork(client, sid, "burst") for _ in range(10)))
    answers = [await answer(r) for r in responses]
    assert answers[0][0] == 201
    assert all(a == answers[0] for a in answers)
    assert len(session_files(data_dir)) == 2


async def test_concurrent_distinct_keys_each_append(client, data_dir) -> None:
    sid = (await create(client))["id"]
    responses = await asyncio.gather(
        *(post_message(client, sid, f"key-{n}", f"m{n}") for n in range(10)),
        *(post_message(client, sid, f"key-{n}", f"m{n}") for n in range(10)),
    )
    bodies = [await r.json() for r in responses]
    assert all(r.status == 201 for r in responses)
    assert bodies[:10] == bodies[10:]
    assert len({b["id"] for b in bodies}) == 10
    assert log_types(data_dir, sid) == ["session_created"] + ["message_added"] * 10


# -- the same key for something else --------------------------------------------------------------


async def test_same_key_with_a_different_body_is_422(client, data_dir) -> None:
    sid = (await create(client))["id"]
    original = await answer(await post_message(client, sid, "reused", "original"))
    before = log_file(data_dir, sid).read_bytes()
    response = await post_message(client, sid, "reused", "different")
    await expect_error(client, response, 422, field=KEY)
    assert log_file(data_dir, sid).read_bytes() == before
    # The key still answers its own request.
    assert await answer(await post_message(client, sid, "reused", "original")) == original


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"title": "A"}, {"title": "B"}),
        ({"title": "A"}, {}),
        ({"metadata": {"k": "1"}}, {"metadata": {"k": "2"}}),
    ],
)
async def test_same_create_key_with_a_different_body_is_422(
    client, data_dir, first, second
) -> None:
    assert (await post_session(client, "create-reused", **first)).status == 201
    files = session_files(data_dir)
    response = await post_session(client, "create-reused", **second)
    await expect_error(client, response, 422, field=KEY)
    assert session_files(data_dir) == files


async def test_same_fork_key_for_another_point_is_422(client, data_dir) -> None:
    sid = (await create(client))["id"]
    one = await add(client, sid, "one")
    two = await add(client, sid, "two")
    assert (await post_fork(client, sid, "fork-reused", message_id=one["id"])).status == 201
    files = session_files(data_dir)
    response = await post_fork(client, sid, "fork-reused", message_id=two["id"])
    await expect_error(client, response, 422, field=KEY)
    response = await post_session(client, "fork-reused")  # a create is another request too
    await expect_error(client, response, 422, field=KEY)
    assert session_files(data_dir) == files


async def test_the_same_key_on_two_sessions_appends_to_each(client, data_dir) -> None:
    a = (await create(client))["id"]
    b = (await create(client))["id"]
    on_a = await post_message(client, a, "shared", "same text")
    on_b = await post_message(client, b, "shared", "same text")
    assert on_a.status == on_b.status == 201
    body_a, body_b = await on_a.json(), await on_b.json()
    assert body_a["id"] != body_b["id"]
    assert log_types(data_dir, a) == ["session_created", "message_added"]
    assert log_types(data_dir, b) == ["session_created", "message_added"]
    # Each session still replays its own answer.
    assert await (await post_message(client, a, "shared", "same text")).json() == body_a
    assert await (await post_message(client, b, "shared", "same text")).json() == body_b


async def test_a_failed_request_does_not_use_up_its_key(client, data_dir) -> None:
    sid = (await create(client))["id"]
    response = await client.post(
        f"/api/sessions/{sid}/messages",
        json={"role": "user", "content": "x"},
        headers={KEY: "retry-me", "If-Match": '"99"'},
    )
    await expect_error(client, response, 412)
    assert (await post_message(client, sid, "retry-me", "x")).status == 201
    assert log_types(data_dir, sid) == ["session_created", "message_added"]


# -- keys survive a restart -----------------------------------------------------------------------


async def test_keys_survive_a_restart(make_client, data_dir) -> None:
    client = await make_client()
    created = await answer(await post_session(client, "restart-create", title="Durable"))
    sid = created[1]["id"]
    message = await answer(await post_message(client, sid, "restart-message", "kept"))
    forked = await answer(await post_fork(client, sid, "restart-fork"))
    files = session_files(data_dir)
    logs = {name: (data_dir / "sessions" / name).read_bytes() for name in files}
    await client.close()

    client = await make_client(data_dir)
    assert await answer(await post_session(client, "restart-create", title="Durable")) == created
    assert await answer(await post_message(client, sid, "restart-message", "kept")) == message
    assert await answer(await post_fork(client, sid, "restart-fork")) == forked
    assert session_files(data_dir) == files
    assert {name: (data_dir / "sessions" / name).read_bytes() for name in files} == logs
    # And a changed request under an old key is still refused.
    response = await post_message(client, sid, "restart-message", "changed")
    await expect_error(client, response, 422, field=KEY)
    await client.close()

    # Without the snapshot written at close, the keys come back from the logs alone.
    for path in (data_dir / "snapshots").glob("*"):  # none on PostgreSQL
        path.unlink()
    client = await make_client(data_dir)
    assert await answer(await post_session(client, "restart-create", title="Durable")) == created
    assert await answer(await post_message(client, sid, "restart-message", "kept")) == message
    assert await answer(await post_fork(client, sid, "restart-fork")) == forked
    assert {name: (data_dir / "sessions" / name).read_bytes() for name in files} == logs


# -- invalid keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "ключ", "café", "tab\there"],
    ids=["empty", "256", "cyrillic", "e", "tab"],
)
@pytest.mark.parametrize("route", ["create", "message", "fork", "restore"])
async def test_an_invalid_key_is_422(client, data_dir, key, route) -> None:
    sid = (await create(client))["id"]
    if route == "restore":
        assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    url, body = {
        "create": ("/api/sessions", {}),
        "message": (f"/api/sessions/{sid}/messages", {"role": "user", "content": "x"}),
        "fork": (f"/api/sessions/{sid}/fork", {}),
        "restore": (f"/api/sessions/{sid}/restore", None),
    }[route]
    files = session_files(data_dir)
    before = log_file(data_dir, sid).read_bytes()
    response = await client.post(url, json=body, headers={KEY: key})
    await expect_error(client, response, 422, field=KEY)
    assert session_files(data_dir) == files
    assert log_file(data_dir, sid).read_bytes() == before


@pytest.mark.parametrize("key", ["k", "k" * 255, "550e8400-e29b-41d4-a716-446655440000", "a b~!"])
async def test_keys_at_the_limits_are_accepted(client, data_dir, key) -> None:
    first = await answer(await post_session(client, key))
    assert first[0] == 201
    assert await answer(await post_session(client, key)) == first
    assert len(session_files(data_dir)) == 1


# -- under a memory budget ------------------------------------------------------------------------


async def test_a_retry_on_a_cold_session_gets_the_original_answer(make_client, data_dir) -> None:
    client = await make_client(cache_mb=0)
    sid = (await create(client))["id"]
    first = await answer(await post_message(client, sid, "cold-key", "kept"))
    await add(client, sid, "after it")
    for n in range(3):  # other sessions take the only hot place
        await add(client, (await create(client))["id"], f"other {n}")
    health = await (await client.get("/api/health")).json()
    assert health["cache"]["hot_sessions"] == 1, health["cache"]
    assert await answer(await post_message(client, sid, "cold-key", "kept")) == first
    assert log_types(data_dir, sid) == ["session_created", "message_added", "message_added"]
    await client.close()

    client = await make_client(data_dir, cache_mb=0)  # every session starts cold
    assert await answer(await post_message(client, sid, "cold-key", "kept")) == first
    assert log_types(data_dir, sid) == ["session_created", "message_added", "message_added"]
