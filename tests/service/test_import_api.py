"""POST /api/import (SPEC §10) on the real app: the report, idempotence, a broken conversation
isolated, a file of no known format refused, the body limit, and the round trip: every session
exported, imported into an empty data dir, the same sessions (ids aside). The per-format rules
are tested on each reader (tests/orion_events/imports)."""

from __future__ import annotations

import asyncio
import io
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from orion_events.imports.importer import MAX_FAILURES
from service.config import Config, ConfigError
from tests.conftest import ClientFactory
from tests.service.expect import expect_error

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
CHATGPT = FIXTURES / "chatgpt.json"


async def import_(client: Any, body: bytes, query: str = "") -> dict[str, Any]:
    response = await client.post(
        f"/api/import{query}", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 200, await response.text()
    report: dict[str, Any] = await response.json()
    assert set(report) == {"imported", "skipped", "failed", "sessions"}
    return report


def logs(data_dir: Path) -> dict[str, bytes]:
    """Every log file's bytes, by name: what a refused import must leave as it was."""
    return {p.name: p.read_bytes() for p in sorted(data_dir.glob("**/*.jsonl"))}


def temporary_files() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("orion-import-*"))


async def listed(client: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/sessions")
    assert response.status == 200
    sessions: list[dict[str, Any]] = await response.json()
    return sessions


async def test_a_chatgpt_export_is_imported_and_reported(client: Any) -> None:
    report = await import_(client, CHATGPT.read_bytes())
    assert (report["imported"], report["skipped"]) == (2, 0)
    # the fixture's second entry has no mapping: reported where it stands, the others written
    assert report["failed"] == [
        {
            "index": 1,
            "source_id": "c0ffee00-0000-4000-8000-000000000002",
            "reason": "no mapping of messages",
        }
    ]
    by_source = {s["metadata"]["source_id"]: s for s in await listed(client)}
    assert sorted(s["id"] for s in by_source.values()) == sorted(report["sessions"])
    deploy = by_source["c0ffee00-0000-4000-8000-000000000001"]
    assert deploy["title"] == "Deploy timeout"
    assert deploy["metadata"]["imported_from"] == "chatgpt"
    assert deploy["created_at"] == "2024-01-07T12:18:35.775304Z"
    # listed among the chats of its time: updated when its newest message was written
    assert deploy["updated_at"] < "2024-02-01"
    events = await (await client.get(f"/api/sessions/{deploy['id']}/events")).json()
    assert [e["type"] for e in events] == ["session_imported"]  # one append, saying so
    assert events[0]["data"]["source"] == "chatgpt"


@pytest.mark.parametrize(
    ("fixture", "source", "imported", "failed"),
    [
        ("chatgpt.json", "chatgpt", 2, 1),
        ("openwebui.json", "openwebui", 2, 1),
        ("librechat-tree.json", "librechat", 1, 0),
        ("librechat-flat.json", "librechat", 1, 0),
        ("claude.json", "claude", 2, 1),
    ],
)
async def test_each_format_is_told_from_the_file_and_imported(
    client: Any, fixture: str, source: str, imported: int, failed: int
) -> None:
    body = (FIXTURES / fixture).read_bytes()
    report = await import_(client, body)
    assert (report["imported"], len(report["failed"])) == (imported, failed)
    sessions = await listed(client)
    assert {s["metadata"]["imported_from"] for s in sessions} == {source}
    named = await import_(client, body, f"?format={source}")
    assert (named["imported"], named["skipped"]) == (0, imported)


async def test_the_same_file_twice_imports_nothing_new(client: Any, data_dir: Path) -> None:
    first = await import_(client, CHATGPT.read_bytes())
    before = logs(data_dir)
    again = await import_(client, CHATGPT.read_bytes(), "?format=chatgpt")
    assert (again["imported"], again["skipped"], again["sessions"]) == (0, 2, [])
    assert again["failed"] == first["failed"]
    assert logs(data_dir) == before
    assert len(await listed(client)) == 2


async def test_imports_of_the_same_file_at_once_write_each_conversation_once(
    client: Any,
) -> None:
    body = CHATGPT.read_bytes()
    reports = await asyncio.gather(*(import_(client, body) for _ in range(4)))
    assert sum(r["imported"] for r in reports) == 2
    assert sum(r["skipped"] for r in reports) == 6
    assert len(await listed(client)) == 2


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1}',
        b'[{"a": 1}]',
        b"[1, 2]",
        b'"text"',
        b"",
        b"not json",
        b"\xef\xbb\xbfnot json",
        b'{"conversationId": "x"}',
    ],
    ids=lambda b: b[:12].decode(errors="replace") or "empty",
)
async def test_a_file_of_no_known_format_is_422_and_writes_nothing(
    client: Any, data_dir: Path, body: bytes
) -> None:
    await import_(client, CHATGPT.read_bytes())
    before = logs(data_dir)
    response = await client.post(
        "/api/import", data=body, headers={"Content-Type": "application/json"}
    )
    error = await expect_error(client, response, 422, field="body")
    assert error["message"].endswith("; nothing was imported")
    assert logs(data_dir) == before


