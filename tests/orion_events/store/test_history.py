"""Reads of a session's past (SPEC §12): exactly what a full replay gives, at the cost of what
they return, and never decoded or folded on the event loop.

The oracle is the log file itself, decoded whole by `codec.scan` (no line index involved) and
folded by `replay_session`. Pages are made small so that every read crosses page boundaries.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orion_events.domain import projector
from orion_events.domain.errors import CorruptLog, SessionNotFound
from orion_events.domain.events import Recorded
from orion_events.domain.projector import replay_session
from orion_events.domain.views import SessionView
from orion_events.storage.codec import scan
from orion_events.storage.files import lineindex
from orion_events.storage.files.log import FileLog
from orion_events.store import history as reads
from orion_events.store.store import Store
from tests.orion_events.support import log_path

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Clock:
    """Timestamps a millisecond apart, except where a test steps the clock back."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> str:
        self.now += timedelta(milliseconds=1)
        return stamp(self.now)


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of a few events, so that each read below spans several."""
    monkeypatch.setattr(reads, "FIRST_PAGE", 2)
    monkeypatch.setattr(reads, "PAGE", 5)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(data_dir: Path, clock: Clock) -> AsyncIterator[Store]:
    opened = Store(FileLog(data_dir), clock=clock)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def whole_log(data_dir: Path, session_id: str) -> list[Recorded]:
    """Every event of a session's log, decoded from the file at once (the oracle)."""
    found = scan(log_path(data_dir, session_id).read_bytes(), session_id)
    assert found.damage is None
    return found.records


def replayed(records: list[Recorded]) -> SessionView | None:
    """What a time-travel read answers for this prefix: None where it is 404."""
    view = replay_session(records)
    return None if view is None or view.deleted else view


async def at(store: Store, session_id: str, **when: Any) -> SessionView | None:
    try:
        return await store.session_at(session_id, **when)
    except SessionNotFound:
        return None


async def eventful_session(store: Store, clock: Clock) -> str:
    """A session whose log holds every kind of session event, edits, deletes, clears, a
    delete and a restore among them, and a clock that steps back once."""
    sid = (await store.create_session()).id
    ids = []
    for n in range(12):
        view = await store.add_message(sid, role="user" if n % 2 else "assistant", content=f"m{n}")
        ids.append(view.messages[-1].id)
    await store.edit_message(sid, ids[3], content="m3, edited")
    await store.delete_message(sid, ids[5])
    await store.update_session(sid, title="renamed", metadata={"folder": "work"})
    clock.now -= timedelta(seconds=1)  # a clock stepped back: the log's order stays the truth
    await store.add_message(sid, role="user", content="after the step back")
    await store.clear_messages(sid)
    await store.add_message(sid, role="user", content="after the clear")
    await store.delete_session(sid)
    await store.restore_session(sid)
    for n in range(4):
        await store.add_message(sid, role="assistant", content=f"late {n}")
    return sid


async def test_the_past_at_every_version_is_a_full_replay_of_its_prefix(
    store: Store, data_dir: Path, clock: Clock
) -> None:
    sid = await eventful_session(store, clock)
    fork = (await store.fork_session(sid, version=14)).id
    await store.add_message(fork, role="user", content="in the fork")
    await store.edit_message(fork, (await store.loaded(fork)).messages[0].id, content="edited")
    for session_id in (sid, fork):
        records = whole_log(data_dir, session_id)
        kinds = {r.type for r in records}
        assert len(records) > 3 * reads.PAGE or session_id == fork
        for version in range(1, len(records) + 1):
            assert await at(store, session_id, version=version) == replayed(records[:version])
    kinds = {r.type for r in whole_log(data_dir, sid)} | {r.type for r in whole_log(data_dir, fork)}
    assert kinds >= {
        "session_created",
        "session_forked",
        "message_added",
        "message_edited",
        "message_deleted",
        "messages_cleared",
        "session_renamed",
        "metadata_updated",
        "session_deleted",
        "session_restored",
    }


