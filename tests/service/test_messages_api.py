"""The message routes of SPEC §4 over HTTP: append, clear, auto-title, limits and errors.

Rejected writes are checked on the session log's bytes: a 4xx must append nothing.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.service.expect import (
    JSON_HEADERS,
    MESSAGE_KEYS,
    MIB,
    SESSION_KEYS,
    body_id,
    check_id,
    etag_version,
    event_types,
    expect_error,
    log_file,
    when,
)

# -- helpers ----------------------------------------------------------------------------------


def check_message(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict)
    assert set(body) == MESSAGE_KEYS
    check_id(body["id"])
    assert isinstance(body["content"], str)
    when(body["timestamp"])
    return body


def check_session(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict)
    assert set(body) == SESSION_KEYS
    assert when(body["created_at"]) <= when(body["updated_at"])
    assert body["message_count"] == len(body["messages"])
    for message in body["messages"]:
        check_message(message)
    return body


async def create(client: Any, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/sessions", json=body)
    assert response.status == 201
    return check_session(await response.json())


async def fetch(client: Any, session_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/sessions/{session_id}")
    assert response.status == 200
    return check_session(await response.json())


async def post_message(client: Any, session_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/sessions/{session_id}/messages", json=body)
    assert response.status == 201, await response.text()
    return check_message(await response.json())


def log_bytes(data_dir: Path, session_id: str) -> bytes:
    return log_file(data_dir, session_id).read_bytes()


def log_types(data_dir: Path, session_id: str) -> list[str]:
    return event_types(log_bytes(data_dir, session_id))


def content_body(content: str) -> io.BytesIO:
    """A message body with raw UTF-8 (no \\u escapes), file-like so aiohttp sends it quietly."""
    return io.BytesIO(orjson.dumps({"role": "user", "content": content}))


# -- append -----------------------------------------------------------------------------------


async def test_post_message_returns_201_with_the_message(client, data_dir) -> None:
    session = await create(client)
    response = await client.post(
        f"/api/sessions/{session['id']}/messages",
        json={
            "role": "user",
            "content": "Hello!",
            "agent": "conversational",
            "model": "qwen2.5:1.5b",
        },
    )
    assert response.status == 201
    assert response.content_type == "application/json"
    message = check_message(await response.json())
    assert message["role"] == "user"
    assert message["content"] == "Hello!"
    assert message["agent"] == "conversational"
    assert message["model"] == "qwen2.5:1.5b"
    assert etag_version(response) == 2
    after = await fetch(client, session["id"])
    assert after["messages"] == [message]
    assert after["message_count"] == 1
    assert after["version"] == 2
    assert when(after["updated_at"]) >= when(session["updated_at"])
    assert when(message["timestamp"]) >= when(session["created_at"])
    assert log_types(data_dir, session["id"]) == ["session_created", "message_added"]


async def test_agent_and_model_are_optional(client) -> None:
    session = await create(client)
    message = await post_message(client, session["id"], role="assistant", content="hi")
    assert message["agent"] is None
    assert message["model"] is None
    assert (await fetch(client, session["id"]))["messages"] == [message]


@pytest.mark.parametrize("role", ["system", "user", "assistant", "tool"])
async def test_every_documented_role_is_accepted(client, role) -> None:
    session = await create(client)
    message = await post_message(client, session["id"], role=role, content=f"as {role}")
    assert message["role"] == role


async def test_messages_keep_their_order_and_distinct_ids(client) -> None:
    session = await create(client)
    sent = []
    for i, role in enumerate(["system", "user", "assistant", "tool", "user"]):
        sent.append(await post_message(client, session["id"], role=role, content=f"m{i}"))
    stored = await fetch(client, session["id"])
    assert stored["messages"] == sent
    assert [m["content"] for m in stored["messages"]] == [f"m{i}" for i in range(5)]
    assert len({m["id"] for m in sent}) == 5
    stamps = [when(m["timestamp"]) for m in sent]
    assert stamps == sorted(stamps)
    assert stored["version"] == 6


async def test_content_is_stored_verbatim(client) -> None:
    session = await create(client)
    content = '  line one\n\tline "two" \\ 🚀 \u0000 end  '
    message = await post_message(client, session["id"], role="user", content=content)
    assert message["content"] == content
    assert (await fetch(client, session["id"]))["messages"][0]["content"] == content


async def test_empty_content_is_a_string_and_accepted(client) -> None:
    session = await create(client)
    message = await post_message(client, session["id"], role="assistant", content="")
    assert message["content"] == ""


async def test_content_of_exactly_1_mib_is_accepted(client) -> None:
    session = await create(client)
    content = "a" * MIB
    response = await client.post(
        f"/api/sessions/{session['id']}/messages",
        data=content_body(content),
        headers=JSON_HEADERS,
    )
    assert response.status == 201
    assert (await response.json())["content"] == content


async def test_content_over_1_mib_is_422(client, data_dir) -> None:
    session = await create(client)
    before = log_bytes(data_dir, session["id"])
    response = await client.post(
        f"/api/sessions/{session['id']}/messages",
        data=content_body("a" * (MIB + 1)),
        headers=JSON_HEADERS,
    )
    await expect_error(client, response, 422, field="content")
    assert log_bytes(data_dir, session["id"]) == before


async def test_content_limit_counts_utf8_bytes_not_characters(client, data_dir) -> None:
    session = await create(client)
    # "€" is 3 bytes in UTF-8: 349,526 of them are 1,048,578 bytes but only 349,526 characters.
    too_big = "€" * (MIB // 3 + 1)
    assert len(too_big) < MIB < len(too_big.encode())
    before = log_bytes(data_dir, session["id"])
    response = await client.post(
        f"/api/sessions/{session['id']}/messages",
        data=content_body(too_big),
        headers=JSON_HEADERS,
    )
    await expect_error(client, response, 422, field="content")
    assert log_bytes(data_dir, session["id"]) == before
    fits = "€" * (MIB // 3) + "a"  # 1,048,576 bytes exactly
    assert len(fits.encode()) == MIB
    response = await client.post(
        f"/api/sessions/{session['id']}/messages", data=content_body(fits), headers=JSON_HEADERS
    )
    assert response.status == 201
    assert (await response.json())["content"] == fits


# -- auto-title -------------------------------------------------------------------------------


async def test_first_user_message_sets_the_title(client) -> None:
    session = await create(client)
    assert session["title"] == "New Chat"
    await post_message(client, session["id"], role="user", content="Hello!")
    assert (await fetch(client, session["id"]))["title"] == "Hello!"


async def test_auto_title_collapses_whitespace_and_cuts_at_50(client) -> None:
    session = await create(client)
    words = "  What   is\tthe\n\nbest way  to " + "learn " * 20
    await post_message(client, session["id"], role="user", content=words)
    title = (await fetch(client, session["id"]))["title"]
    assert title == " ".join(words.split())[:50]
    assert len(title) == 50
    assert title.startswith("What is the best way to learn")


async def test_auto_title_keeps_a_short_message_whole(client) -> None:
    session = await create(client)
    await post_message(client, session["id"], role="user", content=" short\n question ")
    summaries = await (await client.get("/api/sessions")).json()
    assert summaries[0]["title"] == "short question"


@pytest.mark.parametrize("role", ["assistant", "system", "tool"])
async def test_non_user_messages_do_not_set_the_title(client, role) -> None:
    session = await create(client)
    await post_message(client, session["id"], role=role, content="I am not a title")
    assert (await fetch(client, session["id"]))["title"] == "New Chat"
    await post_message(client, session["id"], role="user", content="Now the user speaks")
    assert (await fetch(client, session["id"]))["title"] == "Now the user speaks"


async def test_later_user_messages_keep_the_auto_title(client) -> None:
    session = await create(client)
    await post_message(client, session["id"], role="user", content="First question")
    await post_message(client, session["id"], role="assistant", content="An answer")
    await post_message(client, session["id"], role="user", content="Second question")
    assert (await fetch(client, session["id"]))["title"] == "First question"


async def test_a_title_set_at_create_is_never_overwritten(client) -> None:
    session = await create(client, title="My title")
    await post_message(client, session["id"], role="user", content="Hello there")
    assert (await fetch(client, session["id"]))["title"] == "My title"


async def test_a_renamed_title_is_never_overwritten(client) -> None:
    session = await create(client)
    response = await client.put(f"/api/sessions/{session['id']}", json={"title": "Renamed"})
    assert response.status == 200
    await post_message(client, session["id"], role="user", content="Hello there")
    assert (await fetch(client, session["id"]))["title"] == "Renamed"


async def test_rename_after_auto_title_wins_and_sticks(client) -> None:
    session = await create(client)
    await post_message(client, session["id"], role="user", content="Auto")
    await client.put(f"/api/sessions/{session['id']}", json={"title": "Manual"})
    await post_message(client, session["id"], role="user", content="More")
    assert (await fetch(client, session["id"]))["title"] == "Manual"


async def test_auto_title_never_cuts_a_user_perceived_character(client) -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    flag = "\U0001f1fa\U0001f1e6"
    for content, title in [
        ("x" * 49 + family + " and more", "x" * 49 + family),
        ("x" * 48 + flag + flag + flag, "x" * 48 + flag + flag),
        ("Cafe\u0301 " * 12, "Cafe\u0301 " * 10),  # 50 clusters; 60 code points
    ]:
        session = await create(client)
        await post_message(client, session["id"], role="user", content=content)
        assert (await fetch(client, session["id"]))["title"] == title
        summaries = await (await client.get("/api/sessions")).json()
        assert summaries[0]["title"] == title


async def test_a_message_that_shows_nothing_leaves_new_chat_to_the_next(client) -> None:
    session = await create(client)
    for blank in ["\u200b", " \u200c\u200d\u2060\ufeff ", "\u00ad\x07"]:
        await post_message(client, session["id"], role="user", content=blank)
        assert (await fetch(client, session["id"]))["title"] == "New Chat"
    await post_message(client, session["id"], role="user", content="\ufeff Finally words")
    await post_message(client, session["id"], role="user", content="Not the title")
    assert (await fetch(client, session["id"]))["title"] == "Finally words"
    summaries = await (await client.get("/api/sessions")).json()
    assert summaries[0]["title"] == "Finally words"


async def test_auto_title_is_no_event(client, data_dir) -> None:
    session = await create(client)
    await post_message(client, session["id"], role="user", content="Title me")
    assert log_types(data_dir, session["id"]) == ["session_created", "message_added"]
    assert (await fetch(client, session["id"]))["version"] == 2


# -- clear ------------------------------------------------------------------------------------


async def test_delete_messages_clears_and_returns_the_session(client, data_dir) -> None:
    session = await create(client, metadata={"k": "v"})
    for i in range(3):
        await post_message(client, session["id"], role="user", content=f"m{i}")
    response = await client.delete(f"/api/sessions/{session['id']}/messages")
    assert response.status == 200
    assert response.content_type == "application/json"
    body = check_session(await response.json())
    assert body["id"] == session["id"]
    assert body["messages"] == []
    assert body["message_count"] == 0
    assert body["metadata"] == {"k": "v"}
    assert body["version"] == 5
    assert etag_version(response) == 5
    assert await fetch(client, session["id"]) == body
    summaries = await (await client.get("/api/sessions")).json()
    assert summaries[0]["message_count"] == 0
    assert log_types(data_dir, session["id"])[-1] == "messages_cleared"
    again = await post_message(client, session["id"], role="user", content="fresh")
    assert (await fetch(client, session["id"]))["messages"] == [again]


async def test_clearing_an_empty_session_appends_nothing(client, data_dir) -> None:
    """SPEC §12: a write that changes nothing is no event (it used to be one)."""
    session = await create(client)
    response = await client.delete(f"/api/sessions/{session['id']}/messages")
    assert response.status == 200
    assert etag_version(response) == 1
    body = check_session(await response.json())
    assert body == session
    assert log_types(data_dir, session["id"]) == ["session_created"]


# -- optimistic concurrency -------------------------------------------------------------------


async def test_if_match_current_version_appends(client) -> None:
    session = await create(client)
    response = await client.post(
        f"/api/sessions/{session['id']}/messages",
        json={"role": "user", "content": "guarded"},
        headers={"If-Match": '"1"'},
    )
    assert response.status == 201
    assert etag_version(response) == 2
    response = await client.delete(
        f"/api/sessions/{session['id']}/messages", headers={"If-Match": '"2"'}
    )
    assert response.status == 200
    assert etag_version(response) == 3


@pytest.mark.parametrize("if_match", ['"1"', '"2"', '"4"', '"0"'])
async def test_stale_if_match_on_post_message_is_412(client, data_dir, if_match) -> None:
    session = await create(client)
    await post_message(client, session["id"], role="user", content="one")
    await post_message(client, session["id"], role="assistant", content="two")
    before_bytes = log_bytes(data_dir, session["id"])
    before = await fetch(client, session["id"])
    assert before["version"] == 3
    response = await client.post(
        f"/api/sessions/{session['id']}/messages",
        json={"role": "user", "content": "lost"},
        headers={"If-Match": if_match},
    )
    await expect_error(client, response, 412)
    assert log_bytes(data_dir, session["id"]) == before_bytes
    assert await fetch(client, session["id"]) == before


async def test_stale_if_match_on_clear_is_412(client, data_dir) -> None:
    session = await create(client)
    await post_message(client, session["id"], role="user", content="keep me")
    before_bytes = log_bytes(data_dir, session["id"])
    response = await client.delete(
        f"/api/sessions/{session['id']}/messages", headers={"If-Match": '"1"'}
    )
    await expect_error(client, response, 412)
    assert log_bytes(data_dir, session["id"]) == before_bytes
    assert (await fetch(client, session["id"]))["message_count"] == 1


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": "no role"}, "role"),
        ({"role": "user"}, "content"),
        ({}, "role"),
        ({"role": "admin", "content": "x"}, "role"),
        ({"role": "USER", "content": "x"}, "role"),
        ({"role": "", "content": "x"}, "role"),
        ({"role": None, "content": "x"}, "role"),
        ({"role": 1, "content": "x"}, "role"),
        ({"role": ["user"], "content": "x"}, "role"),
        ({"role": {"name": "user"}, "content": "x"}, "role"),
        ({"role": "user", "content": None}, "content"),
        ({"role": "user", "content": 42}, "content"),
        ({"role": "user", "content": True}, "content"),
        ({"role": "user", "content": ["x"]}, "content"),
        ({"role": "user", "content": {"text": "x"}}, "content"),
        ({"role": "user", "content": "x", "agent": 1}, "agent"),
        ({"role": "user", "content": "x", "agent": ["a"]}, "agent"),
        ({"role": "user", "content": "x", "model": 1.5}, "model"),
        ({"role": "user", "content": "x", "model": {"m": 1}}, "model"),
        ({"role": "user", "content": "x", "timestamp": "2025-01-01T00:00:00Z"}, "timestamp"),
        ({"role": "user", "content": "x", "id": "abc"}, "id"),
        ({"role": "user", "content": "x", "text": "y"}, "text"),
    ],
    ids=body_id,
)
async def test_invalid_message_fields_are_422(client, data_dir, body, field) -> None:
    session = await create(client)
    before = log_bytes(data_dir, session["id"])
    response = await client.post(f"/api/sessions/{session['id']}/messages", json=body)
    await expect_error(client, response, 422, field=field)
    assert log_bytes(data_dir, session["id"]) == before
    assert await fetch(client, session["id"]) == session


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"role": "user", "content": }', b"\xc3\x28", b"[]", b'"user"', b"0", b"null"],
    ids=["empty", "unclosed", "no-value", "bad-utf8", "array", "string", "number", "null"],
)
async def test_malformed_or_non_object_body_is_400(client, data_dir, raw) -> None:
    session = await create(client)
    response = await client.post(
        f"/api/sessions/{session['id']}/messages", data=raw, headers=JSON_HEADERS
    )
    await expect_error(client, response, 400)
    assert log_types(data_dir, session["id"]) == ["session_created"]


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x"])
async def test_wrong_content_type_is_415(client, data_dir, content_type) -> None:
    session = await create(client)
    response = await client.post(
        f"/api/sessions/{session['id']}/messages",
        data=b'{"role": "user", "content": "x"}',
        headers={"Content-Type": content_type},
    )
    await expect_error(client, response, 415)
    assert log_types(data_dir, session["id"]) == ["session_created"]


async def test_body_over_2_mib_is_413(client, data_dir) -> None:
    session = await create(client)
    core = b'{"role": "user", "content": "x"}'
    response = await client.post(
        f"/api/sessions/{session['id']}/messages",
        data=io.BytesIO(core + b" " * (2 * MIB + 1 - len(core))),
        headers=JSON_HEADERS,
    )
    await expect_error(client, response, 413)
    assert log_types(data_dir, session["id"]) == ["session_created"]


async def test_small_max_body_applies_to_messages(make_client, data_dir) -> None:
    client = await make_client(max_body=4096)
    session = await create(client)
    response = await client.post(
        f"/api/sessions/{session['id']}/messages",
        data=content_body("x" * 5000),
        headers=JSON_HEADERS,
    )
    await expect_error(client, response, 413)
    assert log_types(data_dir, session["id"]) == ["session_created"]
    await post_message(client, session["id"], role="user", content="x" * 4000)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_messages_of_an_unknown_session_are_404(client, data_dir, method) -> None:
    await create(client)
    before = sorted(p.name for p in (data_dir / "sessions").iterdir())
    response = await client.request(
        method,
        f"/api/sessions/{uuid.uuid4()}/messages",
        json={"role": "user", "content": "x"} if method == "POST" else None,
    )
    await expect_error(client, response, 404)
    assert sorted(p.name for p in (data_dir / "sessions").iterdir()) == before


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_messages_of_a_deleted_session_are_404(client, data_dir, method) -> None:
    session = await create(client)
    assert (await client.delete(f"/api/sessions/{session['id']}")).status == 204
    before = log_bytes(data_dir, session["id"])
    response = await client.request(
        method,
        f"/api/sessions/{session['id']}/messages",
        json={"role": "user", "content": "x"} if method == "POST" else None,
    )
    await expect_error(client, response, 404)
    assert log_bytes(data_dir, session["id"]) == before


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_wrong_method_on_messages_is_405(client, method) -> None:
    session = await create(client)
    response = await client.request(
        method, f"/api/sessions/{session['id']}/messages", json={"role": "user", "content": "x"}
    )
    await expect_error(client, response, 405)
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "POST", "DELETE"} <= allowed
    assert (await fetch(client, session["id"]))["message_count"] == 0
