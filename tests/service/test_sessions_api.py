"""The session routes of SPEC §4 over HTTP: shapes, headers, ordering, paging, versions, errors.

Every test drives the real app on a real temp data dir; every bad request is followed by a health
check, and writes that must not happen are checked on the log file's bytes, not on the API's word.
"""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from tests.service.expect import (
    JSON_HEADERS,
    MIB,
    SESSION_KEYS,
    SUMMARY_KEYS,
    body_id,
    check_id,
    etag_version,
    event_types,
    expect_error,
    log_file,
    when,
)

LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


# -- helpers ----------------------------------------------------------------------------------


def check_summary(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict)
    assert set(body) == SUMMARY_KEYS
    check_id(body["id"])
    assert isinstance(body["title"], str)
    assert body["title"]
    assert when(body["created_at"]) <= when(body["updated_at"])
    assert type(body["version"]) is int
    assert body["version"] >= 1
    assert type(body["message_count"]) is int
    assert body["message_count"] >= 0
    assert isinstance(body["metadata"], dict)
    return body


def check_session(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict)
    assert set(body) == SESSION_KEYS
    check_summary({k: v for k, v in body.items() if k != "messages"})
    assert isinstance(body["messages"], list)
    assert body["message_count"] == len(body["messages"])
    return body


async def create(client: Any, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/sessions", json=body)
    assert response.status == 201, await response.text()
    return check_session(await response.json())


def log_types(data_dir: Path, session_id: str) -> list[str]:
    data = log_file(data_dir, session_id).read_bytes()
    assert data.endswith(b"\n")
    return event_types(data)


def expected_order(summaries: list[dict[str, Any]]) -> list[str]:
    """Ids by updated_at descending, ties by id."""
    by_id = sorted(summaries, key=lambda s: s["id"])
    return [s["id"] for s in sorted(by_id, key=lambda s: when(s["updated_at"]), reverse=True)]


async def list_ids(client: Any) -> list[str]:
    response = await client.get("/api/sessions")
    assert response.status == 200
    return [check_summary(s)["id"] for s in await response.json()]


def next_link(response: Any) -> str | None:
    header = response.headers.get("Link")
    if header is None:
        return None
    match = LINK_NEXT.search(header)
    assert match, header
    target = URL(match.group(1))
    return str(target.relative()) if target.absolute else str(target)


# -- create -----------------------------------------------------------------------------------


async def test_create_with_no_body_is_an_untitled_session(client, data_dir) -> None:
    response = await client.post("/api/sessions")
    assert response.status == 201
    assert response.content_type == "application/json"
    body = check_session(await response.json())
    assert response.headers["Location"] == f"/api/sessions/{body['id']}"
    assert etag_version(response) == body["version"] == 1
    assert body["title"] == "New Chat"
    assert body["metadata"] == {}
    assert body["messages"] == []
    assert body["message_count"] == 0
    assert body["created_at"] == body["updated_at"]
    assert log_types(data_dir, body["id"]) == ["session_created"]


async def test_create_with_an_empty_object(client) -> None:
    response = await client.post("/api/sessions", json={})
    assert response.status == 201
    body = check_session(await response.json())
    assert body["title"] == "New Chat"
    assert body["metadata"] == {}


async def test_create_with_title_and_metadata(client) -> None:
    metadata = {"agent": "conversational", "ünïcode": "värde"}
    response = await client.post("/api/sessions", json={"title": "Hello!", "metadata": metadata})
    assert response.status == 201
    body = check_session(await response.json())
    assert body["title"] == "Hello!"
    assert body["metadata"] == metadata
    fetched = await client.get(response.headers["Location"])
    assert fetched.status == 200
    assert await fetched.json() == body


async def test_create_accepts_json_with_utf8_charset(client) -> None:
    response = await client.post(
        "/api/sessions",
        data='{"title": "Grüße"}'.encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status == 201
    assert (await response.json())["title"] == "Grüße"


async def test_each_create_gets_a_new_id(client, data_dir) -> None:
    ids = {(await create(client))["id"] for _ in range(5)}
    assert len(ids) == 5
    files = {p.name for p in (data_dir / "sessions").iterdir()}
    assert files == {f"{i}.jsonl" for i in ids}


@pytest.mark.parametrize("title", ["x", "x" * 200, "  padded  ", "emoji 🚀"])
async def test_create_accepts_valid_titles(client, title) -> None:
    assert (await create(client, title=title))["title"] == title


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {f"k{i}": str(i) for i in range(16)},
        {"k" * 64: "v"},
        {"k": "v" * 512},
        {"k": ""},
    ],
    ids=["empty", "16-keys", "64-char-key", "512-char-value", "empty-value"],
)
async def test_create_accepts_metadata_at_the_limits(client, metadata) -> None:
    assert (await create(client, metadata=metadata))["metadata"] == metadata


