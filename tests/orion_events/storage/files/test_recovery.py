"""Start-up on damaged logs: middle damage turns a session read-only, torn tails are cut and kept.

Each test writes a real history through a real store, damages the files the way a disk, an editor
or a crash would, and then checks three independent witnesses: what a fresh store serves and
refuses, what `verify_dir` reports, and the bytes left in the files and in quarantine/.
"""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

from orion_events.domain.errors import SessionNotFound, SessionReadOnly
from orion_events.domain.events import Event, MessageAdded, Recorded, SessionForked, SettingsChanged
from orion_events.domain.views import SessionView, SettingsView
from orion_events.ops.verify import verify_dir
from orion_events.storage.codec import GENESIS, encode
from orion_events.storage.files.log import FileLog
from orion_events.store.store import Store
from tests.orion_events.support import (
    dump,
    lines_of,
    log_path,
    open_store,
    open_with_report,
    write_sessions,
)

STAMP = "2025-11-10T12:00:05.123456Z"

# -- helpers ------------------------------------------------------------------------------------


@attrs.define
class History:
    """A session written through a real store, with the view it had after each of its events."""

    session_id: str
    other_id: str
    views: dict[int, dict[str, Any]]  # version -> dump of the view the store answered with
    spliced: bytes = b""  # a line of an independent history of the same session id


async def write_history(
    data_dir: Path, messages: int = 3, *, session_id: str | None = None
) -> History:
    """A session of 1 + `messages` lines, and a second, healthy session of 2 lines."""
    ids: Callable[[], str] = lambda: str(uuid.uuid4())  # noqa: E731
    if session_id is not None:
        fixed = itertools.chain([session_id], iter(lambda: str(uuid.uuid4()), None))
        ids = fixed.__next__
    store = Store(FileLog(data_dir), ids=ids)
    await store.open()
    try:
        created = await store.create_session(title="damaged later")
        views = {created.version: dump(created)}
        for i in range(messages):
            view = await store.add_message(
                created.id, role="user" if i % 2 == 0 else "assistant", content=f"message {i}"
            )
            views[view.version] = dump(view)
        other = await store.create_session(title="healthy")
        await store.add_message(other.id, role="user", content="still writable")
    finally:
        await store.close()
    return History(created.id, other.id, views)


def flip_in_content(line: bytes) -> bytes:
    """The same line with one bit of one letter of its message content changed."""
    at = line.index(b'"content":"') + len(b'"content":"')
    return line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]


def flip_in_hash(line: bytes) -> bytes:
    at = line.index(b'"hash":"') + len(b'"hash":"') + 5
    replacement = b"0" if line[at : at + 1] != b"0" else b"1"
    return line[:at] + replacement + line[at + 1 :]


def report_for(data_dir: Path, path: Path) -> dict[str, Any]:
    reports = {r.path: r for r in verify_dir(data_dir)}
    return reports[path].as_json()


# -- damage in the middle -----------------------------------------------------------------------

Damager = Callable[[list[bytes], History, Path], list[bytes]]


def _flip_line_2(lines: list[bytes], h: History, d: Path) -> list[bytes]:
    return [lines[0], flip_in_content(lines[1]), *lines[2:]]


def _flip_hash_line_3(lines: list[bytes], h: History, d: Path) -> list[bytes]:
    return [*lines[:2], flip_in_hash(lines[2]), *lines[3:]]


def _delete_line_2(lines: list[bytes], h: History, d: Path) -> list[bytes]:
    return [lines[0], *lines[2:]]


def _swap_lines_2_3(lines: list[bytes], h: History, d: Path) -> list[bytes]:
    return [lines[0], lines[2], lines[1], lines[3]]


def _swap_lines_3_4(lines: list[bytes], h: History, d: Path) -> list[bytes]:
    return [lines[0], lines[1], lines[3], lines[2]]


def _duplicate_line_2(lines: list[bytes], h: History, d: Path) -> list[bytes]:
    return [lines[0], lines[1], lines[1], *lines[2:]]


