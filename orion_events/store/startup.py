"""Start-up: every log folded into the views as it is read, from the newest snapshot on where
the logs still extend it. Damage found on the way makes its stream read-only, never stops it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs
from attrs import frozen

from orion_events.domain.errors import OrionError
from orion_events.domain.events import Recorded
from orion_events.domain.projector import RULES_VERSION, apply_settings, replay_session
from orion_events.domain.streams import OPERATIONS_STREAM, SETTINGS_STREAM, USERS_STREAM
from orion_events.domain.users import UsersView, apply_users
from orion_events.domain.views import OperationsView, SessionView, SettingsBook
from orion_events.storage.port import EventLog, LoadedStream, Resume, SnapshotsBeside
from orion_events.store import snapshot
from orion_events.store.current import CurrentViews
from orion_events.store.idempotency import Keys, keys_in

log = logging.getLogger(__name__)

# What folding a log whose lines all pass their checks can still raise: an event of the wrong
# type or out of place (CorruptLog), or data the views do not take (unknown setting, missing
# message field). At start-up each is damage to serve read-only, never a reason not to start.
_UNFOLDABLE = (OrionError, LookupError, TypeError, ValueError)


@frozen
class LoadReport:
    sessions: int
    events: int
    seconds: float
    cut_tails: dict[str, str]
    damaged: dict[str, str]
    from_snapshot: bool = False  # views came from a snapshot and only the logs' tails were read


def _why(exc: Exception) -> str:
    """What a log's replay stopped at, for health and the start-up report."""
    return exc.message if isinstance(exc, OrionError) else f"{type(exc).__name__}: {exc}"


async def load(event_log: EventLog, current: CurrentViews) -> LoadReport:
    """Fill `current` from the logs (and the snapshot beside them, if any)."""
    started = time.perf_counter()
    cut_tails: dict[str, str] = {}
    events = 0
    found = None
    if isinstance(event_log, SnapshotsBeside):
        found = await asyncio.to_thread(snapshot.read, event_log.snapshot_dir)
    resume: Resume | None = None
    base: dict[str, SessionView] = {}
    keys: Keys = {}
    if found is not None and found.rules != RULES_VERSION:
        rules = (found.rules, RULES_VERSION)
        log.info("the snapshot was folded under rules %d, not %d: replaying every log", *rules)
        resume = Resume(found.marks, found.feed, found.position, whole=True)
    elif found is not None:
        resume = Resume(found.marks, found.feed, found.position)
        base = {view.id: view for view in found.sessions}
    resumed = False

    def fold(stream: LoadedStream) -> None:
        # On the log's loader thread while nothing else touches the store: each log is
        # folded into its view as soon as it is read, and its events are then dropped.
        nonlocal events, resumed
        events += len(stream.records) + stream.resumed_after
        if stream.resumed_after:
            resumed = True
        if stream.cut_tail is not None:
            cut_tails[stream.stream] = stream.cut_tail.describe()
        if stream.damage is not None:
            current.read_only[stream.stream] = stream.damage.describe()
        keys_in(stream.records, keys)
        if stream.stream == SETTINGS_STREAM:
            start = found.settings if found and stream.resumed_after else SettingsBook()
            current.settings = _fold_top(
                current, SETTINGS_STREAM, stream.records, start, apply_settings
            )
            return
        if stream.stream == OPERATIONS_STREAM:
            # a resumed log's earlier events are counted by resumed_after
            current.operations = OperationsView(stream.resumed_after + len(stream.records))
            return
        if stream.stream == USERS_STREAM:  # never in a snapshot's marks: read whole
            current.users = _fold_top(
                current, USERS_STREAM, stream.records, UsersView(), apply_users
            )
            return
        try:
            snapshotted = base[stream.stream] if stream.resumed_after else None
            view = replay_session(stream.records, snapshotted)
        except _UNFOLDABLE as exc:
            # What the log itself found (loss, a line out of place) says more.
            current.read_only.setdefault(stream.stream, _why(exc))
            log.error("session %s cannot be replayed: %s", stream.stream, _why(exc))
            return
        if view is not None:
            if current.budget is not None and view.messages is not None:
                # Under a budget every session starts cold; use makes them hot.
                view = attrs.evolve(view, messages=None)
            current.sessions[stream.stream] = view

    await event_log.open(fold, resume)
    # Keys from the snapshot stand only if the logs still extend it.
    current.keys = {**found.keys, **keys} if found is not None and resumed else keys
    current.events = events
    current.sort_sessions()
    current.list_changes += 1
    return LoadReport(
        sessions=current.live_sessions(),
        events=events,
        seconds=time.perf_counter() - started,
        cut_tails=cut_tails,
        damaged=dict(current.read_only),
        from_snapshot=resumed,
    )


V = TypeVar("V")


def _fold_top(
    current: CurrentViews,
    stream: str,
    records: Sequence[Recorded],
    start: V,
    apply: Callable[[V, Recorded], V],
) -> V:
    """A top-level log (the settings, the users) as of its last event the projector accepts.

    A line can pass its hash and chain and still not be an event the projector takes (another
    type, unknown keys): that is damage like any other, so the view stays served as it stood
    before it and the log turns read-only (no settings changed, no user or key made or revoked
    until it is mended), instead of stopping start-up. Folded event by event, not by a replay,
    to keep the view up to that line.
    """
    view = start
    for recorded in records:
        try:
            view = apply(view, recorded)
        except _UNFOLDABLE as exc:
            why = f"seq {recorded.seq}: {_why(exc)}"
            current.read_only[stream] = why
            log.error("the %s log cannot be replayed past %s; read-only", stream, why)
            break
    return view
