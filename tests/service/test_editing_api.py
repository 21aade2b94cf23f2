"""Editing a history without rewriting it, over HTTP: message edit and delete, fork, restore.

Every change is a new event: the old text stays readable in the history, a fork's log stands on
its own, and a refused write (stale If-Match, unknown message, live restore) leaves the log's
bytes exactly as they were.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from orion_events.domain.projector import replay_session
from orion_events.storage.codec import scan
from service.payloads import session_json
from tests.service.expect import (
    JSON_HEADERS,
    MESSAGE_KEYS,
    SESSION_KEYS,
    SUMMARY_KEYS,
    check_id,
    etag_version,
    event_types,
    expect_error,
    log_file,
    when,
)

FORK_KEYS = SESSION_KEYS | {"forked_from"}


# -- helpers --------------------------------------------------------------------------------------


async def create(client: Any, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/sessions", json=body)
    assert response.status == 201, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def add(
    client: Any, session_id: str, content: str, role: str = "user", **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/sessions/{session_id}/messages", json={"role": role, "content": content, **extra}
    )
    assert response.status == 201, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def fetch(client: Any, session_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/sessions/{session_id}")
    assert response.status == 200, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def history(client: Any, session_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/sessions/{session_id}/events", params={"limit": 1000})
    assert response.status == 200, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def conversation(client: Any, **body: Any) -> tuple[str, list[dict[str, Any]]]:
    """A session with three messages; its id and the messages."""
    sid = (await create(client, **body))["id"]
    messages = [
        await add(client, sid, "What is a fold?", agent="conversational", model="m1"),
        await add(client, sid, "A reduce over a list.", role="assistant"),
        await add(client, sid, "And a projector?"),
    ]
    return sid, messages


def log_bytes(data_dir: Path, session_id: str) -> bytes:
    return log_file(data_dir, session_id).read_bytes()


def session_files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "sessions").iterdir())


def check_fork(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict)
    assert set(body) == FORK_KEYS
    check_id(body["id"])
    assert set(body["forked_from"]) == {"session_id", "version"}
    assert body["version"] == 1
    assert body["created_at"] == body["updated_at"]
    assert body["message_count"] == len(body["messages"])
    return body


async def fork(client: Any, session_id: str, **body: Any) -> tuple[Any, dict[str, Any]]:
    response = await client.post(f"/api/sessions/{session_id}/fork", json=body)
    assert response.status == 201, await response.text()
    return response, check_fork(await response.json())


# -- editing a message ----------------------------------------------------------------------------


async def test_edit_returns_the_message_with_new_content_and_etag(client, data_dir) -> None:
    sid, messages = await conversation(client)
    original = messages[0]
    response = await client.patch(
        f"/api/sessions/{sid}/messages/{original['id']}", json={"content": "What is a fold, again?"}
    )
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    assert etag_version(response) == 5
    edited = await response.json()
    assert set(edited) == MESSAGE_KEYS
    assert edited == {**original, "content": "What is a fold, again?"}

    session = await fetch(client, sid)
    assert session["version"] == 5
    assert session["messages"] == [edited, *messages[1:]]
    assert event_types(log_bytes(data_dir, sid))[-1] == "message_edited"


async def test_the_old_text_stays_in_the_history(client) -> None:
    sid, messages = await conversation(client)
    target = messages[1]["id"]
    for text in ("first edit", "second edit"):
        response = await client.patch(
            f"/api/sessions/{sid}/messages/{target}", json={"content": text}
        )
        assert response.status == 200
    events = await history(client, sid)
    assert [e["type"] for e in events] == [
        "session_created",
        "message_added",
        "message_added",
        "message_added",
        "message_edited",
        "message_edited",
    ]
    assert events[2]["data"]["message_id"] == target
    assert events[2]["data"]["content"] == "A reduce over a list."
    assert events[4]["data"] == {"message_id": target, "content": "first edit"}
    assert events[5]["data"] == {"message_id": target, "content": "second edit"}
    # And time travel shows each text in its time.
    for version, text in [(4, "A reduce over a list."), (5, "first edit"), (6, "second edit")]:
        response = await client.get(f"/api/sessions/{sid}", params={"version": version})
        assert (await response.json())["messages"][1]["content"] == text


async def test_edit_with_the_current_if_match_succeeds(client) -> None:
    sid, messages = await conversation(client)
    response = await client.patch(
        f"/api/sessions/{sid}/messages/{messages[2]['id']}",
        json={"content": "ok"},
        headers={"If-Match": '"4"'},
    )
    assert response.status == 200
    assert etag_version(response) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "content"),
        ({"content": 5}, "content"),
        ({"content": None}, "content"),
        ({"content": "x", "role": "assistant"}, "role"),
        ({"content": "x", "timestamp": "2020-01-01T00:00:00Z"}, "timestamp"),
        ({"content": "x" * (1024 * 1024 + 1)}, "content"),
    ],
)
async def test_edit_with_an_invalid_body_is_422(client, data_dir, body, field) -> None:
    sid, messages = await conversation(client)
    before = log_bytes(data_dir, sid)
    response = await client.patch(
        f"/api/sessions/{sid}/messages/{messages[0]['id']}",
        data=io.BytesIO(orjson.dumps(body)),  # file-like: aiohttp sends a large body quietly
        headers=JSON_HEADERS,
    )
    await expect_error(client, response, 422, field=field)
    assert log_bytes(data_dir, sid) == before


# -- deleting a message ---------------------------------------------------------------------------


async def test_delete_message_is_204_and_the_message_is_gone(client, data_dir) -> None:
    sid, messages = await conversation(client)
    response = await client.delete(f"/api/sessions/{sid}/messages/{messages[1]['id']}")
    assert response.status == 204
    assert await response.read() == b""
    assert etag_version(response) == 5

    session = await fetch(client, sid)
    # the reply moves up to the deleted message's parent
    assert session["messages"] == [messages[0], {**messages[2], "parent_id": messages[0]["id"]}]
    assert session["message_count"] == 2
    assert session["version"] == 5
    events = await history(client, sid)
    assert events[-1]["type"] == "message_deleted"
    assert events[-1]["data"] == {"message_id": messages[1]["id"]}
    assert events[2]["data"]["content"] == "A reduce over a list."  # still in the history
    assert event_types(log_bytes(data_dir, sid))[-1] == "message_deleted"

    # Gone means gone: a second delete or an edit of it is 404 and writes nothing.
    before = log_bytes(data_dir, sid)
    response = await client.delete(f"/api/sessions/{sid}/messages/{messages[1]['id']}")
    await expect_error(client, response, 404)
    response = await client.patch(
        f"/api/sessions/{sid}/messages/{messages[1]['id']}", json={"content": "back?"}
    )
    await expect_error(client, response, 404)
    assert log_bytes(data_dir, sid) == before


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_unknown_message_is_404_and_writes_nothing(client, data_dir, method) -> None:
    sid, _ = await conversation(client)
    other, other_messages = await conversation(client)
    before = log_bytes(data_dir, sid)
    body = {"content": "x"} if method == "PATCH" else None
    for message_id in [str(uuid.uuid4()), other_messages[0]["id"], "not-an-id", "1"]:
        response = await client.request(
            method, f"/api/sessions/{sid}/messages/{message_id}", json=body
        )
        await expect_error(client, response, 404)
    assert log_bytes(data_dir, sid) == before
    assert [m["id"] for m in (await fetch(client, other))["messages"]] == [
        m["id"] for m in other_messages
    ]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_message_routes_of_a_deleted_session_are_404(client, data_dir, method) -> None:
    sid, messages = await conversation(client)
    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    before = log_bytes(data_dir, sid)
    body = {"content": "x"} if method == "PATCH" else None
    response = await client.request(
        method, f"/api/sessions/{sid}/messages/{messages[0]['id']}", json=body
    )
    await expect_error(client, response, 404)
    assert log_bytes(data_dir, sid) == before


# -- fork -----------------------------------------------------------------------------------------


async def test_fork_at_a_message_holds_the_messages_up_to_it(client, data_dir) -> None:
    sid, messages = await conversation(client, title="Source", metadata={"k": "v"})
    source = await fetch(client, sid)
    source_log = log_bytes(data_dir, sid)

    response, forked = await fork(client, sid, message_id=messages[1]["id"])
    assert response.headers["Location"] == f"/api/sessions/{forked['id']}"
    assert etag_version(response) == 1
    assert forked["id"] != sid
    assert forked["forked_from"] == {"session_id": sid, "version": 4}
    assert forked["messages"] == messages[:2]  # the same messages, up to and including it
    assert forked["message_count"] == 2
    assert forked["title"] == "Source"
    assert forked["metadata"] == {"k": "v"}
    assert when(forked["created_at"]) >= when(source["updated_at"])

    assert await fetch(client, forked["id"]) == forked
    assert (await client.get(response.headers["Location"])).status == 200
    listed = await (await client.get("/api/sessions")).json()
    assert forked["id"] in {s["id"] for s in listed}
    summary = next(s for s in listed if s["id"] == forked["id"])
    assert set(summary) == SUMMARY_KEYS | {"forked_from"}
    # The source is untouched.
    assert await fetch(client, sid) == source
    assert log_bytes(data_dir, sid) == source_log


async def test_fork_at_the_last_message_and_of_everything(client) -> None:
    sid, messages = await conversation(client)
    _, at_last = await fork(client, sid, message_id=messages[-1]["id"])
    assert at_last["messages"] == messages
    _, whole = await fork(client, sid)
    assert whole["messages"] == messages
    assert whole["forked_from"] == {"session_id": sid, "version": 4}
    response = await client.post(f"/api/sessions/{sid}/fork")  # no body at all
    assert response.status == 201
    assert check_fork(await response.json())["messages"] == messages


async def test_fork_at_a_version_holds_the_messages_as_they_were(client) -> None:
    sid, messages = await conversation(client)
    then = await (await client.get(f"/api/sessions/{sid}", params={"version": 3})).json()
    response = await client.patch(
        f"/api/sessions/{sid}/messages/{messages[0]['id']}", json={"content": "rewritten"}
    )
    assert response.status == 200
    assert (await client.delete(f"/api/sessions/{sid}/messages/{messages[1]['id']}")).status == 204
    assert (await client.put(f"/api/sessions/{sid}", json={"title": "Later"})).status == 200

    _, forked = await fork(client, sid, version=3)
    assert forked["forked_from"] == {"session_id": sid, "version": 3}
    assert forked["messages"] == then["messages"] == messages[:2]
    assert forked["messages"][0]["content"] == "What is a fold?"
    assert forked["title"] == then["title"]


async def test_fork_with_a_title_and_then_its_own_life(client) -> None:
    sid, messages = await conversation(client)
    _, forked = await fork(client, sid, message_id=messages[0]["id"], title="Branch")
    assert forked["title"] == "Branch"
    fid = forked["id"]
    added = await add(client, fid, "only in the fork")
    assert (await fetch(client, fid))["messages"] == [messages[0], added]
    assert (await fetch(client, fid))["title"] == "Branch"
    assert (await fetch(client, sid))["messages"] == messages
    await add(client, sid, "only in the source")
    assert (await fetch(client, fid))["message_count"] == 2


async def test_a_forks_log_is_self_contained(client, data_dir) -> None:
    sid, messages = await conversation(client, title="Self", metadata={"a": "b"})
    _, forked = await fork(client, sid, message_id=messages[1]["id"])
    fid = forked["id"]
    await add(client, fid, "more")
    response = await client.patch(
        f"/api/sessions/{fid}/messages/{messages[0]['id']}", json={"content": "edited in fork"}
    )
    assert response.status == 200

    data = log_bytes(data_dir, fid)
    events = await history(client, fid)
    first = events[0]
    assert first["type"] == "session_forked"
    assert first["seq"] == 1
    assert event_types(data)[0] == "session_forked"
    assert first["data"]["source_session"] == sid
    assert first["data"]["source_version"] == 4
    assert [m["content"] for m in first["data"]["messages"]] == [m["content"] for m in messages[:2]]
    assert [m["id"] for m in first["data"]["messages"]] == [m["id"] for m in messages[:2]]

    # The fork's file alone, read by the library's own codec and projector, is the fork.
    result = scan(data, fid)
    assert result.damage is None
    view = replay_session(result.records)
    assert view is not None
    assert session_json(view) == await fetch(client, fid)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "3"}, "version"),
        ({"version": True}, "version"),
        ({"version": 1.5}, "version"),
        ({"message_id": 7}, "message_id"),
        ({"title": ""}, "title"),
        ({"title": 5}, "title"),
        ({"messages": []}, "messages"),
    ],
)
async def test_fork_with_an_invalid_body_is_422(client, data_dir, body, field) -> None:
    sid, _ = await conversation(client)
    before = session_files(data_dir)
    response = await client.post(f"/api/sessions/{sid}/fork", json=body)
    await expect_error(client, response, 422, field=field)
    assert session_files(data_dir) == before


async def test_fork_with_both_message_id_and_version_is_422(client, data_dir) -> None:
    sid, messages = await conversation(client)
    before = session_files(data_dir)
    response = await client.post(
        f"/api/sessions/{sid}/fork", json={"message_id": messages[0]["id"], "version": 2}
    )
    error = await expect_error(client, response, 422)
    assert error.get("field") in {"message_id", "version"}
    assert session_files(data_dir) == before


@pytest.mark.parametrize("target", ["unknown message", "version 0", "version beyond"])
async def test_fork_from_nothing_is_404(client, data_dir, target) -> None:
    sid, _ = await conversation(client)
    before = session_files(data_dir)
    body = {
        "unknown message": {"message_id": str(uuid.uuid4())},
        "version 0": {"version": 0},
        "version beyond": {"version": 5},
    }[target]
    response = await client.post(f"/api/sessions/{sid}/fork", json=body)
    await expect_error(client, response, 404)
    assert session_files(data_dir) == before


async def test_fork_of_an_unknown_or_deleted_session_is_404(client, data_dir) -> None:
    sid, messages = await conversation(client)
    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    before = session_files(data_dir)
    for session_id, body in [
        (sid, {}),
        (sid, {"version": 2}),
        (sid, {"message_id": messages[0]["id"]}),
        (str(uuid.uuid4()), {}),
        ("bogus", {}),
    ]:
        response = await client.post(f"/api/sessions/{session_id}/fork", json=body)
        await expect_error(client, response, 404)
    assert session_files(data_dir) == before


# -- restore --------------------------------------------------------------------------------------


async def test_restore_brings_a_deleted_session_back(client, data_dir) -> None:
    sid, messages = await conversation(client, title="Phoenix")
    before = await fetch(client, sid)
    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    await expect_error(client, await client.get(f"/api/sessions/{sid}"), 404)
    assert sid not in {s["id"] for s in await (await client.get("/api/sessions")).json()}

    response = await client.post(f"/api/sessions/{sid}/restore")
    assert response.status == 200, await response.text()
    assert etag_version(response) == 6
    restored = await response.json()
    assert set(restored) == SESSION_KEYS
    assert restored == {**before, "version": 6, "updated_at": restored["updated_at"]}
    assert when(restored["updated_at"]) >= when(before["updated_at"])
    assert restored["messages"] == messages

    assert await fetch(client, sid) == restored
    listed = await (await client.get("/api/sessions")).json()
    assert listed[0]["id"] == sid, "a restore is activity: the session is the most recent"
    events = await history(client, sid)
    assert [e["type"] for e in events[-2:]] == ["session_deleted", "session_restored"]
    assert events[-1]["data"] == {}
    assert event_types(log_bytes(data_dir, sid))[-2:] == ["session_deleted", "session_restored"]
    # And it takes writes again.
    await add(client, sid, "alive")
    assert (await fetch(client, sid))["version"] == 7


async def test_restore_of_a_live_session_is_409_and_writes_nothing(client, data_dir) -> None:
    sid, _ = await conversation(client)
    before = log_bytes(data_dir, sid)
    response = await client.post(f"/api/sessions/{sid}/restore")
    error = await expect_error(client, response, 409)
    assert error["code"] == "version_conflict"
    assert log_bytes(data_dir, sid) == before
    # A second restore after the first is the same.
    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    assert (await client.post(f"/api/sessions/{sid}/restore")).status == 200
    before = log_bytes(data_dir, sid)
    await expect_error(client, await client.post(f"/api/sessions/{sid}/restore"), 409)
    assert log_bytes(data_dir, sid) == before


@pytest.mark.parametrize("session_id", [str(uuid.uuid4()), "nope"])
async def test_restore_of_an_unknown_session_is_404(client, data_dir, session_id) -> None:
    await create(client)
    before = session_files(data_dir)
    await expect_error(client, await client.post(f"/api/sessions/{session_id}/restore"), 404)
    assert session_files(data_dir) == before


# -- If-Match on every write route --------------------------------------------------------------

# name: (method, path under the session, body, success status)
WRITES: dict[str, tuple[str, str, Any, int]] = {
    "rename": ("PUT", "", {"title": "renamed"}, 200),
    "delete session": ("DELETE", "", None, 204),
    "add message": ("POST", "/messages", {"role": "user", "content": "x"}, 201),
    "clear messages": ("DELETE", "/messages", None, 200),
    "edit message": ("PATCH", "/messages/{message}", {"content": "y"}, 200),
    "delete message": ("DELETE", "/messages/{message}", None, 204),
    "restore": ("POST", "/restore", None, 200),
    "fork": ("POST", "/fork", {}, 201),
}


@pytest.mark.parametrize("route", list(WRITES))
@pytest.mark.parametrize("if_match", ["stale", "ahead", "zero", "garbage", "huge"])
async def test_a_stale_if_match_is_412_on_every_write_route(
    client, data_dir, route, if_match
) -> None:
    method, path, body, status = WRITES[route]
    sid, messages = await conversation(client)
    if route == "restore":
        assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    version = len(await history(client, sid))
    url = f"/api/sessions/{sid}{path.format(message=messages[0]['id'])}"
    tag = {
        "stale": f'"{version - 1}"',
        "ahead": f'"{version + 1}"',
        "zero": '"0"',
        "garbage": "not-a-tag",
        "huge": f'"{"9" * 5000}"',  # past Python's int() digit limit: never a 500
    }[if_match]
    before_log, before_files = log_bytes(data_dir, sid), session_files(data_dir)

    response = await client.request(method, url, json=body, headers={"If-Match": tag})
    error = await expect_error(client, response, 412)
    assert error["code"] == "precondition_failed"
    assert log_bytes(data_dir, sid) == before_log
    assert session_files(data_dir) == before_files

    # The current version passes the same check.
    response = await client.request(method, url, json=body, headers={"If-Match": f'"{version}"'})
    assert response.status == status, await response.text()


# -- under a memory budget ------------------------------------------------------------------------


async def cool(client: Any, session_id: str) -> None:
    """Use another session, so that under `cache_mb=0` `session_id` keeps no messages in memory."""
    other = (await create(client, title="Elsewhere"))["id"]
    await add(client, other, "warm this one instead")
    health = await (await client.get("/api/health")).json()
    assert health["cache"]["hot_sessions"] == 1, health["cache"]


async def test_editing_cold_sessions(make_client) -> None:
    client = await make_client(cache_mb=0)
    sid, messages = await conversation(client, title="Cold")
    await cool(client, sid)
    response = await client.patch(
        f"/api/sessions/{sid}/messages/{messages[0]['id']}", json={"content": "edited cold"}
    )
    assert response.status == 200
    assert await response.json() == {**messages[0], "content": "edited cold"}
    await cool(client, sid)
    response = await client.delete(f"/api/sessions/{sid}/messages/{messages[1]['id']}")
    assert response.status == 204
    await cool(client, sid)
    _, forked = await fork(client, sid, message_id=messages[2]["id"])
    assert [m["content"] for m in forked["messages"]] == ["edited cold", "And a projector?"]
    await cool(client, sid)
    _, at_version = await fork(client, sid, version=4)
    assert at_version["messages"] == messages
    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    await cool(client, sid)
    response = await client.post(f"/api/sessions/{sid}/restore")
    assert response.status == 200
    restored = await response.json()
    assert [m["content"] for m in restored["messages"]] == ["edited cold", "And a projector?"]
    assert restored["version"] == 8
    await cool(client, sid)
    assert await fetch(client, sid) == restored
