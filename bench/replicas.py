"""Scale-out: the service on PostgreSQL with one and two replicas, next to the file backend.

A throwaway PostgreSQL server (tests/pg/server.py, the tests' own) holds the log; the same
generated sessions are migrated into it with `orion-events migrate`, so every backend starts
from the same history. Rows:

1. durable `POST /api/sessions/{id}/messages`, 64 connections over 100 sessions, with the log in
   PostgreSQL (one replica) against the same on the JSONL files;
2. the same load spread over two replicas on one database (two wrk runs of 32 connections at
   once, their rates summed) against one replica;
3. cross-replica visibility: from replica A's 201 for a message to that event arriving on
   replica B's live feed (`GET /api/events/stream`), p50 and p99 over sequential writes.

The machine has two cores: the replicas, PostgreSQL and wrk share them, so row 2 says what a
second replica costs or gains on one small machine, not what a second machine would add.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
from attrs import frozen

from bench.http import (
    CONNECTIONS,
    SERVER_CORE,
    WRITE_SESSIONS,
    WRK_CORE,
    BenchError,
    WrkResult,
    finish_wrk,
    free_port,
    orion_command,
    post_script,
    prepare_data,
    row,
    run_wrk,
    serve_command,
    server,
    wrk_command,
)
from tests.pg.server import NoPostgres, PgServer, throwaway_server

SESSIONS = WRITE_SESSIONS + 1  # prepare_data keeps one aside for reads
MESSAGES = 20
POST_URL = "/api/sessions/x/messages"  # the Lua script sets each request's path
WARMUP = 10  # writes before the timed ones


def _median(results: list[WrkResult]) -> float:
    return statistics.median(r.rps for r in results)


def _p99_ms(results: list[WrkResult]) -> str:
    return f"{statistics.median(r.p99 for r in results) * 1000:.1f}"


def migrate(data_dir: Path, url: str) -> None:
    done = subprocess.run(
        orion_command("migrate", "--from", str(data_dir), "--to", url),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise BenchError(f"migrate failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@contextlib.contextmanager
def replica(work: Path, name: str, url: str, core: int = SERVER_CORE) -> Iterator[str]:
    """One `serve --log url` process (with a data dir of its own that holds no logs)."""
    port = free_port()
    command = [*serve_command(work / f"{name}-var", port), "--log", url]
    with server(command, port, "/api/health", work / f"{name}.log", core=core) as base:
        yield base


def two_at_once(urls: tuple[str, str], seconds: float, script: Path) -> tuple[float, float]:
    """Both replicas loaded at once, half the connections each: their summed rate, worst p99."""
    runs = [
        subprocess.Popen(
            wrk_command(url + POST_URL, seconds, CONNECTIONS // 2, script),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for url in urls
    ]
    results = [finish_wrk(process, url) for process, url in zip(runs, urls, strict=True)]
    return sum(r.rps for r in results), max(r.p99 for r in results)


@frozen
class Visibility:
    """Per write, seconds from the writer's 201 until the reader shows it."""

    read: list[float]  # GET /api/sessions/{id} on the reader has the write's version
    streamed: list[float]  # the event arrived on the reader's /api/events/stream


