"""`orion-events import FILE [--format …] [--user NAME]` (SPEC §10), the real console script:
its report and exit codes, the owner with users, a service holding the data dir, the progress
bar on a terminal, and the round trip `orion-events export` → `orion-events import` into an
empty data dir and into PostgreSQL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from orion_events.domain.views import SessionView
from orion_events.storage.files.datadir import lock_data_dir
from orion_events.storage.postgres.log import PostgresLog
from orion_events.store.store import Store
from service.payloads import session_json
from tests.orion_events.support import open_store
from tests.service.test_cli_offline import on_terminal, script

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
CHATGPT = FIXTURES / "chatgpt.json"
BROKEN_ENTRY = {
    "index": 1,
    "source_id": "c0ffee00-0000-4000-8000-000000000002",
    "reason": "no mapping of messages",
}


def written(data_dir: Path) -> list[Path]:
    return list(data_dir.glob("sessions/*.jsonl"))


def report_of(out: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(out)
    assert set(report) == {"imported", "skipped", "failed", "sessions"}
    return report


async def test_an_import_prints_its_report_and_exits_1_when_some_conversation_failed(
    data_dir: Path,
) -> None:
    run = await script("import", CHATGPT, "--data-dir", data_dir)
    assert run.code == 1, run.err
    report = report_of(run.out)
    assert (report["imported"], report["skipped"], report["failed"]) == (2, 0, [BROKEN_ENTRY])
    again = await script("import", CHATGPT, "--format", "chatgpt", "--data-dir", data_dir)
    assert report_of(again.out)["skipped"] == 2
    store = await open_store(data_dir)
    try:
        assert sorted(v.id for v in await all_sessions(store)) == sorted(report["sessions"])
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--format", "openwebui"], "is not Open WebUI's chat export"),
        (["--format", "gemini"], "invalid choice"),
        (["--user", "nobody"], "no user named 'nobody'"),
    ],
)
async def test_a_refused_import_exits_2_and_writes_nothing(
    data_dir: Path, args: list[str], says: str
) -> None:
    run = await script("import", CHATGPT, *args, "--data-dir", data_dir)
    assert run.code == 2
    assert says in run.err
    assert run.out == ""
    assert not written(data_dir)


async def test_a_file_of_no_known_format_exits_2(data_dir: Path, tmp_path: Path) -> None:
    for name, content in (("notes.json", b'{"notes": []}'), ("notes.txt", b"just text")):
        path = tmp_path / name
        path.write_bytes(content)
        run = await script("import", path, "--data-dir", data_dir)
        assert run.code == 2
        assert "nothing was imported" in run.err
    run = await script("import", tmp_path / "missing.json", "--data-dir", data_dir)
    assert (run.code, run.err.strip()) == (2, f"orion-events: no file at {tmp_path}/missing.json")
    assert not written(data_dir)


async def test_with_users_the_sessions_are_the_named_users(data_dir: Path) -> None:
    assert (await script("users", "add", "alice", "--admin", "--data-dir", data_dir)).code == 0
    unnamed = await script("import", CHATGPT, "--data-dir", data_dir)
    assert unnamed.code == 2
    assert "--user" in unnamed.err
    run = await script("import", CHATGPT, "--user", "ALICE", "--data-dir", data_dir)
    assert run.code == 1, run.err
    users = json.loads((await script("users", "list", "--json", "--data-dir", data_dir)).out)
    store = await open_store(data_dir)
    try:
        assert {v.owner for v in await all_sessions(store)} == {users[0]["id"]}
    finally:
        await store.close()


async def test_a_running_service_holding_the_data_dir_is_named(data_dir: Path) -> None:
    os.makedirs(data_dir)
    fd = lock_data_dir(data_dir)
    try:
        run = await script("import", CHATGPT, "--data-dir", data_dir)
    finally:
        os.close(fd)
    assert run.code == 2
    assert "POST /api/import" in run.err


async def test_a_terminal_shows_a_progress_bar(data_dir: Path) -> None:
    code, out, terminal = await on_terminal("import", CHATGPT, "--data-dir", data_dir)
    assert code == 1
    assert report_of(out.decode())["imported"] == 2
    assert b"importing chatgpt" in terminal
    assert b"3 conversations" in terminal  # two written, one failed: each is counted
    assert b"100%" in terminal


# -- the round trip through the commands ----------------------------------------------------------


def shape(view: SessionView) -> dict[str, Any]:
    """A session as a person sees it, ids aside."""
    tree = view.tree
    numbers = list(tree.live_numbers())
    place = {n: i for i, n in enumerate(numbers)}
    messages = {m.id: m for m in view.live_messages}
    body = session_json(view)
    return {
        "title": view.title,
        "created_at": view.created_at,
        "metadata": {
            k: v for k, v in view.metadata.items() if k not in ("imported_from", "source_id")
        },
        "messages": [
            (
                messages[tree.id_of(n)].role,
                messages[tree.id_of(n)].content,
                messages[tree.id_of(n)].timestamp,
                messages[tree.id_of(n)].agent,
                messages[tree.id_of(n)].model,
                None if tree.parent(n) == -1 else place[tree.parent(n)],
            )
            for n in numbers
        ],
        "current": [m["content"] for m in body["messages"]],
    }


async def all_sessions(store: Store) -> list[SessionView]:
    """Every session, its messages loaded."""
    return [await store.loaded(v.id) for v in store.sessions().sessions]


async def a_history(data_dir: Path) -> dict[str, dict[str, Any]]:
    store = await open_store(data_dir)
    try:
        chat = await store.create_session("Branched", {"k": "v"})
        hello = await store.add_message(chat.id, role="user", content="Hello!", agent="web")
        hello_id = hello.current_id
        await store.add_message(chat.id, role="assistant", content="Hi.", model="m-1")
        await store.add_message(
            chat.id, role="assistant", content="Hello there.", parent_id=hello_id
        )
        await store.add_message(chat.id, role="user", content="Edited", parent_id=None)
        other = await store.create_session()
        await store.add_message(other.id, role="user", content="Untitled, named by me")
        return {v.id: shape(v) for v in await all_sessions(store)}
    finally:
        await store.close()


async def exported(data_dir: Path, tmp_path: Path) -> Path:
    run = await script("export", "--data-dir", data_dir)
    assert run.code == 0, run.err
    path = tmp_path / "export.json"
    path.write_text(run.out)
    return path


async def test_an_export_of_every_session_imports_into_an_empty_data_dir_as_it_was(
    tmp_path: Path,
) -> None:
    before = await a_history(tmp_path / "source")
    export = await exported(tmp_path / "source", tmp_path)
    run = await script("import", export, "--data-dir", tmp_path / "target")
    assert run.code == 0, run.err
    assert report_of(run.out)["imported"] == 2
    store = await open_store(tmp_path / "target")
    try:
        after = {v.metadata["source_id"]: shape(v) for v in await all_sessions(store)}
    finally:
        await store.close()
    assert after == before


async def test_an_export_imports_into_postgresql(tmp_path: Path, pg_url: str) -> None:
    before = await a_history(tmp_path / "source")
    export = await exported(tmp_path / "source", tmp_path)
    run = await script("import", export, "--log", pg_url)
    assert run.code == 0, run.err
    again = await script("import", export, "--log", pg_url)
    assert report_of(again.out)["skipped"] == 2
    store = Store(PostgresLog(pg_url))
    await store.open()
    try:
        after = {v.metadata["source_id"]: shape(v) for v in await all_sessions(store)}
    finally:
        await store.close()
    assert after == before
