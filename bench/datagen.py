"""Write a data directory of realistic session logs straight through the codec (fast)."""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path

from orion_events.codec import GENESIS, encode_batch
from orion_events.events import MessageAdded, Recorded, SessionCreated

ROLES = ("user", "assistant")


def make_data_dir(
    root: Path,
    sessions: int,
    events_per_session: int,
    content_bytes: int = 300,
    *,
    position: int = 0,
) -> int:
    """Create `sessions` logs of `events_per_session` events each; returns the events written.

    Global positions follow `position`, so that logs added by a second call to a data dir do not
    share positions with the first call's.
    """
    (root / "sessions").mkdir(parents=True, exist_ok=True)
    text = ("lorem ipsum dolor sit amet " * (content_bytes // 27 + 1))[:content_bytes]
    at = "2025-11-10T12:00:00.000000Z"
    for _ in range(sessions):
        stream = str(uuid.uuid4())
        position += 1
        records = [Recorded(stream, 1, str(uuid.uuid4()), at, SessionCreated(None, {}), position)]
        for seq in range(2, events_per_session + 1):
            event = MessageAdded(str(uuid.uuid4()), ROLES[seq % 2], text, None, "qwen2.5:1.5b")
            position += 1
            records.append(Recorded(stream, seq, str(uuid.uuid4()), at, event, position))
        data, _ = encode_batch(records, GENESIS)
        with open(root / "sessions" / f"{stream}.jsonl", "wb") as f:
            f.write(data)
    os.sync()
    return sessions * events_per_session


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100, help="events per session")
    args = parser.parse_args()
    print(make_data_dir(args.dest, args.sessions, args.events), "events written")
