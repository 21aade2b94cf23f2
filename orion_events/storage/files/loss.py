"""Loss that cannot hide: a data dir that no longer holds events it once held says so.

Every log is named only once its first lines are durable (commit.py), so no crash leaves one
empty or without its first event; and a snapshot records how far each log reached. So an empty
log, a session log that does not open with its creation event, a log shorter than a snapshot's
mark, a log a snapshot marked that is gone, and a missing `sessions/` beside logs that are not
new can only be writes that were acknowledged and then lost (a disk that dropped them, a
careless copy). Start-up and `verify` both report them by these kinds, and never as intact.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from orion_events.domain.events import Recorded, SessionCreated, SessionForked
from orion_events.storage.codec import Damage
from orion_events.storage.port import StreamMark

EMPTY_LOG = "empty_log"
NO_CREATION = "no_creation"
LOST_TAIL = "lost_tail"
LOST_LOG = "lost_log"
LOST_DIR = "lost_dir"
KINDS = frozenset({EMPTY_LOG, NO_CREATION, LOST_TAIL, LOST_LOG, LOST_DIR})


def of_log(stream: str, size: int, first: Recorded | None, *, session: bool) -> Damage | None:
    """What a log's own start says was lost: nothing at all, or its creation event."""
    if size == 0:
        return Damage(1, 0, EMPTY_LOG, "the log is empty: it held at least one event", False)
    if (
        session
        and first is not None
        and not isinstance(first.event, (SessionCreated, SessionForked))
    ):
        return Damage(
            1,
            0,
            NO_CREATION,
            f"the log starts with {first.type}, not its session's creation",
            False,
        )
    return None


def against_mark(size: int, lines: int, mark: StreamMark) -> Damage | None:
    """A log shorter than a snapshot saw it."""
    if size >= mark.length:
        return None
    return Damage(
        lines + 1,
        size,
        LOST_TAIL,
        f"the log ends at byte {size} but reached seq {mark.seq} (byte {mark.length}) "
        "when a snapshot was taken",
        True,
    )


def missing_logs(marks: Mapping[str, StreamMark], present: set[str]) -> dict[str, Damage]:
    """Logs a snapshot marked that are no longer there (a purge removes the snapshot too)."""
    return {
        stream: Damage(
            1,
            0,
            LOST_LOG,
            f"the log is gone but held seq {mark.seq} when a snapshot was taken",
            False,
        )
        for stream, mark in marks.items()
        if stream not in present
    }


def missing_sessions_dir(data_dir: Path, top_level: Mapping[str, int]) -> Damage | None:
    """`sessions/` gone though the data dir is not new: the service makes it durable first."""
    if (data_dir / "sessions").is_dir():
        return None
    held = [f"{name}.jsonl" for name, size in top_level.items() if size > 0]
    if (data_dir / "snapshots").is_dir():
        held.append("snapshots/")
    if not held:
        return None
    return Damage(
        1,
        0,
        LOST_DIR,
        f"sessions/ is gone, though {', '.join(held)} show the dir was in use",
        False,
    )


__all__ = [
    "EMPTY_LOG",
    "KINDS",
    "LOST_DIR",
    "LOST_LOG",
    "LOST_TAIL",
    "NO_CREATION",
    "against_mark",
    "missing_logs",
    "missing_sessions_dir",
    "of_log",
]