async def test_as_of_is_the_longest_prefix_written_by_then(
    store: Store, data_dir: Path, clock: Clock
) -> None:
    sid = await eventful_session(store, clock)
    records = whole_log(data_dir, sid)
    stamps = sorted({datetime.fromisoformat(r.at) for r in records})
    micro = timedelta(microseconds=1)
    instants = [START - timedelta(days=1)] + [t + d for t in stamps for d in (-micro, 0 * micro)]
    for moment in [*instants, stamps[-1] + timedelta(days=1)]:
        text = stamp(moment)
        end = next((i for i, r in enumerate(records) if r.at > text), len(records))
        assert await at(store, sid, as_of=text) == replayed(records[:end]), text
        # With a version too: the prefix of that version written by then.
        version = max(1, len(records) // 2)
        end = next((i for i, r in enumerate(records[:version]) if r.at > text), version)
        assert await at(store, sid, version=version, as_of=text) == replayed(records[:end])


async def test_history_pages_are_slices_of_the_log(store: Store, data_dir: Path) -> None:
    sid = (await store.create_session()).id
    for n in range(23):
        await store.add_message(sid, role="user", content=f"m{n}")
    records = whole_log(data_dir, sid)
    for after, limit in itertools.product(range(len(records) + 2), (1, 2, 5, 6, 11, 1000)):
        assert await store.history(sid, after, limit) == records[after : after + limit]


async def test_reads_across_where_the_index_was_built_then_appended_to(
    data_dir: Path, clock: Clock
) -> None:
    store = Store(FileLog(data_dir), clock=clock)
    await store.open()
    sid = (await store.create_session()).id
    for n in range(9):
        await store.add_message(sid, role="user", content=f"before {n}")
    assert len(await store.history(sid, 0, 1000)) == 10  # the index is built here
    for n in range(10):
        await store.add_message(sid, role="user", content=f"after {n}")
    records = whole_log(data_dir, sid)
    await check_reads(store, sid, records)
    await store.close()

    store = Store(FileLog(data_dir), clock=clock)  # a new index, built from the file
    await store.open()
    await store.add_message(sid, role="user", content="after the restart")
    await check_reads(store, sid, whole_log(data_dir, sid))
    await store.close()


async def check_reads(store: Store, sid: str, records: list[Recorded]) -> None:
    """Pages, versions and the current view of `sid` against its whole log."""
    for after in range(len(records) + 1):
        for limit in (1, 3, 7, 1000):
            assert await store.history(sid, after, limit) == records[after : after + limit]
    for version in range(1, len(records) + 1):
        assert await at(store, sid, version=version) == replayed(records[:version])


async def test_lines_written_while_the_index_is_built_follow_it(
    store: Store, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = (await store.create_session()).id
    for n in range(6):
        await store.add_message(sid, role="user", content=f"before {n}")
    started, release = threading.Event(), threading.Event()
    real = lineindex.line_starts

    def held(path: Path, length: int) -> Any:
        started.set()
        assert release.wait(10)
        return real(path, length)

    monkeypatch.setattr(lineindex, "line_starts", held)
    reading = asyncio.create_task(store.history(sid, 0, 1000))
    assert await asyncio.to_thread(started.wait, 10)
    for n in range(8):  # published while the pass over the first seven lines runs
        await store.add_message(sid, role="user", content=f"during {n}")
    release.set()
    records = whole_log(data_dir, sid)
    assert await reading == records
    await check_reads(store, sid, records)


async def test_a_log_whose_torn_tail_was_cut_at_start_reads_to_its_last_good_line(
    data_dir: Path, clock: Clock
) -> None:
    store = Store(FileLog(data_dir), clock=clock)
    await store.open()
    sid = (await store.create_session()).id
    for n in range(8):
        await store.add_message(sid, role="user", content=f"m{n}")
    await store.close()
    good = whole_log(data_dir, sid)
    path = log_path(data_dir, sid)
    # A crash mid-write: the line is cut at the next start.
    path.write_bytes(path.read_bytes() + b'{"seq":10,"pos":99,"id":"torn')

    store = Store(FileLog(data_dir), clock=clock)
    report = await store.open()
    assert sid in report.cut_tails
    await check_reads(store, sid, good)
    for n in range(4):
        await store.add_message(sid, role="user", content=f"after the cut {n}")
    records = whole_log(data_dir, sid)
    assert records[: len(good)] == good
    await check_reads(store, sid, records)
    await store.close()


async def test_cold_sessions_under_a_budget_read_the_same(data_dir: Path, clock: Clock) -> None:
    store = Store(FileLog(data_dir), clock=clock)
    await store.open()
    sids = [(await store.create_session()).id for _ in range(3)]
    for n in range(30):
        await store.add_message(sids[n % 3], role="user", content=f"message {n} " + "x" * 200)
    await store.close()

    store = Store(FileLog(data_dir), clock=clock, cache_bytes=1)  # every session starts cold
    await store.open()
    try:
        for sid in sids:
            assert store.session(sid).cold
            records = whole_log(data_dir, sid)
            await check_reads(store, sid, records)
            assert await store.loaded(sid) == replayed(records)
            # A write to a cold session decides on its whole replay.
            view = await store.add_message(sid, role="user", content="warm")
            assert view == replayed(whole_log(data_dir, sid))
    finally:
        await store.close()


# -- what a read costs, and where -------------------------------------------------------------


class Calls:
    """Which threads decoded lines for reads and folded events into views of the past."""

    def __init__(self) -> None:
        self.decoded: list[int] = []  # a thread id for each line
        self.folded: list[int] = []  # a thread id for each event

    def on_loop(self, loop_thread: int) -> tuple[int, int]:
        return self.decoded.count(loop_thread), self.folded.count(loop_thread)

    def clear(self) -> None:
        self.decoded.clear()
        self.folded.clear()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Every line a read decodes, and every event a replay folds (the writer's own apply of
    the events it appends is not one: it is the write path), by thread."""
    seen = Calls()
    decode, add = lineindex.decode, projector.SessionFold.add

    def decoding(*args: Any, **kwargs: Any) -> Any:
        seen.decoded.append(threading.get_ident())
        return decode(*args, **kwargs)

    def folding(fold: projector.SessionFold, records: list[Recorded]) -> None:
        seen.folded.extend([threading.get_ident()] * len(records))
        add(fold, records)

    monkeypatch.setattr(lineindex, "decode", decoding)
    monkeypatch.setattr(projector.SessionFold, "add", folding)
    return seen


async def long_session(store: Store, messages: int) -> str:
    sid = (await store.create_session()).id
    for n in range(messages):
        await store.add_message(sid, role="user", content=f"m{n}")
    return sid


async def test_a_read_decodes_and_folds_only_what_it_returns(
    store: Store, data_dir: Path, calls: Calls
) -> None:
    sid = await long_session(store, 60)
    await store.history(sid, 0, 1)  # the index: a pass over the file, which decodes nothing
    calls.clear()

    assert [r.seq for r in await store.history(sid, 30, 2)] == [31, 32]
    assert (len(calls.decoded), len(calls.folded)) == (2, 0)
    calls.clear()
    assert (await store.session_at(sid, version=1)).version == 1
    assert (len(calls.decoded), len(calls.folded)) == (1, 1)
    calls.clear()
    assert (await store.session_at(sid, version=9)).version == 9
    assert (len(calls.decoded), len(calls.folded)) == (9, 9)
    calls.clear()
    with pytest.raises(SessionNotFound):
        await store.session_at(sid, as_of="2000-01-01T00:00:00Z")
    assert (len(calls.decoded), len(calls.folded)) == (reads.FIRST_PAGE, 0)


async def test_whole_log_reads_decode_and_fold_off_the_event_loop(
    data_dir: Path, clock: Clock, calls: Calls
) -> None:
    store = Store(FileLog(data_dir), clock=clock)
    await store.open()
    sid = await long_session(store, 40)
    await store.close()
    store = Store(FileLog(data_dir), clock=clock, cache_bytes=1)  # cold: loads replay the log
    await store.open()
    loop_thread = threading.get_ident()
    calls.clear()
    try:
        assert len(await store.history(sid, 0, 1000)) == 41
        assert (await store.session_at(sid, version=35)).version == 35
        assert (await store.session_at(sid, as_of=clock())).version == 41
        assert (await store.loaded(sid)).message_count == 40
        fork = await store.fork_session(sid, version=30)
        assert fork.message_count == 29
        assert len(calls.decoded) > 100
        assert len(calls.folded) > 100
        assert calls.on_loop(loop_thread) == (0, 0)
    finally:
        await store.close()


# -- damage -----------------------------------------------------------------------------------


async def test_a_line_changed_underneath_is_an_error_not_a_short_answer(
    store: Store, data_dir: Path
) -> None:
    sid = await long_session(store, 9)
    await store.history(sid, 0, 1)  # the index is built on the good file
    path = log_path(data_dir, sid)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4].replace(b'"m3"', b'"M3"')  # the same length, another hash
    path.write_bytes(b"".join(lines))

    assert [r.seq for r in await store.history(sid, 0, 4)] == [1, 2, 3, 4]
    assert [r.seq for r in await store.history(sid, 5, 10)] == [6, 7, 8, 9, 10]
    with pytest.raises(CorruptLog, match="line 5: checksum_mismatch"):
        await store.history(sid, 3, 3)
    with pytest.raises(CorruptLog, match="line 5"):
        await store.session_at(sid, version=8)

    path.write_bytes(b"".join(lines[:6]))  # and cut short
    with pytest.raises(CorruptLog, match="no longer hold"):
        await store.history(sid, 6, 3)
