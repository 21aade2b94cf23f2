"""Start-up and memory: cold start vs the parsing floor, snapshots vs full replay, bytes/message.

All on one generated data dir, side by side in one run: the floor is reading the same files and
orjson-parsing every line; a snapshot start is compared with a full replay of the same logs,
with every session's messages in memory and with a budget (snapshots of summaries). Memory is
everything a running service holds (SPEC §12), measured in a fresh process: its resident growth
from before opening the store to after the search index is built, divided by messages, with the
views' share (right after opening) and the search index's (what building it added) beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.datagen import make_data_dir
from orion_events.storage.files.log import FileLog
from orion_events.store.store import Store

BUDGET = 64 << 20


def parse_floor(data_dir: Path) -> float:
    """Seconds to read every log and orjson-parse each of its lines: the floor to compare with."""
    started = time.perf_counter()
    for path in (data_dir / "sessions").iterdir():
        for line in path.read_bytes().splitlines():
            orjson.loads(line)
    return time.perf_counter() - started


async def open_close(
    data_dir: Path, budget: int | None, *, snapshot_at_close: bool
) -> tuple[float, bool, int]:
    """Seconds to open, whether a snapshot was used, events; closes without waiting for search."""
    gc.collect()
    started = time.perf_counter()
    store = Store(FileLog(data_dir), cache_bytes=budget, snapshot_events=None)
    report = await store.open()
    seconds = time.perf_counter() - started
    if not snapshot_at_close:
        store._snapshots.position = store.last_position
    await store.close()
    return seconds, report.from_snapshot, report.events


def snapshot_pair(data_dir: Path, budget: int | None) -> tuple[float, float]:
    """(full replay, start from the snapshot that replay wrote at close), in seconds."""
    shutil.rmtree(data_dir / "snapshots", ignore_errors=True)
    full, used, _ = asyncio.run(open_close(data_dir, budget, snapshot_at_close=True))
    assert not used
    resumed, used, _ = asyncio.run(open_close(data_dir, budget, snapshot_at_close=False))
    assert used, "the snapshot written at close was not used"
    shutil.rmtree(data_dir / "snapshots", ignore_errors=True)
    return full, resumed


def memory_per_message(data_dir: Path) -> dict[str, Any]:
    """Resident bytes per message, all in and each part's share, measured in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.startup", "--memory", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = orjson.loads(result.stdout.splitlines()[-1])
    return figures


def _resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _measure_memory(data_dir: Path) -> dict[str, Any]:
    """What a running service holds: the process's resident growth from before the store was
    opened to after its search index was built, per message, and each part's share of it (the
    views and feed index right after opening, before the build starts; then the index)."""
    gc.collect()
    before = _resident()
    store = Store(FileLog(data_dir), snapshot_events=None)
    await store.open()  # the index is built by a task that has not run yet
    gc.collect()
    opened = _resident()
    await store.search("the")  # waits for the build
    gc.collect()
    built = _resident()
    messages = sum(view.message_count for view in store._current.sessions.values())
    stats = getattr(store._search_feeder.index, "stats", None)
    counted = stats() if stats is not None else {}
    postings, terms = counted.get("postings"), counted.get("terms")
    store._snapshots.position = store.last_position
    await store.close()
    return {
        "messages": messages,
        "all": (built - before) / messages,
        "views": (opened - before) / messages,
        "search": (built - opened) / messages,
        "postings": postings,
        "terms": terms,
    }


def _row(
    name: str, real: float, bare: float | None, unit: str, target: float | None, note: str = ""
) -> dict[str, Any]:
    ratio = None if bare is None else real / bare
    measured = ratio if ratio is not None else real
    return {
        "part": "startup",
        "name": name,
        "real": real,
        "bare": bare,
        "unit": unit,
        "ratio": ratio,
        "target": target,
        "op": "<=" if target is not None else "",
        "met": None if target is None else measured <= target,
        "note": note,
    }


def run(quick: bool = False, log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    sessions, events = (1000, 20) if quick else (10_000, 100)
    total = sessions * events
    say(f"startup: {sessions:,} sessions x {events} events of 300-byte messages")
    results = Path(__file__).parent / "results"  # git-ignored, on the project's disk
    results.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=results) as tmp:
        data_dir = Path(tmp) / "var"
        make_data_dir(data_dir, sessions, events)
        floor = parse_floor(data_dir)
        full, resumed = snapshot_pair(data_dir, None)
        full_budget, resumed_budget = snapshot_pair(data_dir, BUDGET)
        memory = memory_per_message(data_dir)
    postings = memory["postings"]
    # Each distinct word costs the index a few hundred bytes however few messages hold it, so
    # a small store pays more a message: the note says how many there were.
    words = "" if memory["terms"] is None else f" holding {memory['terms']:,} distinct words"
    per_posting = (
        ""
        if postings is None  # an index that does not count them
        else f"{postings / memory['messages']:.1f} postings a message, "
        f"{memory['search'] * memory['messages'] / postings:.1f} bytes a posting all told"
    )
    return [
        _row(
            f"cold start, {total:,} events, vs read + orjson-parse",
            full,
            floor,
            "s",
            2.0,
            f"{total / full:,.0f} events/s",
        ),
        _row(
            "start from snapshot vs full replay (all messages in memory)", resumed, full, "s", 0.2
        ),
        _row(
            "start from snapshot vs full replay, --cache-mb 64 (summaries)",
            resumed_budget,
            full_budget,
            "s",
            0.2,
        ),
        _row(
            "resident memory per 300-byte message, all in",
            memory["all"],
            None,
            "bytes",
            1000.0,
            f"{memory['messages']:,.0f} messages{words}: views, feed index, search index, slack",
        ),
        _row(
            "  of which views and feed index (before the search index)",
            memory["views"],
            None,
            "bytes",
            500.0,
        ),
        _row(
            "  of which the search index",
            memory["search"],
            None,
            "bytes",
            None,
            per_posting,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100, help="events per session")
    parser.add_argument("--memory", type=Path, help=argparse.SUPPRESS)  # the fresh process
    args = parser.parse_args()
    if args.memory is not None:
        print(orjson.dumps(asyncio.run(_measure_memory(args.memory))).decode())
        return
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=results) as tmp:
        data_dir = Path(tmp) / "var"
        make_data_dir(data_dir, args.sessions, args.events)
        floor = parse_floor(data_dir)
        full, resumed = snapshot_pair(data_dir, None)
    total = args.sessions * args.events
    print(
        f"{total:,} events in {args.sessions:,} logs: read + orjson-parse {floor:.3f} s, "
        f"cold start {full:.3f} s ({total / full:,.0f} events/s), from a snapshot {resumed:.3f} s"
    )


if __name__ == "__main__":
    main()
