"""Writes that change nothing, over HTTP (SPEC §12): no event, and 200 with the unchanged version.

A rename to the same title, the same metadata, an edit to the same text, a clear of an empty
session and a settings PATCH to the values set answer exactly as the route answers a real change
(200, the body, an ETag), with the version the client already had; the log gains no line, the
session keeps its updated_at and its place in the list, and nobody's If-Match goes stale. The
preconditions still come first: a stale If-Match is 412, a deleted session 404.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

from tests.service.expect import etag_version, expect_error, log_file


@frozen
class Write:
    """One request: to a session (`{sid}` and `{mid}` filled in) or to the settings."""

    method: str
    path: str
    body: dict[str, Any] | None


# What each route does to the session that _sessions() makes: a no-op, and a real change.
NO_OPS: dict[str, Write] = {
    "rename to the same title": Write("PUT", "/api/sessions/{sid}", {"title": "Plans"}),
    "the same metadata": Write(
        "PUT", "/api/sessions/{sid}", {"metadata": {"tier": "1", "team": "edge"}}
    ),
    "title and metadata the same": Write(
        "PUT", "/api/sessions/{sid}", {"title": "Plans", "metadata": {"team": "edge", "tier": "1"}}
    ),
    "edit to the same text": Write(
        "PATCH", "/api/sessions/{sid}/messages/{mid}", {"content": "The edge."}
    ),
    "clear an empty session": Write("DELETE", "/api/sessions/{empty}/messages", None),
}
CHANGES: dict[str, Write] = {
    "rename to the same title": Write("PUT", "/api/sessions/{sid}", {"title": "Plans v2"}),
    "the same metadata": Write("PUT", "/api/sessions/{sid}", {"metadata": {"team": "core"}}),
    "title and metadata the same": Write(
        "PUT", "/api/sessions/{sid}", {"title": "Plans", "metadata": {}}
    ),
    "edit to the same text": Write(
        "PATCH", "/api/sessions/{sid}/messages/{mid}", {"content": "The core."}
    ),
    "clear an empty session": Write("DELETE", "/api/sessions/{sid}/messages", None),
}


async def _json(response: Any, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def _sessions(client: Any) -> dict[str, str]:
    """Ids of a titled session with metadata and two messages ({sid}, its second message
    {mid}), an empty one ({empty}), and a newer third, so that a write moving either of the
    first two would move it up the list."""
    ids: dict[str, str] = {}
    body = {"title": "Plans", "metadata": {"team": "edge", "tier": "1"}}
    ids["sid"] = (await _json(await client.post("/api/sessions", json=body), 201))["id"]
    for role, content in [("user", "What first?"), ("assistant", "The edge.")]:
        message = {"role": role, "content": content}
        posted = await client.post(f"/api/sessions/{ids['sid']}/messages", json=message)
        ids["mid"] = (await _json(posted, 201))["id"]
    ids["empty"] = (await _json(await client.post("/api/sessions", json={"title": "E"}), 201))["id"]
    await _json(await client.post("/api/sessions", json={"title": "Newest"}), 201)
    return ids


def _target(write: Write, ids: dict[str, str]) -> str:
    return ids["empty"] if "{empty}" in write.path else ids["sid"]


async def _send(
    client: Any, write: Write, ids: dict[str, str], headers: dict[str, str] | None = None
) -> Any:
    return await client.request(
        write.method, write.path.format(**ids), json=write.body, headers=headers or {}
    )


async def _state(client: Any, data_dir: Path, session_id: str) -> dict[str, Any]:
    """What a write could move: the session, the list, the global feed and the log's lines."""
    return {
        "session": await _json(await client.get(f"/api/sessions/{session_id}")),
        "list": await _json(await client.get("/api/sessions")),
        "feed": await _json(await client.get("/api/events", params={"limit": 1000})),
        "lines": log_file(data_dir, session_id).read_bytes().count(b"\n"),
    }


@pytest.mark.parametrize("name", list(NO_OPS))
async def test_a_no_op_answers_200_with_the_unchanged_version_and_appends_nothing(
    client, data_dir, name: str
) -> None:
    ids = await _sessions(client)
    write = NO_OPS[name]
    session_id = _target(write, ids)
    before = await _state(client, data_dir, session_id)
    version = before["session"]["version"]

    for headers in [None, {"If-Match": f'"{version}"'}, {"If-Match": "*"}]:
        response = await _send(client, write, ids, headers)
        assert response.status == 200, await response.text()
        assert response.content_type == "application/json"
        assert etag_version(response) == version
        body = await response.json()
        if write.method == "PATCH":  # an edit answers with the message
            assert body == before["session"]["messages"][1]
        else:
            assert body == before["session"]
        assert await _state(client, data_dir, session_id) == before

    # The same route answers a real change with the same status, and a version further on.
    at = (await _json(await client.get(f"/api/sessions/{ids['sid']}")))["version"]
    changed = await _send(client, CHANGES[name], ids, {"If-Match": f'"{at}"'})
    assert changed.status == response.status == 200
    assert etag_version(changed) == at + 1
    after = await _state(client, data_dir, ids["sid"])
    assert after["list"][0]["id"] == ids["sid"]


