"""The read process (storage/readproc.py) under the real `serve`: a long read of the past
is answered from it, whichever way serve was launched, and it ends with the service, even after
a kill -9 (it would otherwise wait for ever on pipes it holds both ends of)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.e2e.conftest import Launcher, ServerFactory

pytestmark = pytest.mark.e2e

MESSAGES = 300  # past the first page, and past a small read: the read process answers


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, living (zombies are dead, only not yet reaped)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if int(parent) == pid and state != "Z":
            found.append(int(entry.name))
    return found


def alive(pids: list[int]) -> list[int]:
    living = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.append(pid)
    return living


def left_after(pids: list[int], seconds: float) -> list[int]:
    """Those of `pids` still alive after up to `seconds` of waiting for them to end."""
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


@pytest.mark.parametrize("launcher", ["script", "module"])
async def test_a_long_read_is_answered_from_the_read_process_which_ends_with_serve(
    serve_process: ServerFactory, e2e_data_dir: Path, launcher: Launcher
) -> None:
    server = await serve_process(launcher=launcher).astart()
    assert server.proc is not None
    async with aiohttp.ClientSession(server.url) as http:
        async with http.post("/api/sessions", json={"title": "long"}) as answer:
            sid = orjson.loads(await answer.read())["id"]
        for n in range(MESSAGES):
            body = {"role": "user", "content": f"message {n}"}
            async with http.post(f"/api/sessions/{sid}/messages", json=body) as answer:
                assert answer.status == 201
        assert children(server.proc.pid) == []  # started on the first long read, not before
        async with http.get(f"/api/sessions/{sid}", params={"version": "250"}) as answer:
            assert answer.status == 200
            then = orjson.loads(await answer.read())
    assert then["version"] == 250
    assert [m["content"] for m in then["messages"]] == [f"message {n}" for n in range(249)]
    started = children(server.proc.pid)
    assert started  # the read process (and multiprocessing's resource tracker)

    server.kill()
    assert await asyncio.to_thread(left_after, started, 10) == [], "it outlived a kill -9"
