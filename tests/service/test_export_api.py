"""GET /api/sessions/{id}/export: the session for keeping, as JSON with its events or Markdown."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.service.expect import etag_version, expect_error, log_file


async def conversation(client: Any) -> str:
    response = await client.post("/api/sessions", json={"title": "Kept"})
    sid: str = (await response.json())["id"]
    for role, content in [("user", "Hello!"), ("assistant", "Hi, how can I help?")]:
        response = await client.post(
            f"/api/sessions/{sid}/messages", json={"role": role, "content": content}
        )
        assert response.status == 201
    return sid


async def export(client: Any, sid: str, kind: str) -> Any:
    response = await client.get(f"/api/sessions/{sid}/export?format={kind}")
    assert response.status == 200, await response.text()
    return response


async def test_json_export_is_the_session_and_every_event(client) -> None:
    sid = await conversation(client)
    response = await export(client, sid, "json")
    body = await response.json()
    session = await (await client.get(f"/api/sessions/{sid}")).json()
    events = await (await client.get(f"/api/sessions/{sid}/events")).json()
    assert body == {"session": session, "events": events}
    assert etag_version(response) == 3
    assert f'filename="{sid}.json"' in response.headers["Content-Disposition"]


async def test_markdown_export_is_a_transcript(client) -> None:
    sid = await conversation(client)
    response = await export(client, sid, "markdown")
    assert response.content_type == "text/markdown"
    text = await response.text()
    assert text.startswith("# Kept\n")
    assert text.index("Hello!") < text.index("Hi, how can I help?")
    assert f'filename="{sid}.md"' in response.headers["Content-Disposition"]


async def test_export_of_a_deleted_then_restored_session_holds_its_whole_history(
    client,
) -> None:
    sid = await conversation(client)
    assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    await expect_error(client, await client.get(f"/api/sessions/{sid}/export"), 404)
    assert (await client.post(f"/api/sessions/{sid}/restore")).status == 200
    body = await (await export(client, sid, "json")).json()
    assert [e["type"] for e in body["events"]] == [
        "session_created",
        "message_added",
        "message_added",
        "session_deleted",
        "session_restored",
    ]
    assert [m["content"] for m in body["session"]["messages"]] == [
        "Hello!",
        "Hi, how can I help?",
    ]
    assert "deleted" not in body["session"]
    assert "Hi, how can I help?" in await (await export(client, sid, "markdown")).text()


@pytest.mark.parametrize("kind", ["xml", "", "JSON", "markdown2"])
async def test_an_unknown_format_is_422(client, data_dir, kind) -> None:
    sid = await conversation(client)
    before = log_file(data_dir, sid).read_bytes()
    response = await client.get(f"/api/sessions/{sid}/export?format={kind}")
    error = await expect_error(client, response, 422)
    assert error["field"] == "format"
    assert log_file(data_dir, sid).read_bytes() == before


@pytest.mark.parametrize("session_id", [str(uuid.uuid4()), "nope", "..%2f..%2fetc"])
async def test_export_of_an_unknown_session_is_404(client, session_id) -> None:
    await conversation(client)
    await expect_error(client, await client.get(f"/api/sessions/{session_id}/export"), 404)