# -- read -------------------------------------------------------------------------------------


async def test_get_returns_the_session_with_its_etag(client) -> None:
    created = await create(client, title="Read me", metadata={"a": "b"})
    response = await client.get(f"/api/sessions/{created['id']}")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == created
    assert etag_version(response) == created["version"]


async def test_list_is_empty_on_a_new_data_dir(client) -> None:
    response = await client.get("/api/sessions")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == []
    assert "Link" not in response.headers


async def test_list_returns_summaries_without_messages(client) -> None:
    first = await create(client, title="one", metadata={"m": "1"})
    second = await create(client)
    message = await client.post(
        f"/api/sessions/{second['id']}/messages", json={"role": "user", "content": "hi there"}
    )
    assert message.status == 201
    response = await client.get("/api/sessions")
    assert response.status == 200
    summaries = await response.json()
    assert isinstance(summaries, list)
    assert len(summaries) == 2
    for summary in summaries:
        check_summary(summary)
        full = await (await client.get(f"/api/sessions/{summary['id']}")).json()
        assert summary == {k: v for k, v in full.items() if k != "messages"}
    by_id = {s["id"]: s for s in summaries}
    assert by_id[first["id"]]["metadata"] == {"m": "1"}
    assert by_id[second["id"]]["message_count"] == 1


async def test_a_listed_summary_follows_every_write(client) -> None:
    # The list serves summaries encoded once per version: each write must show at once.
    session = await create(client, title="before")
    path = f"/api/sessions/{session['id']}"
    writes = [
        ("GET", "", None),
        ("PUT", "", {"title": "after"}),
        ("POST", "/messages", {"role": "user", "content": "one"}),
        ("PUT", "", {"metadata": {"k": "v"}}),
        ("POST", "/messages", {"role": "assistant", "content": "two"}),
        ("DELETE", "/messages", None),
        ("DELETE", "", None),
        ("POST", "/restore", None),
    ]
    for method, suffix, body in writes:
        response = await client.request(method, path + suffix, json=body)
        assert response.status in (200, 201, 204), await response.text()
        listed = await (await client.get("/api/sessions")).json()
        if method == "DELETE" and not suffix:
            assert listed == []
            continue
        full = await (await client.get(path)).json()
        assert listed == [{k: v for k, v in full.items() if k != "messages"}]


async def test_health_reports_ok_and_counts(client) -> None:
    response = await client.get("/api/health")
    assert response.status == 200
    assert response.content_type == "application/json"
    before = await response.json()
    assert before["status"] == "ok"
    assert before["sessions"] == 0
    await create(client)
    gone = await create(client)
    await create(client)
    assert (await client.delete(f"/api/sessions/{gone['id']}")).status == 204
    after = await (await client.get("/api/health")).json()
    assert after["status"] == "ok"
    assert after["sessions"] == 2


# -- ordering and paging ----------------------------------------------------------------------


async def test_list_orders_by_most_recent_activity(client) -> None:
    created = [await create(client, title=f"s{i}") for i in range(4)]
    response = await client.get("/api/sessions")
    summaries = await response.json()
    ids = [s["id"] for s in summaries]
    assert ids == expected_order(summaries)
    assert ids == [s["id"] for s in reversed(created)]


