"""Time a cold start (Store.open: read, check, replay every log) on a generated data dir."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.datagen import make_data_dir
from orion_events.log import FileLog
from orion_events.store import Store


async def open_store(data_dir: Path) -> tuple[float, int]:
    started = time.perf_counter()
    store = Store(FileLog(data_dir))
    report = await store.open()
    seconds = time.perf_counter() - started
    await store.close()
    return seconds, report.events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100, help="events per session")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "var"
        make_data_dir(data_dir, args.sessions, args.events)
        seconds, events = asyncio.run(open_store(data_dir))
        print(
            f"cold start: {events} events in {args.sessions} sessions: {seconds:.3f} s "
            f"({events / seconds:,.0f} events/s)"
        )


if __name__ == "__main__":
    main()