async def visibility(writer: str, reader: str, session_id: str, writes: int) -> Visibility:
    arrived: dict[str, float] = {}  # message id -> when the reader's live feed brought it
    timeout = aiohttp.ClientTimeout(total=None, sock_read=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        stream = await http.get(f"{reader}/api/events/stream")  # from now on

        async def follow() -> None:
            async for line in stream.content:
                if line.startswith(b"data: "):
                    message_id = orjson.loads(line[6:]).get("data", {}).get("message_id")
                    if message_id is not None:
                        arrived[message_id] = time.perf_counter()

        async def shown(version: int) -> float:
            while True:
                async with http.get(f"{reader}/api/sessions/{session_id}") as answer:
                    if int(answer.headers["ETag"].strip('"')) >= version:
                        return time.perf_counter()

        follower = asyncio.create_task(follow())
        read: list[float] = []
        streamed: list[float] = []
        try:
            for n in range(WARMUP + writes):
                body = {"role": "user", "content": f"visible {n}"}
                url = f"{writer}/api/sessions/{session_id}/messages"
                async with http.post(url, json=body) as answer:
                    if answer.status != 201:
                        raise BenchError(f"a write answered {answer.status}: {await answer.text()}")
                    acked = time.perf_counter()
                    message_id = (await answer.json())["id"]
                    version = int(answer.headers["ETag"].strip('"'))
                read_at = await asyncio.wait_for(shown(version), 10)
                deadline = acked + 10
                while message_id not in arrived:
                    if time.perf_counter() > deadline:
                        raise BenchError(f"write {n} never reached the reader's live feed")
                    await asyncio.sleep(0.0005)
                if n >= WARMUP:
                    read.append(read_at - acked)
                    streamed.append(max(0.0, arrived[message_id] - acked))
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            stream.close()
    return Visibility(read, streamed)


def percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(s * 1000 for s in seconds)
    return statistics.median(ordered), ordered[round(0.99 * (len(ordered) - 1))]


def _new_database(pg: PgServer, name: str) -> str:
    async def create() -> None:
        conn = await asyncpg.connect(pg.url("postgres"))
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    asyncio.run(create())
    return pg.url(name)


@frozen
class Plan:
    seconds: float  # per wrk run
    rounds: int  # of files / one replica / two replicas, by turns; the median is kept
    writes: int  # sequential writes timed for visibility


QUICK = Plan(seconds=2, rounds=1, writes=30)
FULL = Plan(seconds=6, rounds=3, writes=300)


def run(quick: bool = False, log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    plan = QUICK if quick else FULL
    try:
        with throwaway_server() as pg, tempfile.TemporaryDirectory(prefix="orion-bench-") as tmp:
            return _measure(plan, pg, Path(tmp), say)
    except NoPostgres as exc:
        raise BenchError(str(exc)) from None


def _measure(plan: Plan, pg: PgServer, work: Path, say: Callable[[str], None]) -> list[Any]:
    say(f"replicas: {SESSIONS} sessions of {MESSAGES} messages, migrated to PostgreSQL")
    data = prepare_data(work / "var", SESSIONS, MESSAGES)
    url = _new_database(pg, "orion_bench")
    migrate(work / "var", url)
    script = post_script(work, data.write_ids)
    files: list[WrkResult] = []
    one: list[WrkResult] = []
    two: list[tuple[float, float]] = []
    port = free_port()
    with (
        server(serve_command(work / "var", port), port, "/api/health", work / "files.log") as fs,
        replica(work, "a", url) as a,
    ):
        run_wrk(fs + POST_URL, plan.seconds / 3, script)  # warm up both write paths
        run_wrk(a + POST_URL, plan.seconds / 3, script)
        for n in range(plan.rounds):  # by turns, so drift hits both alike
            say(f"replicas: round {n + 1}/{plan.rounds}: files, then one replica")
            files.append(run_wrk(fs + POST_URL, plan.seconds, script))
            one.append(run_wrk(a + POST_URL, plan.seconds, script))
        # B joins only now: a replica follows every write of the others, so while it runs
        # the one-replica figures would carry its cost too.
        with replica(work, "b", url, core=WRK_CORE) as b:
            for n in range(plan.rounds):
                say(f"replicas: round {n + 1}/{plan.rounds}: two replicas")
                two.append(two_at_once((a, b), plan.seconds, script))
            say(f"replicas: visibility from A to B over {plan.writes} sequential writes")
            seen = asyncio.run(visibility(a, b, data.write_ids[0], plan.writes))
    read_p50, read_p99 = percentiles_ms(seen.read)
    stream_p50, stream_p99 = percentiles_ms(seen.streamed)
    extra = {"seconds": plan.seconds, "rounds": plan.rounds, "connections": CONNECTIONS}
    rows = [
        row(
            f"POST message, PostgreSQL (1 replica) vs files, {CONNECTIONS} conns",
            _median(one),
            _median(files),
            "req/s",
            None,
            ">=",
            note=f"p99 {_p99_ms(one)} vs {_p99_ms(files)} ms",
            **extra,
        ),
        row(
            "POST message, PostgreSQL, 2 replicas vs 1 replica",
            statistics.median(rps for rps, _ in two),
            _median(one),
            "req/s",
            None,
            ">=",
            note=(
                f"2 x {CONNECTIONS // 2} conns, worst p99 "
                f"{statistics.median(p99 for _, p99 in two) * 1000:.1f} vs {_p99_ms(one)} ms; "
                "the replicas, PostgreSQL and wrk share 2 cores"
            ),
            **extra,
        ),
        row(
            "visibility on the other replica, GET (p50; p99 in the note)",
            read_p50,
            None,
            "ms",
            None,
            "<=",
            note=f"p99 {read_p99:.2f} ms over {len(seen.read)} writes (A's 201 -> B's GET)",
            p99=read_p99,
        ),
        row(
            "visibility on the other replica, live feed (p50)",
            stream_p50,
            None,
            "ms",
            None,
            "<=",
            note=f"p99 {stream_p99:.2f} ms (A's 201 -> the event on B's /api/events/stream)",
            p99=stream_p99,
        ),
    ]
    for line in rows:
        line["part"] = "replicas"
    return rows


if __name__ == "__main__":
    for line in run("--quick" in sys.argv):
        print(orjson.dumps(line).decode())