async def test_any_write_bumps_a_session_to_the_top(client) -> None:
    """Any write that changes something, that is: one that changes nothing (a clear of an empty
    session, say) appends nothing and moves nothing (test_no_op_api.py)."""
    a, b, c, d = [await create(client) for _ in range(4)]
    await client.post(f"/api/sessions/{d['id']}/messages", json={"role": "user", "content": "x"})
    bumps = [
        (a, "POST", "/messages", {"role": "assistant", "content": "hello"}),
        (b, "PUT", "", {"title": "renamed"}),
        (c, "PUT", "", {"metadata": {"k": "v"}}),
        (d, "DELETE", "/messages", None),
        (a, "DELETE", "/messages", None),
        (b, "POST", "/messages", {"role": "system", "content": "be brief"}),
    ]
    for session, method, suffix, body in bumps:
        response = await client.request(method, f"/api/sessions/{session['id']}{suffix}", json=body)
        assert response.status in (200, 201), await response.text()
        summaries = await (await client.get("/api/sessions")).json()
        assert summaries[0]["id"] == session["id"]
        assert [s["id"] for s in summaries] == expected_order(summaries)


async def test_paging_with_limit_follows_link_through_every_session(client) -> None:
    for i in range(7):
        await create(client, title=f"page {i}")
    everything = await list_ids(client)
    assert len(everything) == 7
    seen: list[str] = []
    target: str | None = "/api/sessions?limit=3"
    sizes = []
    while target is not None:
        response = await client.get(target)
        assert response.status == 200
        page = await response.json()
        assert isinstance(page, list)
        for summary in page:
            check_summary(summary)
        sizes.append(len(page))
        seen.extend(s["id"] for s in page)
        target = next_link(response)
        assert len(sizes) <= 7, "the Link chain does not end"
    assert sizes == [3, 3, 1]
    assert seen == everything
    assert len(set(seen)) == len(seen)


@pytest.mark.parametrize("limit", [1, 2, 4, 5])
async def test_paging_covers_all_sessions_for_any_limit(client, limit) -> None:
    for _ in range(5):
        await create(client)
    everything = await list_ids(client)
    seen: list[str] = []
    target: str | None = f"/api/sessions?limit={limit}"
    while target is not None:
        response = await client.get(target)
        assert response.status == 200
        page = await response.json()
        assert 1 <= len(page) <= limit
        seen.extend(s["id"] for s in page)
        target = next_link(response)
        assert len(seen) <= len(everything)
    assert seen == everything


async def test_limit_at_least_the_count_has_no_next_link(client) -> None:
    for _ in range(3):
        await create(client)
    for limit in (3, 10):
        response = await client.get(f"/api/sessions?limit={limit}")
        assert response.status == 200
        assert len(await response.json()) == 3
        assert "Link" not in response.headers


async def test_paging_skips_deleted_sessions(client) -> None:
    sessions = [await create(client) for _ in range(5)]
    for gone in sessions[1:3]:
        assert (await client.delete(f"/api/sessions/{gone['id']}")).status == 204
    seen: list[str] = []
    target: str | None = "/api/sessions?limit=2"
    while target is not None:
        response = await client.get(target)
        seen.extend(s["id"] for s in await response.json())
        target = next_link(response)
    assert sorted(seen) == sorted(s["id"] for s in (sessions[0], *sessions[3:]))


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "", "1e3", " 2"])
async def test_invalid_limit_is_422(client, limit) -> None:
    await create(client)
    response = await client.get("/api/sessions", params={"limit": limit})
    await expect_error(client, response, 422, field="limit")


@pytest.mark.parametrize(
    "cursor",
    ["not a cursor!", "AAAA", "e30", "WzEsMl0", "%%%", "x" * 300],
    ids=["garbage", "zeros", "empty-object", "array-of-ints", "percents", "long"],
)
async def test_invalid_cursor_is_422(client, cursor) -> None:
    for _ in range(3):
        await create(client)
    response = await client.get("/api/sessions", params={"limit": "1", "cursor": cursor})
    await expect_error(client, response, 422, field="cursor")


# -- update -----------------------------------------------------------------------------------


async def test_put_renames(client, data_dir) -> None:
    created = await create(client, metadata={"keep": "me"})
    response = await client.put(f"/api/sessions/{created['id']}", json={"title": "Renamed"})
    assert response.status == 200
    body = check_session(await response.json())
    assert body["title"] == "Renamed"
    assert body["metadata"] == {"keep": "me"}
    assert body["version"] == created["version"] + 1
    assert etag_version(response) == body["version"]
    assert when(body["updated_at"]) >= when(created["updated_at"])
    assert body["created_at"] == created["created_at"]
    assert await (await client.get(f"/api/sessions/{created['id']}")).json() == body
    assert log_types(data_dir, created["id"]) == ["session_created", "session_renamed"]


