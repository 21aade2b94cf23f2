"""Shared fixtures: a real app on a real data directory in a temp dir."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service.app import create_app
from service.config import Config

# The shared helper modules assert too: rewrite them like test modules, for pytest's explanations.
pytest.register_assert_rewrite("tests.service.expect", "tests.orion_events.support")

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def make_client(aiohttp_client: Any, data_dir: Path) -> ClientFactory:
    """Start the real app on `data_dir` (or another dir); config fields may be overridden."""

    async def start(directory: Path | None = None, **config: Any) -> TestClient[Any, Any]:
        app = create_app(Config(data_dir=directory or data_dir, **config))
        return await aiohttp_client(app)  # type: ignore[no-any-return]

    return start


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client()
