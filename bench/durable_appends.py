"""Acknowledged-durable appends per second: group commit vs one write + fsync per append.

Each client awaits its append (so each counts only once it is on disk) and then sends the next,
each client to its own session. Both modes run side by side in one process, on one disk, so the
ratio is what to read; absolute numbers vary with the machine.
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

from orion_events.log import FileLog
from orion_events.store import Store


async def measure(
    data_dir: Path, clients: int, seconds: float, group_commit: bool, shared: bool = False
) -> float:
    store = Store(FileLog(data_dir, group_commit=group_commit))
    await store.open()
    sessions = [(await store.create_session()).id for _ in range(1 if shared else clients)]
    sessions *= clients // len(sessions)
    deadline = time.perf_counter() + seconds
    acked = 0

    async def client(session_id: str) -> None:
        nonlocal acked
        while time.perf_counter() < deadline:
            await store.add_message(session_id, role="user", content="x" * 300)
            acked += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(s) for s in sessions))
    elapsed = time.perf_counter() - started
    await store.close()
    return acked / elapsed


def rates(clients: int, seconds: float) -> dict[str, float]:
    """Appends/s for `clients`: group commit, fsync each, and group commit on one shared session."""
    result = {}
    for mode in ("group", "each", "shared"):
        with tempfile.TemporaryDirectory(dir=".") as tmp:
            result[mode] = asyncio.run(
                measure(Path(tmp), clients, seconds, mode != "each", mode == "shared")
            )
    return result


def run(quick: bool = False, log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Rows for the bench.run table: group commit vs fsync each, per number of clients."""
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    rows = []
    for clients in (64,) if quick else (1, 16, 64):
        say(f"durable appends: {clients} clients")
        r = rates(clients, 0.5 if quick else 3.0)
        rows.append(
            {
                "part": "durable_appends",
                "name": f"durable appends/s, {clients} clients: group commit / fsync each",
                "real": r["group"],
                "bare": r["each"],
                "unit": "appends/s",
                "ratio": r["group"] / r["each"],
                "target": None,
                "op": "",
                "met": None,
                "note": f"all {clients} on one session: {r['shared']:,.0f}/s",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    print("acknowledged durable appends per second, each client on its own session,")
    print("and (last column) all clients on one session, group commit on")
    print(
        f"{'clients':>8} {'group commit':>13} {'fsync each':>11} {'ratio':>6} {'one session':>12}"
    )
    for clients in args.clients:
        r = rates(clients, args.seconds)
        print(
            f"{clients:>8} {r['group']:>13,.0f} {r['each']:>11,.0f} "
            f"{r['group'] / r['each']:>6.1f} {r['shared']:>12,.0f}"
        )


if __name__ == "__main__":
    main()