async def test_put_replaces_metadata_whole(client, data_dir) -> None:
    created = await create(client, title="Keep", metadata={"a": "1", "b": "2"})
    response = await client.put(f"/api/sessions/{created['id']}", json={"metadata": {"c": "3"}})
    assert response.status == 200
    body = check_session(await response.json())
    assert body["metadata"] == {"c": "3"}
    assert body["title"] == "Keep"
    assert etag_version(response) == body["version"] == created["version"] + 1
    cleared = await client.put(f"/api/sessions/{created['id']}", json={"metadata": {}})
    assert (await cleared.json())["metadata"] == {}
    assert log_types(data_dir, created["id"]) == [
        "session_created",
        "metadata_updated",
        "metadata_updated",
    ]


async def test_put_title_and_metadata_together(client) -> None:
    created = await create(client)
    response = await client.put(
        f"/api/sessions/{created['id']}", json={"title": "Both", "metadata": {"x": "y"}}
    )
    assert response.status == 200
    body = check_session(await response.json())
    assert (body["title"], body["metadata"]) == ("Both", {"x": "y"})
    assert body["version"] > created["version"]
    assert etag_version(response) == body["version"]
    assert await (await client.get(f"/api/sessions/{created['id']}")).json() == body


# -- delete -----------------------------------------------------------------------------------


async def test_delete_is_204_then_the_session_is_gone_everywhere(client, data_dir) -> None:
    kept = await create(client, title="kept")
    gone = await create(client, title="gone")
    path = f"/api/sessions/{gone['id']}"
    response = await client.delete(path)
    assert response.status == 204
    assert await response.read() == b""
    assert await list_ids(client) == [kept["id"]]
    await expect_error(client, await client.get(path), 404)
    await expect_error(client, await client.put(path, json={"title": "back?"}), 404)
    await expect_error(client, await client.delete(path), 404)
    await expect_error(
        client, await client.post(f"{path}/messages", json={"role": "user", "content": "x"}), 404
    )
    await expect_error(client, await client.delete(f"{path}/messages"), 404)
    # A tombstone: the log stays for audit, and nothing after the delete was appended.
    assert log_types(data_dir, gone["id"]) == ["session_created", "session_deleted"]
    assert (await client.get(f"/api/sessions/{kept['id']}")).status == 200


# -- versions and optimistic concurrency ------------------------------------------------------


async def test_version_counts_events_and_etag_follows_it(client, data_dir) -> None:
    created = await create(client)
    sid = created["id"]
    assert created["version"] == 1
    steps = [
        ("POST", "/messages", {"role": "user", "content": "one"}),
        ("PUT", "", {"title": "T"}),
        ("PUT", "", {"metadata": {"k": "v"}}),
        ("DELETE", "/messages", None),
        ("POST", "/messages", {"role": "assistant", "content": "two"}),
    ]
    for expected, (method, suffix, body) in enumerate(steps, start=2):
        response = await client.request(method, f"/api/sessions/{sid}{suffix}", json=body)
        assert response.status in (200, 201)
        assert etag_version(response) == expected
        fetched = await client.get(f"/api/sessions/{sid}")
        assert (await fetched.json())["version"] == expected
        assert etag_version(fetched) == expected
    assert len(log_types(data_dir, sid)) == len(steps) + 1


async def test_if_match_with_the_current_version_succeeds(client) -> None:
    created = await create(client)
    sid = created["id"]
    response = await client.put(
        f"/api/sessions/{sid}", json={"title": "ok"}, headers={"If-Match": '"1"'}
    )
    assert response.status == 200
    assert etag_version(response) == 2
    response = await client.delete(f"/api/sessions/{sid}", headers={"If-Match": '"2"'})
    assert response.status == 204
    assert (await client.get(f"/api/sessions/{sid}")).status == 404


