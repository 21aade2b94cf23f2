"""The real process under a low open files limit (SPEC §12): thousands of sessions, written in
turn, never meet EMFILE, because the logs keep a bounded number of files open."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.e2e.conftest import Server, run_cli

pytestmark = pytest.mark.e2e

LIMIT = 256  # soft and hard: the service cannot raise it
SESSIONS = 2000
CLIENTS = 8


async def test_thousands_of_sessions_under_ulimit_256_never_get_a_503(
    tmp_path: Path, e2e_data_dir: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    prefix = ("prlimit", f"--nofile={LIMIT}:{LIMIT}", "--")
    server = Server(e2e_data_dir, logs, "script", prefix=prefix)
    try:
        await server.astart()
        assert server.proc is not None
        statuses: list[int] = []
        most_fds = 0

        async def client(http: aiohttp.ClientSession, first: int) -> None:
            nonlocal most_fds
            for i in range(first, SESSIONS, CLIENTS):
                async with http.post("/api/sessions", json={"title": f"s{i}"}) as answer:
                    statuses.append(answer.status)
                    session_id = orjson.loads(await answer.read())["id"]
                message = {"role": "user", "content": f"hello {i}"}
                async with http.post(f"/api/sessions/{session_id}/messages", json=message) as a:
                    statuses.append(a.status)
                most_fds = max(most_fds, len(os.listdir(f"/proc/{server.proc.pid}/fd")))

        async with aiohttp.ClientSession(server.url) as http:
            await asyncio.gather(*(client(http, n) for n in range(CLIENTS)))
            async with http.get("/api/health") as answer:
                health = orjson.loads(await answer.read())
        assert set(statuses) == {201}, {s: statuses.count(s) for s in set(statuses)}
        assert (health["status"], health["sessions"]) == ("ok", SESSIONS)
        assert most_fds < LIMIT
        assert "keeping at most 128 log files open" in server.stderr()
        assert await server.exit_code_after(signal.SIGTERM) == 0
    finally:
        server.reap()
    result = run_cli("verify", "--data-dir", str(e2e_data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
