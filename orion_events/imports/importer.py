"""An export file imported into the store (SPEC §10), one conversation at a time, with the
report the CLI prints and the API answers.

Reading (the JSON parse, each format's reader, the tree rules of `to_event`) runs on a thread of
its own, a conversation at a time, so a server that imports keeps serving; writes go through the
store, a few conversations at a time, so their fsyncs overlap instead of queueing one behind
the other. Memory holds the conversations in flight and no more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from attrs import define, field, frozen

from orion_events.domain.events import SessionImported
from orion_events.domain.views import SessionView
from orion_events.imports.conversation import BrokenConversation, to_event
from orion_events.imports.source_file import Item, SourceFile
from orion_events.store.store import Store

IN_FLIGHT = 8  # conversations written side by side
# Failures listed before an import gives up on the file: a file of millions of tiny broken
# items (64 MiB of `{}`) would otherwise make a report of gigabytes. No real export comes near.
MAX_FAILURES = 10_000


@frozen
class Failure:
    index: int  # the conversation's place in the file, from 0
    source_id: str | None
    reason: str


@define
class Report:
    imported: int = 0
    skipped: int = 0
    failed: list[Failure] = field(factory=list)
    sessions: list[str] = field(factory=list)  # the new sessions' ids, in file order

    def as_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "skipped": self.skipped,
            "failed": [
                {"index": f.index, "source_id": f.source_id, "reason": f.reason}
                for f in self.failed
            ],
            "sessions": self.sessions,
        }


# Called after each conversation with how many are done and how far into the file reading is.
Progress = Callable[[int, int], None]


async def import_file(
    store: Store,
    source: SourceFile,
    *,
    owner: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """Every conversation of `source` as a session of `owner`, unless that owner imported it
    before; one that is broken is reported and writes nothing."""
    report = Report()
    written: dict[int, str] = {}
    writing: dict[asyncio.Task[SessionView | None], int] = {}
    items = source.items()
    done = 0

    def one_more() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, source.position)

    def settle(tasks: set[asyncio.Task[SessionView | None]]) -> None:
        for task in tasks:
            index = writing.pop(task)
            view = task.result()  # a failed write (a full disk) ends the import: it raises
            if view is None:
                report.skipped += 1
            else:
                report.imported += 1
                written[index] = view.id
            one_more()

    loop = asyncio.get_running_loop()
    # One thread of its own reads the whole file: the parse stays on one thread from start to
    # end, and a long import takes none of the default pool's threads from the requests that a
    # serving process answers meanwhile.
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orion-import")
    try:
        while (
            next_one := await loop.run_in_executor(reader, _next_event, items, owner)
        ) is not None:
            item, event, reason = next_one
            if event is None:
                report.failed.append(Failure(item.index, item.source_id, reason or ""))
                one_more()
                if len(report.failed) == MAX_FAILURES:
                    report.failed.append(Failure(item.index + 1, None, _GAVE_UP))
                    break
                continue
            writing[asyncio.create_task(store.import_session(event))] = item.index
            if len(writing) >= IN_FLIGHT:
                finished, _ = await asyncio.wait(writing, return_when=asyncio.FIRST_COMPLETED)
                settle(finished)
        if writing:
            settle((await asyncio.wait(writing))[0])
    finally:
        reader.shutdown(wait=False)
        for task in writing:  # cancelled, or after a write failed: let the others end
            task.cancel()
        if writing:
            await asyncio.wait(writing)
    report.sessions = [written[index] for index in sorted(written)]
    return report


_GAVE_UP = (
    f"{MAX_FAILURES:,} conversations failed: the import stopped here, and nothing after this "
    "point was read (is this an export of the format it was taken for?)"
)


def _next_event(
    items: Iterator[Item], owner: str | None
) -> tuple[Item, SessionImported | None, str | None] | None:
    """The next conversation made into its event, or why it cannot be; None at the end."""
    item = next(items, None)
    if item is None:
        return None
    if item.conversation is None:
        return item, None, item.reason
    try:
        return item, to_event(item.conversation, owner=owner), None
    except BrokenConversation as exc:
        return item, None, str(exc)


__all__ = ["IN_FLIGHT", "MAX_FAILURES", "Failure", "Progress", "Report", "import_file"]
