"""The HTTP API test modules of tests/service, run again on an app whose log is PostgreSQL.

Their test functions are collected here a second time, under prefixed names, with `client`,
`make_client` and `data_dir` overridden: the app gets `log_url` (and a data dir it must never
touch), and `data_dir` becomes a mirror of the database. Those tests check what was (or was not)
written by reading log files; after every response the mirror rewrites those files from the
database's rows (each row rebuilds its JSONL line byte for byte), so the same checks read what
the database holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from orion_events.domain.streams import TOP_LEVEL_STREAMS
from orion_events.storage.postgres.rows import stream_rows
from service.app import create_app
from service.config import Config
from tests.conftest import ClientFactory, EdgeTestServer
from tests.service import (
    test_editing_api,
    test_export_api,
    test_history_api,
    test_hostile_input,
    test_idempotency_api,
    test_import_api,
    test_live_api,
    test_messages_api,
    test_no_op_api,
    test_search_api,
    test_security,
    test_sessions_api,
    test_settings_api,
    test_stream_resume,
    test_trees_api,
    test_users_api,
)

MODULES = (
    test_sessions_api,
    test_messages_api,
    test_settings_api,
    test_no_op_api,
    test_editing_api,
    test_export_api,
    test_history_api,
    test_hostile_input,
    test_idempotency_api,
    test_import_api,
    test_live_api,
    test_search_api,
    test_security,
    test_stream_resume,
    test_trees_api,
    test_users_api,
)


class Mirror:
    """The database's streams as log files under `directory`, rewritten after each response."""

    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.directory = directory
        self._conn: asyncpg.Connection[asyncpg.Record] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        (self.directory / "sessions").mkdir(parents=True, exist_ok=True)
        # The layout a file-backed data dir has (its lock too), so listings compare alike.
        (self.directory / "lock").touch()
        self._conn = await asyncpg.connect(self.url)

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def on_response(self, request: web.Request, response: web.StreamResponse) -> None:
        assert self._conn is not None
        async with self._lock, self._conn.transaction(readonly=True):
            async for stream, rows in stream_rows(self._conn):
                if stream in TOP_LEVEL_STREAMS:
                    path = self.directory / f"{stream}.jsonl"
                else:
                    path = self.directory / "sessions" / f"{stream}.jsonl"
                path.write_bytes(b"".join(row.line() for row in rows))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"  # where the file-backed tests look: the mirror of the database


@pytest.fixture
async def mirror(pg_url: str, data_dir: Path) -> AsyncIterator[Mirror]:
    mirror = Mirror(pg_url, data_dir)
    await mirror.start()
    yield mirror
    await mirror.stop()


@pytest.fixture
async def make_client(
    aiohttp_client: Any, tmp_path: Path, pg_url: str, mirror: Mirror, data_dir: Path
) -> AsyncIterator[ClientFactory]:
    unused = tmp_path / "unused-data-dir"

    async def start(directory: Path | None = None, **config: Any) -> TestClient[Any, Any]:
        # A restart on the same data is a start on the same database; another dir is a file test.
        assert directory in (None, data_dir), "a second data dir has no meaning on one database"
        app = create_app(Config(data_dir=unused, log_url=pg_url, **config))
        app.on_response_prepare.append(mirror.on_response)
        return await aiohttp_client(EdgeTestServer(app))  # type: ignore[no-any-return]

    yield start
    assert not unused.exists(), "a PostgreSQL-backed app wrote to its data dir"


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client()


def _collect() -> dict[str, Any]:
    """The modules' tests under prefixed names, and the fixtures of their own they use."""
    found: dict[str, Any] = {}
    for module in MODULES:
        prefix = module.__name__.rsplit(".", 1)[1].removeprefix("test_").removesuffix("_api")
        for name, test in vars(module).items():
            if name.startswith("test_") and callable(test) and not _files_only(test):
                found[f"test_{prefix}__{name.removeprefix('test_')}"] = test
            elif _is_fixture(test) and name not in globals():
                assert found.get(name, test) is test, f"two modules define the fixture {name}"
                found[name] = test
    return found


def _is_fixture(thing: Any) -> bool:
    return type(thing).__name__ == "FixtureFunctionDefinition" or hasattr(
        thing, "_pytestfixturefunction"
    )


def _files_only(test: Any) -> bool:
    """Marked `files_only`: it reads or damages log files itself, which has no database twin."""
    return any(mark.name == "files_only" for mark in getattr(test, "pytestmark", []))


globals().update(_collect())
