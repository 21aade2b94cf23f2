"""Conversation trees (issue 13): what a long, branched session costs next to a short one.

    python -m bench.trees [--quick]

The real service (`orion-events serve`, pinned to one core) on a data dir written straight
through the codec: one session of 10,000 messages whose current branch runs the whole length,
with a regenerated reply every 100 messages left beside it (100 side branches), and one session
of 10 messages. A client on the other core measures, alternating between the two sessions
request by request (so drift hits both alike), the median of:

- a durable append at the tip (POST …/messages without parent_id): long / short, target ≤ 1.2;
- a branch switch (PUT …/current between two branches, each a write and an answer holding the
  new current branch): long / short, no target (its answer is the whole branch, 10,000
  messages against 10; the switch itself costs the tree's depth);
- a page of the long session (GET …/messages?limit=50) against a GET of the whole session.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.http import free_port, serve_command, server
from orion_events.domain.events import CurrentChanged, Event, MessageAdded, Recorded, SessionCreated
from orion_events.storage.codec import GENESIS, encode_batch

LONG, SHORT = 10_000, 10
SIDE_EVERY = 100  # a regenerated reply every this many messages
CLIENT_CORE = 1  # the service runs on core 0 (bench.http.SERVER_CORE)


def _id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012x}"


def _events(messages: int, first_id: int) -> tuple[list[Event], list[str], list[str]]:
    """A session's events: `messages` on one branch, a sibling beside every SIDE_EVERY-th;
    the main branch's ids and the side branches' ids."""
    events: list[Event] = [SessionCreated("long" if messages > SHORT else "short", {})]
    ids = itertools.count(first_id)
    main: list[str] = []
    side: list[str] = []
    parent: str | None = None
    for n in range(messages):
        message = _id(next(ids))
        role = "user" if n % 2 == 0 else "assistant"
        text = f"message {n} of the branch, with a few words to make it a message"
        events.append(MessageAdded(message, role, text, parent_id=parent))
        if n % SIDE_EVERY == SIDE_EVERY - 1 or (messages <= SHORT and n == messages - 2):
            other = _id(next(ids))  # regenerated, then the first kept: a side branch
            events += [MessageAdded(other, role, "regenerated", parent_id=parent)]
            events.append(CurrentChanged(message))
            side.append(other)
        main.append(message)
        parent = message
    return events, main, side


def write_data(data_dir: Path) -> dict[str, Any]:
    """Both sessions' logs, straight through the codec; what the measurements need of them."""
    sessions = data_dir / "sessions"
    sessions.mkdir(parents=True)
    position = itertools.count(1)
    found = {}
    for name, messages, first in (("long", LONG, 1_000_000), ("short", SHORT, 2_000_000)):
        stream = _id(first - 1)
        events, main, side = _events(messages, first)
        records = [
            Recorded(stream, seq, _id(first + 500_000 + seq), "2026-12-04T10:00:00.000000Z", e,
                     next(position))
            for seq, e in enumerate(events, start=1)
        ]  # fmt: skip
        lines, _ = encode_batch(records, GENESIS)
        (sessions / f"{stream}.jsonl").write_bytes(lines)
        found[name] = {"id": stream, "tip": main[-1], "side": side[-1], "main": main}
    return found


async def _median_ms(
    http: aiohttp.ClientSession, calls: dict[str, Any], rounds: int
) -> dict[str, float]:
    """Each call once a round, the order reversed every other round; the median in ms."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for n in range(rounds):
        for name in names if n % 2 == 0 else reversed(names):
            method, url, body = calls[name](n)
            started = time.perf_counter()
            async with http.request(method, url, json=body) as answer:
                await answer.read()
                assert answer.status < 300, (name, answer.status)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def _row(name: str, real: float, bare: float, target: float | None, note: str) -> dict[str, Any]:
    ratio = real / bare
    return {
        "part": "trees",
        "name": name,
        "real": real,
        "bare": bare,
        "unit": "ms",
        "ratio": ratio,
        "target": target,
        "op": "<=" if target is not None else "",
        "met": None if target is None else ratio <= target,
        "note": note,
    }


async def measure(base: str, data: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    rounds = 100 if quick else 300
    long, short = data["long"], data["short"]
    api = f"{base}/api/sessions"

    def append(session: dict[str, Any]) -> Any:
        body = {"role": "user", "content": "one more at the tip"}
        return lambda n: ("POST", f"{api}/{session['id']}/messages", body)

    def switch(session: dict[str, Any]) -> Any:
        # back and forth between the last side branch and the main branch's leaf
        def call(n: int) -> Any:
            target = session["side"] if n % 2 == 0 else session["tip"]
            return "PUT", f"{api}/{session['id']}/current", {"message_id": target}

        return call

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        appends = await _median_ms(http, {"long": append(long), "short": append(short)}, rounds)
        # the tips now are the messages just appended: the main branch's leaves
        for session in (long, short):
            async with http.get(f"{api}/{session['id']}") as answer:
                session["tip"] = orjson.loads(await answer.read())["current_id"]
        switches = await _median_ms(
            http, {"long": switch(long), "short": switch(short)}, max(20, rounds // 5)
        )
        reads = await _median_ms(
            http,
            {
                "page": lambda n: ("GET", f"{api}/{long['id']}/messages?limit=50", None),
                "whole": lambda n: ("GET", f"{api}/{long['id']}", None),
            },
            rounds,
        )
    return [
        _row(
            f"append at the tip, {LONG:,} branched messages / {SHORT}",
            appends["long"],
            appends["short"],
            1.2,
            f"median of {rounds} each, POST …/messages (durable), alternating",
        ),
        _row(
            f"switch branch (PUT …/current), {LONG:,} messages / {SHORT}",
            switches["long"],
            switches["short"],
            None,
            "each answer holds the new current branch: ~10,000 messages against ~10",
        ),
        _row(
            f"GET …/messages?limit=50 / GET whole session, {LONG:,} messages",
            reads["page"],
            reads["whole"],
            None,
            "the whole session's body is cached per version; the page is built each time",
        ),
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    directory = Path(tempfile.mkdtemp(prefix="orion-bench-trees-"))
    try:
        data_dir = directory / "var"
        data = write_data(data_dir)
        port = free_port()
        with server(
            serve_command(data_dir, port), port, "/api/health", directory / "serve.log"
        ) as base:
            return _client(base, data, quick)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _client(base: str, data: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    """The measurements, on the client's own core (the service has the other), and the bench's
    process given back its cores afterwards."""
    affinity = getattr(os, "sched_getaffinity", None)
    before = affinity(0) if affinity is not None else None
    try:
        if before is not None and len(before) > 1:
            os.sched_setaffinity(0, {CLIENT_CORE})
        return asyncio.run(measure(base, data, quick))
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for row in run(args.quick):
        print(
            f"{row['name']}: {row['real']:.3f} ms / {row['bare']:.3f} ms = {row['ratio']:.2f}"
            + (f" (target ≤ {row['target']})" if row["target"] else "")
        )


if __name__ == "__main__":
    main()
