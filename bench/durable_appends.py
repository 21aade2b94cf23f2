"""Acknowledged-durable appends per second: what each way of syncing costs, side by side.

Each client awaits its append (so each counts only once it is durable) and then sends the next,
each client to its own session, 300-byte messages. In one process, on one disk, one after
another at each number of clients:

- fdatasync: the store as it runs, group commit, every touched log fdatasync'd (side by side on
  a few threads), which is durable on any POSIX file system;
- syncfs: the same with one syncfs(2) a batch, the old default and now an opt-in (--sync
  syncfs), durable only where the file system implements syncfs;
- each: one write and one fdatasync per append, no group commit (the floor group commit lifts);
- SQLite: stdlib sqlite3 in WAL with synchronous=FULL, one INSERT + COMMIT an append, the better
  of one shared connection and a connection per client thread (bench/peers.py).

Ratios are what to read; absolute numbers vary with the machine and its disk.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.peers import SqlitePeer
from orion_events.storage.files.commit import SyncMode
from orion_events.storage.files.log import FileLog
from orion_events.store.store import Store

CONTENT = "x" * 300
MODES = ("fdatasync", "syncfs", "each", "shared")


async def measure(
    data_dir: Path,
    clients: int,
    seconds: float,
    *,
    sync: SyncMode = "fdatasync",
    group_commit: bool = True,
    shared: bool = False,
) -> float:
    store = Store(FileLog(data_dir, group_commit=group_commit, sync=sync))
    await store.open()
    sessions = [(await store.create_session()).id for _ in range(1 if shared else clients)]
    sessions *= clients // len(sessions)
    deadline = time.perf_counter() + seconds
    acked = 0

    async def client(session_id: str) -> None:
        nonlocal acked
        while time.perf_counter() < deadline:
            await store.add_message(session_id, role="user", content=CONTENT)
            acked += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(s) for s in sessions))
    elapsed = time.perf_counter() - started
    await store.close()
    return acked / elapsed


async def sqlite_rate(directory: Path, clients: int, seconds: float, per_thread: bool) -> float:
    peer = SqlitePeer(directory, per_thread=per_thread)
    try:
        sessions = await peer.prepare(clients, 10)
        acked, elapsed = await peer.throughput(sessions, seconds)
    finally:
        await peer.close()
    return acked / elapsed


def rates(clients: int, seconds: float) -> dict[str, float]:
    """Appends/s for `clients`, by mode (see the module's doc), and SQLite's better way."""
    result = {}
    for mode in MODES:
        with tempfile.TemporaryDirectory(dir=".") as tmp:
            sync: SyncMode = "syncfs" if mode == "syncfs" else "fdatasync"
            result[mode] = asyncio.run(
                measure(
                    Path(tmp),
                    clients,
                    seconds,
                    sync=sync,
                    group_commit=mode != "each",
                    shared=mode == "shared",
                )
            )
    sqlite = []
    for per_thread in (False, True):
        with tempfile.TemporaryDirectory(dir=".") as tmp:
            sqlite.append(asyncio.run(sqlite_rate(Path(tmp), clients, seconds, per_thread)))
    result["sqlite"] = max(sqlite)
    return result


def _row(name: str, real: float, bare: float, note: str) -> dict[str, Any]:
    return {
        "part": "durable_appends",
        "name": name,
        "real": real,
        "bare": bare,
        "unit": "appends/s",
        "ratio": real / bare,
        "target": None,
        "op": "",
        "met": None,
        "note": note,
    }


def run(quick: bool = False, log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Rows for the bench.run table, per number of clients."""
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    rows = []
    for clients in (64,) if quick else (1, 16, 64):
        say(f"durable appends: {clients} clients")
        r = rates(clients, 0.5 if quick else 3.0)
        rows.append(
            _row(
                f"durable appends/s, {clients} clients: fdatasync each log / syncfs (old)",
                r["fdatasync"],
                r["syncfs"],
                f"one write + fdatasync per append, no group commit: {r['each']:,.0f}/s; "
                f"all {clients} on one session: {r['shared']:,.0f}/s",
            )
        )
        rows.append(
            _row(
                f"durable appends/s, {clients} clients: this project / SQLite WAL FULL",
                r["fdatasync"],
                r["sqlite"],
                "SQLite: the better of one shared connection and one per client thread",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    print("acknowledged durable appends per second, each client on its own session")
    print(
        f"{'clients':>8} {'fdatasync':>10} {'syncfs':>8} {'each':>7} {'sqlite':>8} "
        f"{'one session':>12}"
    )
    for clients in args.clients:
        r = rates(clients, args.seconds)
        print(
            f"{clients:>8} {r['fdatasync']:>10,.0f} {r['syncfs']:>8,.0f} {r['each']:>7,.0f} "
            f"{r['sqlite']:>8,.0f} {r['shared']:>12,.0f}"
        )


if __name__ == "__main__":
    main()
