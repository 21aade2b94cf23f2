"""Snapshots in the background (SPEC §12): written every 10,000 events while serving, so a
kill -9 after 25,000 events restarts from one written before it, not from the logs alone."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import orjson
import pytest

from orion_events.store import snapshot
from tests.e2e.conftest import ServerFactory

pytestmark = pytest.mark.e2e

EVENTS = 25_000
SESSIONS = 50
CLIENTS = 32


async def test_kill_9_after_25000_events_restarts_from_a_background_snapshot(
    serve_process: ServerFactory, e2e_data_dir: Path
) -> None:
    server = await serve_process().astart()
    async with aiohttp.ClientSession(server.url) as http:
        ids = []
        for i in range(SESSIONS):
            async with http.post("/api/sessions", json={"title": f"s{i}"}) as answer:
                ids.append(orjson.loads(await answer.read())["id"])
        todo = iter(range(EVENTS - SESSIONS))

        async def client() -> None:
            for n in todo:
                body = {"role": "user", "content": f"message {n}"}
                async with http.post(f"/api/sessions/{ids[n % SESSIONS]}/messages", json=body) as a:
                    assert a.status == 201

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
    marks = snapshot.read_marks(e2e_data_dir / "snapshots")
    assert marks is not None, "no snapshot was written in the background"
    covered = sum(mark.seq for mark in marks.values())
    assert covered >= 20_000, covered  # the one at 20,000 events (or after)

    server.send(signal.SIGKILL)
    assert await server.exit_code() == -signal.SIGKILL
    await server.astart()
    assert "from a snapshot and the logs' tails" in server.stderr()
    async with aiohttp.ClientSession(server.url) as http, http.get("/api/health") as answer:
        assert orjson.loads(await answer.read())["events"] == EVENTS
    assert await server.exit_code_after(signal.SIGTERM) == 0