def _line_from_other_session(lines: list[bytes], h: History, d: Path) -> list[bytes]:
    foreign = lines_of(log_path(d, h.other_id))[1]  # seq 2 of another session
    return [lines[0], foreign, *lines[2:]]


def _garbage_line_3(lines: list[bytes], h: History, d: Path) -> list[bytes]:
    return [*lines[:2], b"this is not an event\n", *lines[2:]]


def _splice_from_other_history(lines: list[bytes], h: History, d: Path) -> list[bytes]:
    """Line 3 of a second, independent history of the same session id: a valid line, wrong chain."""
    assert h.spliced
    return [*lines[:2], h.spliced, *lines[3:]]


MIDDLE_DAMAGE: dict[str, tuple[Damager, str, int]] = {
    "byte flipped in line 2 of 4": (_flip_line_2, "checksum_mismatch", 2),
    "hash changed in line 3 of 4": (_flip_hash_line_3, "checksum_mismatch", 3),
    "line 2 of 4 deleted": (_delete_line_2, "sequence_gap", 2),
    "lines 2 and 3 swapped": (_swap_lines_2_3, "sequence_gap", 2),
    "lines 3 and 4 swapped": (_swap_lines_3_4, "sequence_gap", 3),
    "line 2 duplicated": (_duplicate_line_2, "sequence_repeat", 3),
    "line 2 from another session": (_line_from_other_session, "wrong_stream", 2),
    "garbage line inserted as line 3": (_garbage_line_3, "bad_json", 3),
    "line 3 spliced from another history": (_splice_from_other_history, "chain_break", 3),
}


@pytest.mark.parametrize("case", list(MIDDLE_DAMAGE))
async def test_damage_in_the_middle_serves_the_session_read_only_up_to_it(
    data_dir: Path, tmp_path: Path, case: str
) -> None:
    damage, kind, line = MIDDLE_DAMAGE[case]
    history = await write_history(data_dir)
    twin = await write_history(tmp_path / "twin", session_id=history.session_id)
    assert twin.session_id == history.session_id
    history.spliced = lines_of(log_path(tmp_path / "twin", twin.session_id))[2]

    path = log_path(data_dir, history.session_id)
    other_path = log_path(data_dir, history.other_id)
    original = lines_of(path)
    assert len(original) == 4
    damaged = b"".join(damage(original, history, data_dir))
    assert damaged != b"".join(original)
    path.write_bytes(damaged)

    # verify names the file, the line and the kind, and passes the healthy log.
    found = report_for(data_dir, path)
    assert (found["ok"], found["kind"], found["line"], found["at_tail"]) == (
        False,
        kind,
        line,
        False,
    )
    assert found["events"] == line - 1
    assert report_for(data_dir, other_path)["ok"]

    for _start in range(2):  # the damage is found again on every start; nothing repairs it
        store, report = await open_with_report(data_dir)
        try:
            assert report.cut_tails == {}
            assert set(report.damaged) == {history.session_id}
            assert f"line {line}" in report.damaged[history.session_id]
            assert kind in report.damaged[history.session_id]

            # Served as it stood before the damaged line.
            assert dump(store.session(history.session_id)) == history.views[line - 1]
            listed = {v.id for v in store.sessions().sessions}
            assert {history.session_id, history.other_id} <= listed

            refused = [
                store.add_message(history.session_id, role="user", content="refused"),
                store.update_session(history.session_id, title="refused"),
                store.update_session(history.session_id, metadata={"k": "v"}),
                store.clear_messages(history.session_id),
                store.delete_session(history.session_id),
            ]
            for command in refused:
                with pytest.raises(SessionReadOnly):
                    await command
            assert path.read_bytes() == damaged

            health = store.health()
            assert health["status"] == "degraded"
            assert health["read_only_sessions"] == [history.session_id]
            assert kind in health["problems"][history.session_id]

            view = await store.add_message(history.other_id, role="user", content="fine")
            assert view.version == 3 + _start
            assert (await store.create_session(title="new")).version == 1
        finally:
            await store.close()

    assert path.read_bytes() == damaged  # never cut, never rewritten
    assert not (data_dir / "quarantine").exists() or not any((data_dir / "quarantine").iterdir())


