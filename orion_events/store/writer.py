"""The per-stream writer: commands -> checked events -> one durable append -> views.

Each stream has at most one writer at a time. Commands queue per stream; the writer takes the
whole queue, checks each command against the view as it would stand after the ones before it,
appends all their events in one log append and, once that is durable, installs the new view and
answers every command. So concurrent requests to one session share one write and one fsync, seqs
never interleave or gap, a rejected command writes nothing, and readers never see a view ahead of
the disk. A command that would change nothing (SPEC §12) decides no events once its checks have
passed: nothing is appended, it is answered with the view as it stands, and no client's version
goes stale for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from attrs import frozen

from orion_events.domain.errors import VersionConflict
from orion_events.domain.events import Event, Recorded
from orion_events.domain.views import SessionView
from orion_events.storage.port import EventLog
from orion_events.store.current import CurrentViews
from orion_events.store.folds import View, apply_event
from orion_events.store.follower import Advance, Follower
from orion_events.store.history import History
from orion_events.store.idempotency import IdempotencyKey, earlier_answer

Decide: TypeAlias = Callable[[Any], Sequence[Event]]

# A write that lost its seq to another replica is decided again this often; each try reads the
# winners' events first, so only a session written through several replicas at once loses twice.
_CONFLICT_RETRIES = 10


@frozen
class Replay:
    """The answer to a retried request: the view its original events produced."""

    stream: str
    seq: int


@frozen
class _Command:
    decide: Decide
    answer: asyncio.Future[Any]
    key: IdempotencyKey | None = None


class StreamWriter:
    def __init__(
        self,
        event_log: EventLog,
        current: CurrentViews,
        history: History,
        *,
        ids: Callable[[], str],
        clock: Callable[[], str],
        advance: Advance,
        after_batch: Callable[[], None],
    ) -> None:
        self._log = event_log
        self._current = current
        self._history = history
        self._ids = ids
        self._clock = clock
        self._advance = advance  # take a view that committed records brought about
        self._after_batch = after_batch
        # Set on a shared log: a seq lost to another replica is then a race to decide again.
        self.follower: Follower | None = None
        self._queues: dict[str, list[_Command]] = {}
        self._writers: set[asyncio.Task[None]] = set()

    async def submit(
        self, stream: str, decide: Decide, key: IdempotencyKey | None = None
    ) -> View | Replay:
        """The view once `decide`'s events are durable, or, for a retried request, where to
        find the view its first try left."""
        command = _Command(decide, asyncio.get_running_loop().create_future(), key)
        queue = self._queues.get(stream)
        if queue is None:
            queue = self._queues[stream] = []
            writer = asyncio.create_task(self._write(stream, queue))
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        queue.append(command)
        result: View | Replay = await command.answer
        return result

    async def drain(self) -> None:
        """Let every queued command finish."""
        while self._writers:
            await asyncio.gather(*self._writers, return_exceptions=True)

    async def _write(self, stream: str, queue: list[_Command]) -> None:
        try:
            while queue:
                batch = queue[:]
                del queue[:]
                await self._write_batch(stream, batch)
                self._after_batch()  # after the batch's answers, which are queued already
        finally:
            del self._queues[stream]

    def _replay_for(self, key: IdempotencyKey) -> Replay | None:
        found = earlier_answer(self._current.keys, key)
        return None if found is None else Replay(found[0], found[1])

    async def _write_batch(self, stream: str, batch: list[_Command], attempt: int = 0) -> None:
        current = self._current
        view = current.view(stream)
        if isinstance(view, SessionView) and view.messages is None:
            # Cold: decide on the whole session. This writer alone appends to the stream, so
            # its log holds exactly this view's events.
            view = await self._history.session(stream)
            current.install(stream, view)
        records: list[Recorded] = []
        outcomes: list[tuple[_Command, BaseException | None, Any]] = []
        new_keys: list[tuple[str, str]] = []
        for command in batch:
            try:
                replay = self._replay_for(command.key) if command.key else None
                if replay is not None:
                    outcomes.append((command, None, replay))
                    continue
                events = command.decide(view)
                after, added = view, []
                for n, event in enumerate(events):
                    seq = (after.version if after is not None else 0) + 1
                    meta = command.key.meta if command.key and n == 0 else None
                    recorded = Recorded(stream, seq, self._ids(), self._clock(), event, 0, meta)
                    after = apply_event(stream, after, recorded)
                    added.append(recorded)
            except Exception as exc:  # the command's caller gets its own failure
                outcomes.append((command, exc, None))
                continue
            if command.key and added:
                # Claimed now, so a retry later in this same batch replays instead of repeating.
                # A keyed command that changed nothing has no event to hold its key: its retry
                # is decided again, and answered with the view as it then stands.
                scope_key = (command.key.scope, command.key.key)
                current.keys[scope_key] = (stream, added[0].seq, command.key.fingerprint)
                new_keys.append(scope_key)
            view = after
            records.extend(added)
            outcomes.append((command, None, view))
        if records:
            try:
                written = await self._log.append(stream, records)
            except Exception as exc:  # every command of the batch shares the failure
                for scope_key in new_keys:
                    current.keys.pop(scope_key, None)
                follower = self.follower
                lost_race = type(exc) is VersionConflict and follower is not None
                if lost_race and attempt < _CONFLICT_RETRIES:
                    assert follower is not None
                    # Another replica took this seq: take its events, then decide again, as
                    # one node would have after serialising the two (If-Match then says 412).
                    await follower.catch_up(stream)
                    await self._write_batch(stream, batch, attempt + 1)
                    return
                outcomes = [(c, error or exc, v) for c, error, v in outcomes]
            else:
                self._advance(stream, view, written)
        for command, error, result in outcomes:
            if command.answer.done():
                continue
            if error is not None:
                command.answer.set_exception(error)
            else:
                command.answer.set_result(result)