async def test_a_named_format_the_file_is_not_is_422(client: Any, data_dir: Path) -> None:
    for name in ("openwebui", "librechat", "claude", "orion"):
        response = await client.post(
            f"/api/import?format={name}",
            data=CHATGPT.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        await expect_error(client, response, 422, field="body")
    response = await client.post("/api/import?format=gemini", json=[])
    error = await expect_error(client, response, 422, field="format")
    assert "chatgpt, openwebui, librechat, claude, orion" in error["message"]
    assert logs(data_dir) == {}


async def test_a_body_nested_deep_is_read_and_the_service_keeps_serving(client: Any) -> None:
    """200 KB of nested lists inside a conversation: parsed in linear memory (it once killed the
    process), the conversation imported, the service still serving."""
    item = orjson.loads(CHATGPT.read_bytes())[0]
    depth = 100_000
    body = orjson.dumps([item])[:-2] + b', "deep": ' + b"[" * depth + b"]" * depth + b"}]"
    report = await import_(client, body)
    assert (report["imported"], report["failed"]) == (1, [])
    nested = b"[" * depth + b"]" * depth
    response = await client.post(
        "/api/import", data=nested, headers={"Content-Type": "application/json"}
    )
    await expect_error(client, response, 422, field="body")


async def test_a_file_of_endless_broken_items_stops_after_ten_thousand_failures(
    client: Any,
) -> None:
    """64 MiB of `{}` after one real conversation would list twenty million failures: the
    report stops at 10,000 and says so, and what came before is imported."""
    item = orjson.loads(CHATGPT.read_bytes())[0]
    body = b"[" + orjson.dumps(item) + b"," + b",".join([b"{}"] * (MAX_FAILURES + 500)) + b"]"
    report = await import_(client, body)
    assert report["imported"] == 1
    assert len(report["failed"]) == MAX_FAILURES + 1
    last = report["failed"][-1]
    assert (last["index"], last["source_id"]) == (MAX_FAILURES + 1, None)
    assert last["reason"].startswith("10,000 conversations failed: the import stopped here")


async def test_the_body_must_be_json(client: Any) -> None:
    response = await client.post(
        "/api/import", data=CHATGPT.read_bytes(), headers={"Content-Type": "text/plain"}
    )
    await expect_error(client, response, 415)


async def test_an_empty_export_imports_nothing(client: Any) -> None:
    report = await import_(client, b"[]")
    assert report == {"imported": 0, "skipped": 0, "failed": [], "sessions": []}


async def test_a_file_cut_short_keeps_what_came_before_the_cut(client: Any) -> None:
    whole = CHATGPT.read_bytes()
    items = orjson.loads(whole)
    first = orjson.dumps(items[0])
    cut = b"[" + first + b"," + orjson.dumps(items[2])[:-40]
    report = await import_(client, cut)
    assert report["imported"] == 1
    (failure,) = report["failed"]
    assert (failure["index"], failure["source_id"]) == (1, None)
    assert "breaks off" in failure["reason"]


async def test_a_body_over_the_import_limit_is_413_and_leaves_no_file(
    make_client: ClientFactory, data_dir: Path
) -> None:
    client = await make_client(import_max_mb=1)
    big = orjson.dumps([{"mapping": {}, "title": "x" * (2 * 1024 * 1024)}])
    before = temporary_files()
    response = await client.post(
        "/api/import", data=io.BytesIO(big), headers={"Content-Type": "application/json"}
    )
    error = await expect_error(client, response, 413)
    assert "1 MiB" in error["message"]

    async def chunks() -> Any:  # no Content-Length: the limit holds as the body arrives
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    response = await client.post(
        "/api/import", data=chunks(), headers={"Content-Type": "application/json"}
    )
    await expect_error(client, response, 413)
    assert temporary_files() == before
    assert logs(data_dir) == {}


def test_the_import_limit_is_a_setting() -> None:
    assert Config.from_env({}).import_max_mb == 64
    assert Config.from_env({"ORION_IMPORT_MAX_MB": "512"}).import_max_mb == 512
    for bad in ("0", "-1", "1.5", "lots", ""):
        with pytest.raises(ConfigError, match="ORION_IMPORT_MAX_MB"):
            Config.from_env({"ORION_IMPORT_MAX_MB": bad})


# -- the round trip -------------------------------------------------------------------------------


async def a_history(client: Any) -> None:
    """Sessions as people leave them: branched, edited, switched, pruned, titled, with
    metadata, agents and models."""

    async def post(url: str, body: Any) -> Any:
        response = await client.post(url, json=body)
        assert response.status in (200, 201), await response.text()
        return await response.json()

    chat = await post("/api/sessions", {"metadata": {"project": "orion"}})
    url = f"/api/sessions/{chat['id']}/messages"
    hello = await post(url, {"role": "user", "content": "Hello!", "agent": "web"})
    await post(url, {"role": "assistant", "content": "Hi.", "model": "m-1"})
    again = await post(
        url,
        {"role": "assistant", "content": "Hello there.", "model": "m-2", "parent_id": hello["id"]},
    )
    await post(url, {"role": "user", "content": "Edited first", "parent_id": None})
    await post(url, {"role": "user", "content": "And then?", "parent_id": again["id"]})
    response = await client.put(
        f"/api/sessions/{chat['id']}/current", json={"message_id": again["id"]}
    )
    assert response.status == 200
    titled = await post("/api/sessions", {"title": "Kept title"})
    url = f"/api/sessions/{titled['id']}/messages"
    first = await post(url, {"role": "system", "content": "Be brief."})
    gone = await post(url, {"role": "user", "content": "to delete"})
    await post(url, {"role": "assistant", "content": "stays", "parent_id": gone["id"]})
    assert (await client.delete(f"{url}/{gone['id']}")).status in (200, 204)
    await post(url, {"role": "user", "content": "second root", "parent_id": None})
    assert first["id"]
    await post("/api/sessions", {"title": "Empty one"})  # nothing to import: it fails alone


async def shape(client: Any, session: dict[str, Any]) -> dict[str, Any]:
    """A session as a person sees it, ids aside: every message in order with its parent's place,
    the current branch, and the rest."""
    response = await client.get(f"/api/sessions/{session['id']}/messages?branch=all&limit=1000")
    assert response.status == 200
    messages = await response.json()
    place = {m["id"]: n for n, m in enumerate(messages)}
    body = await (await client.get(f"/api/sessions/{session['id']}")).json()
    return {
        "title": body["title"],
        "created_at": body["created_at"],
        "metadata": {
            k: v for k, v in body["metadata"].items() if k not in ("imported_from", "source_id")
        },
        "messages": [
            {
                **{k: m[k] for k in ("role", "content", "timestamp", "agent", "model")},
                "parent": None if m["parent_id"] is None else place[m["parent_id"]],
                "siblings": [place[s] for s in m["sibling_ids"]],
            }
            for m in messages
        ],
        "current": [place[m["id"]] for m in body["messages"]],
    }


@pytest.mark.files_only  # two stores side by side; on one database there is one
async def test_every_session_exported_and_imported_into_an_empty_data_dir_is_the_same(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    source = await make_client(tmp_path / "source")
    await a_history(source)
    sessions = await listed(source)
    exports = [
        await (await source.get(f"/api/sessions/{s['id']}/export?format=json")).json()
        for s in sessions
    ]
    target = await make_client(tmp_path / "target")
    report = await import_(target, orjson.dumps(exports))
    assert report["imported"] == 2
    (empty,) = report["failed"]
    assert empty["reason"] == "it holds no message with text"
    imported = {s["metadata"]["source_id"]: s for s in await listed(target)}
    for session in sessions:
        if session["title"] == "Empty one":
            continue
        copy = imported[session["id"]]
        assert copy["metadata"]["imported_from"] == "orion"
        assert await shape(target, copy) == await shape(source, session)
    # one export alone (an object, not a list) is this format too; already imported: skipped
    (kept,) = [e for e in exports if e["session"]["title"] == "Kept title"]
    one = await import_(target, orjson.dumps(kept))
    assert (one["imported"], one["skipped"]) == (0, 1)


async def test_imports_and_what_they_skip_outlive_a_restart(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    client = await make_client(tmp_path / "var")
    first = await import_(client, CHATGPT.read_bytes())
    before = {s["id"]: s for s in await listed(client)}
    await client.close()
    client = await make_client(tmp_path / "var")
    assert {s["id"]: s for s in await listed(client)} == before
    again = await import_(client, CHATGPT.read_bytes())
    assert (again["imported"], again["skipped"]) == (0, first["imported"])