async def test_damage_at_line_1_refuses_writes_and_serves_nothing(data_dir: Path) -> None:
    history = await write_history(data_dir)
    path = log_path(data_dir, history.session_id)
    lines = lines_of(path)
    damaged = b"".join([lines[0].replace(b"session_created", b"session_creatd"), *lines[1:]])
    path.write_bytes(damaged)

    store, report = await open_with_report(data_dir)
    try:
        assert set(report.damaged) == {history.session_id}
        with pytest.raises(SessionNotFound):
            store.session(history.session_id)
        with pytest.raises(SessionReadOnly):
            await store.add_message(history.session_id, role="user", content="refused")
        assert store.health()["read_only_sessions"] == [history.session_id]
    finally:
        await store.close()
    assert path.read_bytes() == damaged
    assert report_for(data_dir, path)["line"] == 1


async def assert_settings_read_only_and_sessions_writable(
    store: Store, session_id: str, version_after: int
) -> None:
    """Settings writes refused, health degraded naming them, and a session still writable."""
    with pytest.raises(SessionReadOnly):
        await store.change_settings({"theme": "auto"})
    with pytest.raises(SessionReadOnly):
        await store.reset_settings()
    health = store.health()
    assert health["status"] == "degraded"
    assert health["read_only_sessions"] == ["settings"]
    view = await store.add_message(session_id, role="user", content="ok")
    assert view.version == version_after


async def three_settings_and_a_session(
    data_dir: Path,
) -> tuple[tuple[SettingsView, SettingsView, SettingsView], SessionView]:
    """Three settings changes (seqs 1-3) and a session, written by a store closed again after."""
    store = await open_store(data_dir)
    try:
        changes = (
            await store.change_settings({"theme": "light"}),
            await store.change_settings({"language": "fr"}),
            await store.change_settings({"max_tokens": 99}),
        )
        return changes, await store.create_session(title="writable")
    finally:
        await store.close()


async def test_damaged_settings_log_is_read_only_and_sessions_stay_writable(
    data_dir: Path,
) -> None:
    (first, _, _), session = await three_settings_and_a_session(data_dir)
    path = data_dir / "settings.jsonl"
    lines = lines_of(path)
    damaged = b"".join([lines[0], flip_in_hash(lines[1]), lines[2]])
    path.write_bytes(damaged)

    store = await open_store(data_dir)
    try:
        assert attrs.asdict(store.settings) == attrs.asdict(first)
        await assert_settings_read_only_and_sessions_writable(store, session.id, 2)
    finally:
        await store.close()
    assert path.read_bytes() == damaged
    found = report_for(data_dir, path)
    assert (found["kind"], found["line"]) == ("checksum_mismatch", 2)


def last_position(data_dir: Path) -> int:
    """The highest global position of any line under `data_dir`."""
    return max(
        orjson.loads(line)["pos"] for path in data_dir.rglob("*.jsonl") for line in lines_of(path)
    )


def valid_line(stream: str, seq: int, event: Event, *, prev: str, position: int) -> bytes:
    """The line the codec itself writes for `event` at `seq`, chained after the hash `prev`."""
    recorded = Recorded(stream, seq, str(uuid.uuid4()), STAMP, event, position)
    return encode(recorded, prev)[0]


def hash_of(line: bytes) -> str:
    return str(orjson.loads(line)["hash"])


UNFOLDABLE_SETTINGS: dict[str, Event] = {
    "a session event": MessageAdded(str(uuid.uuid4()), "user", "in the settings log"),
    "an unknown setting": SettingsChanged({"no_such_setting": 1}),
}


