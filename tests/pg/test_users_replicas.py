"""The cross-user matrix on two replicas of one PostgreSQL log (SPEC §9): alice's session made
through one replica is, through the other, answered to bob exactly as a missing one on every
session route; a key revoked through one is refused by the other."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from service.app_keys import STORE
from service.config import Config
from tests.conftest import EdgeTestServer
from tests.pg.test_replicas import eventually
from tests.service.test_users_api import (
    SESSION_ROUTES,
    World,
    alices_session,
    answer,
    with_users,
)


@pytest.fixture
async def replicas(aiohttp_client: Any, tmp_path: Path, pg_url: str) -> tuple[World, World]:
    """Two services on one database, the same users: one World each."""
    clients = [
        await aiohttp_client(
            EdgeTestServer(create_app(Config(data_dir=tmp_path / name, log_url=pg_url)))
        )
        for name in ("a", "b")
    ]
    on_a = await with_users(clients[0])
    on_b = World(clients[1], on_a.root, on_a.alice, on_a.bob, on_a.alice_id, on_a.bob_id)
    store_b = clients[1].server.app[STORE]
    await eventually(lambda: store_b.accounts.user_of(on_a.bob) is not None)
    return on_a, on_b


@pytest.mark.parametrize(("method", "path"), SESSION_ROUTES)
async def test_through_the_other_replica_another_users_session_is_a_missing_one(
    replicas: tuple[World, World], method: str, path: str
) -> None:
    on_a, on_b = replicas
    session_id, message_id = await alices_session(on_a)
    store_b = on_b.client.server.app[STORE]
    await eventually(lambda: store_b.view_of(session_id) is not None)
    theirs = await answer(on_b, method, path, session_id, message_id)
    missing = await answer(on_b, method, path, str(uuid.uuid4()), str(uuid.uuid4()))
    assert theirs == missing
    assert theirs[0] == 404


async def test_a_key_revoked_through_one_replica_is_refused_by_the_other(
    replicas: tuple[World, World],
) -> None:
    on_a, on_b = replicas
    assert (await on_b.call(on_b.alice, "GET", "/api/me")).status == 200
    listed = await on_a.ok(on_a.root, "GET", "/api/users")
    key_id = next(u for u in listed if u["id"] == on_a.alice_id)["keys"][0]["key_id"]
    await on_a.ok(on_a.root, "DELETE", f"/api/keys/{key_id}")
    # the very next request, through the other replica: A answered once B had applied it
    assert (await on_b.call(on_b.alice, "GET", "/api/me")).status == 401
    await on_a.ok(on_a.root, "DELETE", f"/api/users/{on_a.bob_id}")
    assert (await on_b.call(on_b.bob, "GET", "/api/me")).status == 401