@pytest.mark.parametrize("if_match", ['"1"', '"3"', '"0"', '"999"'])
async def test_put_with_a_stale_if_match_is_412_and_appends_nothing(
    client, data_dir, if_match
) -> None:
    created = await create(client, title="original")
    sid = created["id"]
    assert (await client.put(f"/api/sessions/{sid}", json={"title": "v2"})).status == 200
    before_bytes = log_file(data_dir, sid).read_bytes()
    before = await (await client.get(f"/api/sessions/{sid}")).json()
    response = await client.put(
        f"/api/sessions/{sid}", json={"title": "lost update"}, headers={"If-Match": if_match}
    )
    await expect_error(client, response, 412)
    assert log_file(data_dir, sid).read_bytes() == before_bytes
    assert await (await client.get(f"/api/sessions/{sid}")).json() == before


async def test_delete_with_a_stale_if_match_is_412_and_keeps_the_session(client, data_dir) -> None:
    created = await create(client)
    sid = created["id"]
    assert (await client.put(f"/api/sessions/{sid}", json={"title": "v2"})).status == 200
    before_bytes = log_file(data_dir, sid).read_bytes()
    response = await client.delete(f"/api/sessions/{sid}", headers={"If-Match": '"1"'})
    await expect_error(client, response, 412)
    assert log_file(data_dir, sid).read_bytes() == before_bytes
    assert (await client.get(f"/api/sessions/{sid}")).status == 200
    assert await list_ids(client) == [sid]


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 123}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": {"a": "b"}}, "title"),
        ({"title": True}, "title"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k" * 65: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"metadata": {"k": True}}, "metadata"),
        ({"metadata": {"k": None}}, "metadata"),
        ({"metadata": {"k": ["v"]}}, "metadata"),
        ({"metadata": {"k": {"nested": "v"}}}, "metadata"),
        ({"metadata": ["k", "v"]}, "metadata"),
        ({"metadata": "k=v"}, "metadata"),
        ({"metadata": 1}, "metadata"),
        ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
        ({"version": 7}, "version"),
        ({"messages": []}, "messages"),
        ({"title": "ok", "colour": "red"}, "colour"),
    ],
    ids=body_id,
)
async def test_invalid_fields_are_422_on_create_and_put(client, data_dir, body, field) -> None:
    response = await client.post("/api/sessions", json=body)
    await expect_error(client, response, 422, field=field)
    assert list((data_dir / "sessions").iterdir()) == []
    created = await create(client, title="before", metadata={"m": "1"})
    before_bytes = log_file(data_dir, created["id"]).read_bytes()
    response = await client.put(f"/api/sessions/{created['id']}", json=body)
    await expect_error(client, response, 422, field=field)
    assert log_file(data_dir, created["id"]).read_bytes() == before_bytes
    assert await (await client.get(f"/api/sessions/{created['id']}")).json() == created
    assert await list_ids(client) == [created["id"]]


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"title": }', b"{'title': 'x'}", b'{"title": "x"} trailing', b"\xff\xfe{}"],
    ids=["unclosed", "no-value", "single-quotes", "trailing", "bad-utf8"],
)
async def test_malformed_json_is_400(client, data_dir, raw) -> None:
    headers = JSON_HEADERS
    await expect_error(client, await client.post("/api/sessions", data=raw, headers=headers), 400)
    assert list((data_dir / "sessions").iterdir()) == []
    created = await create(client)
    response = await client.put(f"/api/sessions/{created['id']}", data=raw, headers=headers)
    await expect_error(client, response, 400)
    assert log_types(data_dir, created["id"]) == ["session_created"]


