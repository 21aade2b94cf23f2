"""Taking snapshots of the views: in the background every so many events, and at a clean stop.
What a snapshot holds and how it is written is snapshot.py's."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from orion_events.domain.projector import RULES_VERSION
from orion_events.domain.streams import OPERATIONS_STREAM, SETTINGS_STREAM
from orion_events.storage.files.durable import DEFAULT_IO
from orion_events.storage.port import EventLog, HasIO, ReportsLoss, SnapshotsBeside
from orion_events.store import snapshot
from orion_events.store.current import CurrentViews

log = logging.getLogger(__name__)


class SnapshotTaker:
    def __init__(self, event_log: EventLog, current: CurrentViews, every: int | None) -> None:
        self._log = event_log
        self._current = current
        # A snapshot in the background every this many events (None: only at a clean stop).
        self._every = every
        self._loss: ReportsLoss | None = event_log if isinstance(event_log, ReportsLoss) else None
        self._task: asyncio.Task[None] | None = None
        self.position = 0  # the last position the newest snapshot covers

    def _loss_stands(self) -> bool:
        return self._loss is not None and self._loss.has_loss

    async def write(self) -> Path | None:
        """Snapshot the views as they stand: every view whose log has nothing in flight.

        Taken in one step on the event loop (views, marks and the feed index agree), written on
        a thread. A session with a write in flight is left out, and replayed in full next time.
        """
        event_log = self._log
        if not isinstance(event_log, SnapshotsBeside):
            return None
        if self._loss_stands():
            # The snapshot there is the evidence (its marks) of what the logs lost: a new one
            # would not hold it, and the next start would find nothing wrong.
            log.warning("no snapshot while the loss found at start-up stands (see health)")
            return None
        current = self._current
        marks = dict(event_log.marks())
        sessions = []
        for stream, mark in list(marks.items()):
            view = current.sessions.get(stream)
            settings_version = current.settings.version if stream == SETTINGS_STREAM else None
            if stream in (SETTINGS_STREAM, OPERATIONS_STREAM):
                if settings_version is not None and settings_version != mark.seq:
                    del marks[stream]
            elif view is None or view.version != mark.seq or stream in current.read_only:
                del marks[stream]
            else:
                sessions.append(view)
        taken = snapshot.Snapshot(
            position=self._log.last_position,
            marks=marks,
            sessions=sessions,
            settings=current.settings,
            keys=dict(current.keys),
            feed=event_log.feed_columns(),
            rules=RULES_VERSION,
        )
        # Through the log's I/O seam, where it has one, so a test sees (or fails) its syncs.
        io = self._log.io if isinstance(self._log, HasIO) else DEFAULT_IO
        path = await asyncio.to_thread(snapshot.write, event_log.snapshot_dir, taken, io)
        self.position = taken.position
        return path

    def if_due(self) -> None:
        """Snapshot in the background once `every` events came since the last one (SPEC §12),
        one at a time, and none while a loss found at start-up stands."""
        due = self._every
        if due is None or not isinstance(self._log, SnapshotsBeside) or self._loss_stands():
            return
        if self._task is not None and not self._task.done():
            return
        if self._log.last_position - self.position >= due:
            self._task = asyncio.create_task(self._write_in_background())

    async def _write_in_background(self) -> None:
        try:
            await self.write()
        except OSError as exc:  # derived data: a failed snapshot costs a slower start only
            log.warning("could not write a snapshot: %s", exc)

    async def close(self) -> None:
        """Wait for a background snapshot, then snapshot what came since."""
        if self._task is not None:
            # Awaited, not cancelled: its thread would go on writing the file the last
            # snapshot is about to be written to.
            await self._task
        if self._log.last_position > self.position:
            await self._write_in_background()
