"""Shared fixtures: a real app on a real data directory in a temp dir, and a power-cut disk.

`power_cut_disk` fails, rather than skips, where FUSE is missing: CI must really run the tests
that use it, and `make test` installs fuse3 first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import BaseRunner, TestClient, TestServer

from orion_events.store.store import Store
from service.app import create_app
from service.config import Config
from service.edge import EdgeRunner
from tests.powercut.disk import DiskFailed, PowerCutDisk, fuse_missing

# The PostgreSQL fixtures (pg_server, pg_url) for every folder that tests a backend.
pytest_plugins = ["tests.pg.fixtures"]

# The shared helper modules assert too: rewrite them like test modules, for pytest's explanations.
pytest.register_assert_rewrite(
    "tests.service.expect", "tests.orion_events.support", "tests.browser.dom"
)

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


class EdgeTestServer(TestServer):
    """aiohttp's test server on the connection layer `orion-events serve` runs (service.edge)."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return EdgeRunner(self.app, **kwargs)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
async def store(data_dir: Path) -> AsyncIterator[Store]:
    """A store open on `data_dir`, closed after the test."""
    # Imported here: support must be imported after its assert rewrite is registered below.
    from tests.orion_events.support import open_store

    opened = await open_store(data_dir)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def make_client(aiohttp_client: Any, data_dir: Path) -> ClientFactory:
    """Start the real app on `data_dir` (or another dir); config fields may be overridden."""

    async def start(directory: Path | None = None, **config: Any) -> TestClient[Any, Any]:
        app = create_app(Config(data_dir=directory or data_dir, **config))
        return await aiohttp_client(EdgeTestServer(app))  # type: ignore[no-any-return]

    return start


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client()


@pytest.fixture
def power_cut_disk(tmp_path: Path) -> Iterator[PowerCutDisk]:
    missing = fuse_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    disk = PowerCutDisk(tmp_path / "disk")
    try:
        disk.start()
    except DiskFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield disk
    finally:
        disk.stop()
