"""Two real `orion-events serve --log postgresql://…` processes on one database (issue 6)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import ServerFactory, e2e_data_dir, serve_process  # noqa: F401
from tests.e2e.test_process import CLIENT_TIMEOUT, ok

pytestmark = pytest.mark.e2e


async def _two(serve_process: ServerFactory, tmp_path: Path, pg_url: str) -> tuple[Any, Any]:  # noqa: F811
    first = serve_process(tmp_path / "a", extra=("--log", pg_url))
    second = serve_process(tmp_path / "b", extra=("--log", pg_url))
    return await first.astart(), await second.astart()


async def _until(http: aiohttp.ClientSession, url: str, check: Any, seconds: float = 120) -> Any:
    # A bound against a hang, not a speed limit: visibility latency is bench/replicas.py's.
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        async with http.get(url) as answer:
            body = await answer.json() if answer.status == 200 else None
        if body is not None and check(body):
            return body
        assert asyncio.get_running_loop().time() < deadline, f"{url}: never {body}"
        await asyncio.sleep(0.02)


async def test_writes_through_one_are_read_and_streamed_through_the_other(
    serve_process: ServerFactory,  # noqa: F811
    tmp_path: Path,
    pg_url: str,
) -> None:
    a, b = await _two(serve_process, tmp_path, pg_url)
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        created = await ok(http, "POST", f"{a.url}/api/sessions", {"title": "via A"})
        sid = created["id"]
        # B serves the session once it has followed A's create (a few ms later): a subscriber
        # on B before then would get a 404.
        await _until(http, f"{b.url}/api/sessions/{sid}", lambda s: s["version"] == 1)
        # A live subscriber on B, then writes through A.
        stream = await http.get(
            f"{b.url}/api/sessions/{sid}/events/stream", headers={"Last-Event-ID": "1"}
        )
        assert stream.status == 200, await stream.text()
        for n in range(3):
            await ok(
                http,
                "POST",
                f"{a.url}/api/sessions/{sid}/messages",
                {"role": "user", "content": f"m{n}"},
            )
        seen: list[str] = []
        while len(seen) < 3:
            line = (await asyncio.wait_for(stream.content.readline(), 5)).decode()
            assert line, "the stream ended before the events came"
            if line.startswith("id: "):
                seen.append(line[4:].strip())
        stream.close()
        assert seen == ["2", "3", "4"]
        on_b = await _until(http, f"{b.url}/api/sessions/{sid}", lambda s: s["version"] == 4)
        on_a = await ok(http, "GET", f"{a.url}/api/sessions/{sid}")
        assert on_b == on_a


async def test_concurrent_writes_through_both_and_a_killed_replica_lose_nothing(
    serve_process: ServerFactory,  # noqa: F811
    tmp_path: Path,
    pg_url: str,
) -> None:
    a, b = await _two(serve_process, tmp_path, pg_url)
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        sid = (await ok(http, "POST", f"{a.url}/api/sessions", {"title": "both"}))["id"]
        await _until(http, f"{b.url}/api/sessions/{sid}", lambda s: s["version"] == 1)

        async def post(server: Any, who: str, n: int) -> dict[str, Any]:
            url = f"{server.url}/api/sessions/{sid}/messages"
            return await ok(http, "POST", url, {"role": "user", "content": f"{who}{n}"})

        acked = await asyncio.gather(
            *(post(a, "a", n) for n in range(30)), *(post(b, "b", n) for n in range(30))
        )
        # Every write was answered 201 (a loser decides again); one winner per seq.
        events = await ok(http, "GET", f"{b.url}/api/sessions/{sid}/events?limit=1000")
        assert [e["seq"] for e in events] == list(range(1, 62))

        a.kill()  # kill -9 one replica: nothing it acknowledged is lost
        again = serve_process(tmp_path / "a2", extra=("--log", pg_url))
        await again.astart()
        for server in (b, again):
            body = await _until(
                http, f"{server.url}/api/sessions/{sid}", lambda s: s["version"] == 61
            )
            assert sorted(m["id"] for m in body["messages"]) == sorted(m["id"] for m in acked)
        assert await b.exit_code_after(signal.SIGTERM) == 0
        assert await again.exit_code_after(signal.SIGTERM) == 0