@pytest.mark.parametrize("case", list(UNFOLDABLE_SETTINGS))
async def test_settings_line_the_projector_rejects_serves_settings_read_only_up_to_it(
    data_dir: Path, case: str
) -> None:
    (_, second, _), session = await three_settings_and_a_session(data_dir)
    path = data_dir / "settings.jsonl"
    lines = lines_of(path)
    # Hash, chain, seq and stream all check out: only folding it into the settings fails.
    position = last_position(data_dir)
    event = UNFOLDABLE_SETTINGS[case]
    bad = valid_line("settings", 3, event, prev=hash_of(lines[1]), position=position + 1)
    after = valid_line(
        "settings", 4, SettingsChanged({"theme": "auto"}), prev=hash_of(bad), position=position + 2
    )
    damaged = b"".join([lines[0], lines[1], bad, after])
    path.write_bytes(damaged)
    assert report_for(data_dir, path)["ok"]  # no byte is wrong: it is the content that is

    for _start in range(2):  # found again on every start, whatever a snapshot holds
        store, report = await open_with_report(data_dir)
        try:
            assert set(report.damaged) == {"settings"}
            assert "seq 3" in report.damaged["settings"]
            assert attrs.asdict(store.settings) == attrs.asdict(second)
            await assert_settings_read_only_and_sessions_writable(store, session.id, 2 + _start)
        finally:
            await store.close()
        assert path.read_bytes() == damaged


UNFOLDABLE_FORKS: dict[str, tuple[dict[str, Any], str]] = {
    "a message without its fields": ({"id": "m1"}, "KeyError"),
    "content that is no text": (
        {
            "id": "m1",
            "role": "user",
            "content": 5,
            "timestamp": STAMP,
            "agent": None,
            "model": None,
        },
        "TypeError",
    ),
}


@pytest.mark.parametrize("case", list(UNFOLDABLE_FORKS))
async def test_session_log_the_projector_cannot_fold_does_not_stop_start_up(
    data_dir: Path, case: str
) -> None:
    history = await write_history(data_dir)
    path = log_path(data_dir, history.session_id)
    # A fork carrying a message no view can take: a valid line whose data does not fold.
    message, error = UNFOLDABLE_FORKS[case]
    fork = SessionForked(
        title="fork",
        title_source="client",
        metadata={},
        messages=[message],
        source_session=history.other_id,
        source_version=1,
    )
    position = orjson.loads(lines_of(path)[0])["pos"]  # the line it replaces: no clash
    damaged = valid_line(history.session_id, 1, fork, prev=GENESIS, position=position)
    path.write_bytes(damaged)
    # The log is now shorter than the snapshot saw it, which is loss of its own (tested in
    # test_loss.py); without the snapshot, only the content is wrong.
    shutil.rmtree(data_dir / "snapshots")
    assert report_for(data_dir, path)["ok"]

    store, report = await open_with_report(data_dir)
    try:
        assert set(report.damaged) == {history.session_id}
        assert error in report.damaged[history.session_id]
        with pytest.raises(SessionNotFound):
            store.session(history.session_id)
        with pytest.raises(SessionReadOnly):
            await store.add_message(history.session_id, role="user", content="refused")
        assert store.health()["read_only_sessions"] == [history.session_id]
        view = await store.add_message(history.other_id, role="user", content="fine")
        assert view.version == 3
    finally:
        await store.close()
    assert path.read_bytes() == damaged


# -- torn tails ---------------------------------------------------------------------------------

Tail = Callable[[bytes], bytes]

