"""A real PostgreSQL server for the tests that need one (tests/pg/server.py): started once
per session, with an empty database for each test. A plugin of the root conftest, so that the
log contract (tests/orion_events/storage/) runs against it beside the tests here.

Tests that need it are skipped only when no initdb is installed (`make test` installs the
postgresql package first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from tests.pg.server import NoPostgres, PgServer, PostgresFailed, run_async, throwaway_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        with throwaway_server() as server:
            yield server
    except NoPostgres as exc:
        pytest.skip(str(exc))
    except PostgresFailed as exc:
        pytest.fail(str(exc))


async def _empty_database(url: str) -> None:
    """Drop what an earlier test left, first ending any connection it left open."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        for _ in range(500):  # terminated backends take a moment to go
            if not await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ):
                break
            await asyncio.sleep(0.01)
        await conn.execute("DROP TABLE IF EXISTS orion_events, orion_schema")
    finally:
        await conn.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of an empty database: no orion schema yet, so the first open creates it."""
    url = pg_server.url()
    run_async(_empty_database(url))
    return url