@pytest.mark.parametrize("name", list(NO_OPS))
async def test_a_no_op_with_a_stale_if_match_is_412(client, data_dir, name: str) -> None:
    ids = await _sessions(client)
    write = NO_OPS[name]
    session_id = _target(write, ids)
    version = (await _state(client, data_dir, session_id))["session"]["version"]
    # Another client's write moves the version on, and leaves what the no-op asks for as it is.
    await _json(
        await client.post(
            f"/api/sessions/{session_id}/messages", json={"role": "system", "content": "later"}
        ),
        201,
    )
    if "{empty}" in write.path:
        await _json(await client.delete(f"/api/sessions/{session_id}/messages"))
    before = await _state(client, data_dir, session_id)
    response = await _send(client, write, ids, {"If-Match": f'"{version}"'})
    await expect_error(client, response, 412)
    assert await _state(client, data_dir, session_id) == before


@pytest.mark.parametrize("name", list(NO_OPS))
async def test_a_no_op_on_a_deleted_session_is_404(client, data_dir, name: str) -> None:
    ids = await _sessions(client)
    write = NO_OPS[name]
    session_id = _target(write, ids)
    assert (await client.delete(f"/api/sessions/{session_id}")).status == 204
    lines = log_file(data_dir, session_id).read_bytes()
    await expect_error(client, await _send(client, write, ids), 404)
    assert log_file(data_dir, session_id).read_bytes() == lines


async def test_a_retried_rename_is_answered_from_the_state_it_left(client, data_dir) -> None:
    """PUT, PATCH and DELETE take no Idempotency-Key: they are idempotent as HTTP means it, and
    a retry of one that was applied now changes nothing, so it appends nothing. It is answered
    with the session as it stands, which is the first answer while nothing else wrote."""
    ids = await _sessions(client)
    path = f"/api/sessions/{ids['sid']}"
    headers = {"Idempotency-Key": "rename-1"}
    first = await client.put(path, json={"title": "Renamed"}, headers=headers)
    first_body = await _json(first)
    lines = log_file(data_dir, ids["sid"]).read_bytes()
    for _ in range(2):
        retry = await client.put(path, json={"title": "Renamed"}, headers=headers)
        assert await _json(retry) == first_body
        assert retry.headers["ETag"] == first.headers["ETag"]
    assert log_file(data_dir, ids["sid"]).read_bytes() == lines
    # A key on a request that changed nothing holds nothing: its retry is decided again.
    again = await client.put(path, json={"title": "Renamed"}, headers={"Idempotency-Key": "k2"})
    assert await _json(again) == first_body
    assert log_file(data_dir, ids["sid"]).read_bytes() == lines


async def test_a_settings_patch_to_the_values_set_answers_the_unchanged_version(
    client, data_dir
) -> None:
    settings_log = data_dir / "settings.jsonl"
    defaults = await client.get("/api/settings")
    assert etag_version(defaults) == 0
    same = await client.patch("/api/settings", json={"theme": "dark", "max_tokens": 2048})
    assert await _json(same) == await defaults.json()
    assert etag_version(same) == 0
    assert not settings_log.exists()

    changed = await client.patch("/api/settings", json={"theme": "light", "temperature": 1})
    changed_body = await _json(changed)
    version = etag_version(changed)
    lines = settings_log.read_bytes()
    for patch in [{"theme": "light"}, {"temperature": 1.0, "language": "en"}, {}]:
        for headers in [{}, {"If-Match": f'"{version}"'}, {"Idempotency-Key": "patch-1"}]:
            response = await client.patch("/api/settings", json=patch, headers=headers)
            assert await _json(response) == changed_body
            assert etag_version(response) == version
    assert settings_log.read_bytes() == lines
    stale = await client.patch(
        "/api/settings", json={"theme": "light"}, headers={"If-Match": f'"{version - 1}"'}
    )
    await expect_error(client, stale, 412)
    assert settings_log.read_bytes() == lines