@pytest.mark.parametrize("raw", [b"[]", b'["title"]', b'"title"', b"42", b"null", b"true"])
async def test_a_body_that_is_no_object_is_400(client, data_dir, raw) -> None:
    headers = JSON_HEADERS
    await expect_error(client, await client.post("/api/sessions", data=raw, headers=headers), 400)
    created = await create(client)
    response = await client.put(f"/api/sessions/{created['id']}", data=raw, headers=headers)
    await expect_error(client, response, 400)
    assert await list_ids(client) == [created["id"]]
    assert log_types(data_dir, created["id"]) == ["session_created"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
async def test_wrong_content_type_is_415(client, data_dir, content_type) -> None:
    raw = b'{"title": "typed"}'
    headers = {"Content-Type": content_type}
    response = await client.post("/api/sessions", data=raw, headers=headers)
    await expect_error(client, response, 415)
    assert list((data_dir / "sessions").iterdir()) == []
    created = await create(client)
    response = await client.put(f"/api/sessions/{created['id']}", data=raw, headers=headers)
    await expect_error(client, response, 415)
    assert log_types(data_dir, created["id"]) == ["session_created"]


def padded(size: int) -> io.BytesIO:
    """A valid JSON object `size` bytes long (whitespace after the object is valid JSON).

    A file-like body: aiohttp warns (an error here) about sending megabytes of raw bytes.
    """
    core = b'{"title": "padded"}'
    return io.BytesIO(core + b" " * (size - len(core)))


async def test_body_over_the_default_limit_is_413(client, data_dir) -> None:
    headers = JSON_HEADERS
    response = await client.post("/api/sessions", data=padded(2 * MIB + 1), headers=headers)
    await expect_error(client, response, 413)
    assert list((data_dir / "sessions").iterdir()) == []
    created = await create(client)
    response = await client.put(
        f"/api/sessions/{created['id']}", data=padded(2 * MIB + 1), headers=headers
    )
    await expect_error(client, response, 413)
    assert log_types(data_dir, created["id"]) == ["session_created"]


async def test_body_of_exactly_the_default_limit_is_accepted(client) -> None:
    response = await client.post("/api/sessions", data=padded(2 * MIB), headers=JSON_HEADERS)
    assert response.status == 201
    assert (await response.json())["title"] == "padded"


async def test_a_smaller_max_body_is_enforced(make_client, data_dir) -> None:
    client = await make_client(max_body=1024)
    headers = JSON_HEADERS
    response = await client.post("/api/sessions", data=padded(1025), headers=headers)
    await expect_error(client, response, 413)
    assert list((data_dir / "sessions").iterdir()) == []
    response = await client.post("/api/sessions", data=padded(1024), headers=headers)
    assert response.status == 201


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize(
    "session_id",
    [str(uuid.uuid4()), "not-a-uuid", "12345", str(uuid.uuid4()).replace("-", "")],
    ids=["unknown-uuid", "word", "number", "no-dashes"],
)
async def test_unknown_session_is_404(client, data_dir, method, session_id) -> None:
    await create(client)
    before = sorted(p.name for p in (data_dir / "sessions").iterdir())
    body = {"title": "x"} if method == "PUT" else None
    response = await client.request(method, f"/api/sessions/{session_id}", json=body)
    await expect_error(client, response, 404)
    assert sorted(p.name for p in (data_dir / "sessions").iterdir()) == before


@pytest.mark.parametrize(
    "path", ["/api/nope", "/api/sessions/x/y/z", "/nope", "/api", "/api/session", "/static/x"]
)
async def test_unknown_path_is_404(client, path) -> None:
    await expect_error(client, await client.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/api/sessions", "POST"),
        ("DELETE", "/api/sessions", "GET"),
        ("PUT", "/api/sessions", "POST"),
        ("POST", "/api/sessions/{id}", "GET"),
        ("PATCH", "/api/sessions/{id}", "PUT"),
        ("PATCH", "/api/sessions/{id}/messages", "POST"),
        ("GET", "/api/sessions/{id}/current", "PUT"),
        ("PUT", "/api/sessions/{id}/messages", "DELETE"),
        ("POST", "/api/health", "GET"),
    ],
)
async def test_wrong_method_is_405(client, data_dir, method, path, allowed) -> None:
    created = await create(client)
    response = await client.request(method, path.format(id=created["id"]), json={})
    await expect_error(client, response, 405)
    assert allowed in {m.strip() for m in response.headers["Allow"].split(",")}
    assert log_types(data_dir, created["id"]) == ["session_created"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "", {"title": "renamed"}),
        ("DELETE", "", None),
        ("POST", "/messages", {"role": "user", "content": "x"}),
        ("DELETE", "/messages", None),
    ],
)
@pytest.mark.parametrize("tag", ['"1"', '"2"', '"7"'])
async def test_a_write_to_a_deleted_session_is_404_whatever_its_if_match(
    client, data_dir, method, path, body, tag
) -> None:
    sid = (await create(client))["id"]
    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    before = log_file(data_dir, sid).read_bytes()
    response = await client.request(
        method, f"/api/sessions/{sid}{path}", json=body, headers={"If-Match": tag}
    )
    await expect_error(client, response, 404)
    assert log_file(data_dir, sid).read_bytes() == before
