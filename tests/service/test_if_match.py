"""If-Match as RFC 9110 §13.1.1 has it (SPEC §12), on every route that honours it.

A list of entity tags matches when any of them is the current ETag; `*` matches the session or
the settings as they are; a weak tag never matches (If-Match compares strongly), and neither does
a tag that is not byte for byte an ETag the service gave ("07" is not "7"). A header that is no
list of entity tags names no version: 412, as a stale one. Every write that matched writes
(the global feed moves on); every one that did not writes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from service.openapi import openapi_document
from tests.service.expect import etag_version, expect_error

IF_MATCH = {"$ref": "#/components/parameters/IfMatch"}
# A body each conditional write accepts, by operationId; the others send none.
BODIES: dict[str, Any] = {
    "update_session": {"title": "Renamed"},
    "fork_session": {},
    "add_message": {"role": "user", "content": "more"},
    "edit_message": {"content": "changed"},
    "set_current": {"message_id": "{message_id}"},  # the message setup made
    "patch_settings": {"theme": "light"},
}


def conditional_writes() -> list[Any]:
    """Every operation the OpenAPI document says honours If-Match (test_openapi checks that the
    document says so exactly where the handlers do)."""
    found = []
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            if method != "parameters" and IF_MATCH in operation.get("parameters", []):
                found.append(pytest.param(method.upper(), path, operation["operationId"]))
    return found


def matching(v: int) -> dict[str, list[str]]:
    """Header values (one item per header line) that name version `v` as If-Match matches it."""
    return {
        "star": ["*"],
        "star-spaced": [" * "],
        "list-current-last": [f'"{v - 1}", "{v}"'],
        "list-current-first": [f'"{v}", "{v + 1}"'],
        "list-no-spaces": [f'"{v + 1}","{v}"'],
        "list-empty-elements": [f', "{v - 1}" ,, "{v}" ,'],
        "list-weak-and-strong": [f'W/"{v}", "{v}"'],
        "list-other-tags": [f'"abc", "{v}", "x-1"'],
        "two-header-lines": [f'"{v - 1}"', f'"{v}"'],
    }


def not_matching(v: int) -> dict[str, list[str]]:
    """Header values that name no version `v` matches: each is 412 and writes nothing."""
    return {
        "list-stale": [f'"{v - 1}", "{v + 1}"'],
        "weak-current": [f'W/"{v}"'],
        "weak-list": [f'W/"{v - 1}", W/"{v}"'],
        "leading-zero": [f'"0{v}"'],
        "unquoted": [str(v)],
        "no-comma": [f'"{v}" "{v + 1}"'],
        "list-with-junk": [f'"{v}", junk'],
        "star-in-a-list": [f'*, "{v}"'],
        "unterminated": [f'"{v}", "{v}'],
        "space-inside": [f'"{v} "'],
        "empty": [""],
        "commas-only": [" , ,"],
    }


async def setup(client: Any, operation_id: str) -> tuple[str, str]:
    """A session with one message (deleted, for restore) and settings changed once: the session
    id and the message id."""
    created = await client.post("/api/sessions", json={"title": "Conditional"})
    sid = (await created.json())["id"]
    added = await client.post(
        f"/api/sessions/{sid}/messages", json={"role": "user", "content": "x"}
    )
    message_id = (await added.json())["id"]
    if operation_id == "restore_session":
        assert (await client.delete(f"/api/sessions/{sid}")).status == 204
    if operation_id == "set_current":  # another branch, current: switching back writes
        other = {"role": "user", "content": "y", "parent_id": None}
        assert (await client.post(f"/api/sessions/{sid}/messages", json=other)).status == 201
    assert (await client.patch("/api/settings", json={"max_tokens": 99})).status == 200
    return sid, message_id


async def current_version(client: Any, path: str, sid: str) -> int:
    if path.startswith("/api/settings"):
        return etag_version(await client.get("/api/settings"))
    events = await client.get(f"/api/sessions/{sid}/events")
    return len(await events.json())


async def last_position(client: Any) -> int:
    return (await (await client.get("/api/health")).json())["last_position"]  # type: ignore[no-any-return]


async def conditional(
    client: Any, method: str, path: str, operation_id: str, case: str, cases: Any
) -> tuple[Any, int]:
    """The write sent with the If-Match lines of `case`; its answer, the feed position before."""
    sid, message_id = await setup(client, operation_id)
    version = await current_version(client, path, sid)
    url = path.format(session_id=sid, message_id=message_id)
    headers = [("If-Match", line) for line in cases(version)[case]]
    before = await last_position(client)
    body = BODIES.get(operation_id)
    if body is not None:
        body = {
            k: v.format(message_id=message_id) if isinstance(v, str) else v for k, v in body.items()
        }
    response = await client.request(method, url, json=body, headers=headers)
    return response, before


@pytest.mark.parametrize("case", list(matching(5)))
@pytest.mark.parametrize(("method", "path", "operation_id"), conditional_writes())
async def test_an_if_match_naming_the_current_version_writes(
    client, method, path, operation_id, case
) -> None:
    response, before = await conditional(client, method, path, operation_id, case, matching)
    assert response.status < 300, await response.text()
    assert await last_position(client) > before


@pytest.mark.parametrize("case", list(not_matching(5)))
@pytest.mark.parametrize(("method", "path", "operation_id"), conditional_writes())
async def test_an_if_match_not_naming_it_is_412_and_writes_nothing(
    client, method, path, operation_id, case
) -> None:
    response, before = await conditional(client, method, path, operation_id, case, not_matching)
    error = await expect_error(client, response, 412)
    assert error["code"] == "precondition_failed"
    assert await last_position(client) == before


def test_every_conditional_write_is_covered() -> None:
    """The routes the store checks a version for (grep expected_version in service/*routes.py)."""
    assert {p.values[2] for p in conditional_writes()} == {
        "update_session",
        "delete_session",
        "restore_session",
        "fork_session",
        "add_message",
        "clear_messages",
        "edit_message",
        "delete_message",
        "set_current",
        "patch_settings",
        "reset_settings",
    }