TORN_TAILS: dict[str, tuple[Tail, str]] = {
    "one byte": (lambda line: line[:1], "torn_tail"),
    "ten bytes": (lambda line: line[:10], "torn_tail"),
    "half a line": (lambda line: line[: len(line) // 2], "torn_tail"),
    "all but the newline": (lambda line: line[:-1], "torn_tail"),
    "all but the last two bytes": (lambda line: line[:-2], "torn_tail"),
    "whole line failing its hash": (flip_in_content, "checksum_mismatch"),
    "torn line failing its hash": (lambda line: flip_in_content(line)[:-1], "torn_tail"),
    "zeros from an extended size": (lambda line: b"\0" * 64, "torn_tail"),
    "an empty last line": (lambda line: b"\n", "bad_json"),
}


async def _history_with_tail(data_dir: Path, make_tail: Tail) -> tuple[History, bytes, bytes]:
    """A session of 4 good lines followed by a damaged 5th made from its real 5th line."""
    history = await write_history(data_dir, messages=4)
    path = log_path(data_dir, history.session_id)
    lines = lines_of(path)
    intact, tail = b"".join(lines[:4]), make_tail(lines[4])
    path.write_bytes(intact + tail)
    unsee_last_lines(data_dir)
    return history, intact, tail


def unsee_last_lines(data_dir: Path) -> None:
    """Make a last line one that was never acknowledged: no snapshot saw it (one that did would
    rightly report its cut as loss, see test_loss.py)."""
    shutil.rmtree(data_dir / "snapshots")


@pytest.mark.parametrize("case", list(TORN_TAILS))
async def test_torn_tail_is_cut_kept_in_quarantine_and_writes_continue(
    data_dir: Path, case: str
) -> None:
    make_tail, kind = TORN_TAILS[case]
    history, intact, tail = await _history_with_tail(data_dir, make_tail)
    path = log_path(data_dir, history.session_id)

    found = report_for(data_dir, path)
    assert (found["ok"], found["kind"], found["line"], found["at_tail"]) == (False, kind, 5, True)
    assert found["offset"] == len(intact)
    assert found["events"] == 4

    store, report = await open_with_report(data_dir)
    try:
        assert set(report.cut_tails) == {history.session_id}
        assert "line 5" in report.cut_tails[history.session_id]
        assert report.damaged == {}
        assert path.read_bytes() == intact
        kept = sorted((data_dir / "quarantine").iterdir())
        assert [p.read_bytes() for p in kept] == [tail]
        assert history.session_id in kept[0].name

        assert dump(store.session(history.session_id)) == history.views[4]
        health = store.health()
        assert (health["status"], health["read_only_sessions"]) == ("ok", [])

        view = await store.add_message(history.session_id, role="user", content="after the cut")
        assert view.version == 5
        assert view.messages[-1].content == "after the cut"
    finally:
        await store.close()

    lines = [orjson.loads(line) for line in lines_of(path)]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert lines[4]["prev"] == lines[3]["hash"]
    assert lines[4]["data"]["content"] == "after the cut"
    assert all(r.ok for r in verify_dir(data_dir))

    store, report = await open_with_report(data_dir)
    try:
        assert report.cut_tails == {}
        assert store.session(history.session_id).version == 5
    finally:
        await store.close()
    assert [p.read_bytes() for p in sorted((data_dir / "quarantine").iterdir())] == [tail]


async def test_torn_tails_of_several_sessions_are_each_cut_and_kept(data_dir: Path) -> None:
    sessions = await write_sessions(data_dir, 5, title="t{i}", content="{sid} {n}")
    torn: dict[str, tuple[bytes, bytes]] = {}
    for cut, s in zip([1, 7, 40, 100], sessions, strict=False):  # the fifth stays whole
        path = log_path(data_dir, s.id)
        lines = lines_of(path)
        intact, tail = b"".join(lines[:3]), lines[3][:cut]
        path.write_bytes(intact + tail)
        torn[s.id] = (intact, tail)
    unsee_last_lines(data_dir)
    whole = log_path(data_dir, sessions[4].id).read_bytes()

    store, report = await open_with_report(data_dir)
    try:
        assert set(report.cut_tails) == set(torn)
        for s in sessions:
            expected = 3 if s.id in torn else 4
            assert store.session(s.id).version == expected
            view = await store.add_message(s.id, role="user", content="next")
            assert view.version == expected + 1
    finally:
        await store.close()

    kept = {p.name.split(".")[0]: p.read_bytes() for p in (data_dir / "quarantine").iterdir()}
    assert kept == {sid: tail for sid, (_, tail) in torn.items()}
    for sid, (intact, _) in torn.items():
        assert log_path(data_dir, sid).read_bytes().startswith(intact)
    assert log_path(data_dir, sessions[4].id).read_bytes().startswith(whole)
    assert all(r.ok for r in verify_dir(data_dir))


async def test_a_second_torn_tail_at_the_same_line_does_not_overwrite_the_first(
    data_dir: Path,
) -> None:
    """Crash, restart, crash again before any write lands: both cut tails stay kept."""
    history, intact, first_tail = await _history_with_tail(data_dir, lambda line: line[:30])
    path = log_path(data_dir, history.session_id)
    store = await open_store(data_dir)
    await store.close()
    assert path.read_bytes() == intact

    second_tail = b'{"seq":5,"id":"second crash'
    path.write_bytes(intact + second_tail)
    store, report = await open_with_report(data_dir)
    await store.close()
    assert set(report.cut_tails) == {history.session_id}
    assert path.read_bytes() == intact

    kept = sorted(p.read_bytes() for p in (data_dir / "quarantine").iterdir())
    assert kept == sorted([first_tail, second_tail])


# -- stray files --------------------------------------------------------------------------------


@pytest.fixture
def strays(data_dir: Path) -> dict[Path, bytes | None]:
    """Files and a directory in sessions/ that are no logs of this service."""
    return {
        data_dir / "sessions" / "notes.txt": b"remember to back up\n",
        data_dir / "sessions" / "README": b"",
        data_dir / "sessions" / f"{uuid.uuid4()}.jsonl.bak": b"old copy\n",
        data_dir / "sessions" / f"{str(uuid.uuid4()).upper()}.jsonl": b"{}\n",
        data_dir / "sessions" / "old": None,  # a directory
    }


async def test_stray_files_in_sessions_do_not_stop_start_up(
    data_dir: Path, strays: dict[Path, bytes | None]
) -> None:
    history = await write_history(data_dir)
    for path, content in strays.items():
        if content is None:
            path.mkdir()
            (path / "inner.jsonl").write_bytes(b"not ours\n")
        else:
            path.write_bytes(content)

    store, report = await open_with_report(data_dir)
    try:
        assert (report.sessions, report.cut_tails, report.damaged) == (2, {}, {})
        assert dump(store.session(history.session_id)) == history.views[4]
        assert store.health()["status"] == "ok"
        view = await store.add_message(history.session_id, role="user", content="still works")
        assert view.version == 5
    finally:
        await store.close()

    for path, content in strays.items():  # left exactly as they were
        if content is None:
            assert (path / "inner.jsonl").read_bytes() == b"not ours\n"
        else:
            assert path.read_bytes() == content

    reports = {r.path: r.as_json() for r in verify_dir(data_dir)}
    for path in strays:
        assert reports[path]["ok"] is False
        assert reports[path]["kind"] == "not_a_log"
    assert reports[log_path(data_dir, history.session_id)]["ok"]
    assert reports[log_path(data_dir, history.other_id)]["ok"]


async def test_a_whole_valid_last_line_out_of_place_is_damage_never_cut(data_dir: Path) -> None:
    """A crash can tear a last line, not write a valid one in the wrong place: keep it, refuse."""
    history = await write_history(data_dir, messages=3)
    path = log_path(data_dir, history.session_id)
    lines = lines_of(path)
    path.write_bytes(b"".join([*lines, lines[1]]))  # line 2 again, hash intact
    before = path.read_bytes()

    store = await open_store(data_dir)
    try:
        assert store.session(history.session_id).version == 4
        with pytest.raises(SessionReadOnly):
            await store.add_message(history.session_id, role="user", content="refused")
        assert store.health()["status"] == "degraded"
    finally:
        await store.close()
    assert path.read_bytes() == before
    assert not (data_dir / "quarantine").exists()
    assert report_for(data_dir, path)["kind"] == "sequence_repeat"
