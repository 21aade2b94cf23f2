"""The operators' commands `verify`, `backup` and `restore` on data dirs written by a real store.

SPEC §3 (verify: exit 0 when every log is intact, else non-zero with a per-file report; progress
on stderr only when stderr is a terminal) and §5 (any changed, deleted, reordered or spliced line
is found and named by file, line and kind; a backup holds a prefix of every live history; one
writer per data dir). README "Operations": backup into a new directory, leaving out a last line
still being written; restore verifies the backup first, refuses while a service holds the data
dir, and moves the logs it replaces aside to `var.replaced-<time>/`.

Commands run as the real `orion-events` console script, or in-process through `service.cli.main`
(on a worker thread, as it starts its own event loop) where that is all a test needs.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

from orion_events.storage.codec import GENESIS, encode, line_hash, scan
from orion_events.storage.files.datadir import lock_data_dir
from orion_events.store.store import Store
from service.cli import main
from tests.conftest import ClientFactory
from tests.orion_events.support import open_store
from tests.service.test_cli_offline import Run, on_terminal, script

pytestmark = pytest.mark.files_only

SESSIONS = 10
MESSAGES = 5  # so every session log has 6 lines


@attrs.frozen
class Finding:
    file: str
    line: int
    offset: int
    kind: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """`orion-events <args>` in this process."""

    async def run(*args: str | Path) -> Run:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(map(str, args)))
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


async def write_sessions(data_dir: Path, count: int = SESSIONS) -> list[str]:
    """`count` sessions of MESSAGES messages each and one settings change, by a real store."""
    store = await open_store(data_dir)
    try:
        ids = []
        for i in range(count):
            view = await store.create_session(title=f"session {i}", metadata={"n": str(i)})
            for n in range(MESSAGES):
                role = ("user", "assistant")[n % 2]
                await store.add_message(view.id, role=role, content=f"message {n} of {i}")
            ids.append(view.id)
        await store.change_settings({"theme": "light"})
    finally:
        await store.close()
    return ids


async def write_history(store: Store) -> None:
    """Sessions with every kind of change: renames, edits, deletions, a restore, a fork."""
    plans = await store.create_session(title="Plans", metadata={"team": "core"})
    await store.add_message(plans.id, role="system", content="Be brief.", agent="a", model="m")
    view = await store.add_message(plans.id, role="user", content="Draft the plan")
    draft = view.messages[-1].id
    view = await store.add_message(plans.id, role="assistant", content="A wrong answer")
    await store.edit_message(plans.id, draft, content="Draft the plan, briefly")
    await store.delete_message(plans.id, view.messages[-1].id)
    await store.update_session(plans.id, title="Plans for Q3", metadata={"team": "edge"})
    await store.fork_session(plans.id)
    gone = await store.create_session(title="Gone")
    await store.add_message(gone.id, role="user", content="forget me")
    await store.delete_session(gone.id)
    back = await store.create_session(title="Back")
    await store.delete_session(back.id)
    await store.restore_session(back.id)
    await store.change_settings({"theme": "light"})


def log_of(data_dir: Path, session_id: str) -> Path:
    return data_dir / "sessions" / f"{session_id}.jsonl"


def lines_of(path: Path) -> list[bytes]:
    """A log's whole lines, each with its newline."""
    return [line + b"\n" for line in path.read_bytes().split(b"\n")[:-1]]


def tree(directory: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(directory)): None if p.is_dir() else p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.name != "lock"
    }


def flip_byte(line: bytes) -> bytes:
    """`line` with one bit flipped half-way along, a byte its hash covers."""
    at = len(line) // 2
    return line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]


def rehashed(line: bytes, **changes: Any) -> bytes:
    """`line` with some envelope fields changed and a hash that matches its new bytes."""
    envelope = orjson.loads(line)
    del envelope["hash"]
    envelope.update(changes)
    body = orjson.dumps(envelope)
    return body[:-1] + b',"hash":"' + line_hash(body).encode() + b'"}\n'


def write_log(path: Path, lines: list[bytes], line: int, kind: str, tail: bytes = b"") -> Finding:
    """Write `lines` (and a `tail`) as the log at `path`; the finding expected at `line`."""
    path.write_bytes(b"".join(lines) + tail)
    return Finding(str(path), line, sum(map(len, lines[: line - 1])), kind)


def damage_every_way(data_dir: Path, ids: list[str]) -> list[Finding]:
    """One kind of damage per session log (the last one stays intact); the findings expected."""
    paths = [log_of(data_dir, i) for i in ids]
    original = [lines_of(p) for p in paths]
    assert all(len(lines) == 1 + MESSAGES for lines in original)
    found = []

    lines = list(original[0])
    lines[2] = flip_byte(lines[2])
    found.append(write_log(paths[0], lines, 3, "checksum_mismatch"))

    lines = list(original[1])
    del lines[2]
    found.append(write_log(paths[1], lines, 3, "sequence_gap"))

    lines = list(original[2])
    lines[2], lines[3] = lines[3], lines[2]
    found.append(write_log(paths[2], lines, 3, "sequence_gap"))

    lines = list(original[3])
    lines.insert(2, original[0][2])  # another session's line, whole and valid
    found.append(write_log(paths[3], lines, 3, "wrong_stream"))

    found.append(write_log(paths[4], original[4], 7, "torn_tail", tail=b'{"seq":7,"pos":'))

    lines = list(original[5])
    fourth = scan(b"".join(lines), ids[5]).records[3]
    lines[3] = encode(fourth, GENESIS)[0]  # a valid line, chained to the wrong predecessor
    found.append(write_log(paths[5], lines, 4, "chain_break"))

    lines = list(original[6])
    lines.insert(2, lines[1])
    found.append(write_log(paths[6], lines, 3, "sequence_repeat"))

    lines = list(original[7])
    lines[4] = rehashed(lines[4], schema=99)
    found.append(write_log(paths[7], lines, 5, "bad_event"))

    lines = list(original[8])
    lines[1] = b"not a line of any log\n"
    found.append(write_log(paths[8], lines, 2, "bad_json"))
    return found


REPORT_LINE = re.compile(
    r"(?P<file>.+): line (?P<line>\d+) \(byte (?P<offset>\d+)\): (?P<kind>[a-z_]+): .+"
)


def parse_report(text: str) -> tuple[list[Finding], list[str]]:
    """The findings of a text report, and its other lines."""
    findings, other = [], []
    for line in text.splitlines():
        if match := REPORT_LINE.fullmatch(line):
            file, number, offset, kind = match.group("file", "line", "offset", "kind")
            findings.append(Finding(file, int(number), int(offset), kind))
        else:
            other.append(line)
    return findings, other


# -- verify -----------------------------------------------------------------------------------


async def test_verify_of_an_intact_data_dir_exits_0(cli: Any, data_dir: Path) -> None:
    await write_sessions(data_dir)

    text = await cli("verify", "--data-dir", data_dir)
    as_json = await cli("verify", "--json", "--data-dir", data_dir)

    assert text.code == 0, text.out + text.err
    events = SESSIONS * (1 + MESSAGES) + 1
    assert text.out == f"{SESSIONS + 1} logs, {events} events: intact\n"
    assert as_json.code == 0, as_json.err
    assert orjson.loads(as_json.out) == {
        "ok": True,
        "files": SESSIONS + 1,
        "events": events,
        "damaged": [],
    }
    assert text.err == as_json.err == ""


async def test_verify_names_every_damaged_file_with_line_offset_and_kind(
    data_dir: Path,
) -> None:
    ids = await write_sessions(data_dir)
    expected = damage_every_way(data_dir, ids)
    stray = data_dir / "sessions" / "notes.txt"
    stray.write_text("not a log\n")
    before = tree(data_dir)

    run = await script("verify", "--data-dir", data_dir)

    assert run.code != 0
    assert run.err == ""
    findings, other = parse_report(run.out)
    assert sorted(findings, key=lambda f: f.file) == sorted(expected, key=lambda f: f.file)
    for finding in findings:  # each offset is where the named line starts
        lines = lines_of(Path(finding.file))
        assert sum(map(len, lines[: finding.line - 1])) == finding.offset
    assert str(log_of(data_dir, ids[-1])) not in run.out
    assert other[0] == f"{stray}: not named <session-id>.jsonl: no log of this service"
    good = sum(f.line - 1 for f in expected) + 1 + MESSAGES + 1  # + the intact one + settings
    assert other[1:] == [f"{SESSIONS + 2} logs, {good} events: {len(expected) + 1} damaged"]
    assert tree(data_dir) == before, "verify changes nothing"

    as_json = await script("verify", "--json", "--data-dir", data_dir)

    assert as_json.code != 0
    assert as_json.err == ""
    report = orjson.loads(as_json.out)
    assert (report["ok"], report["files"], report["events"]) == (False, SESSIONS + 2, good)
    damaged = {d["file"]: d for d in report["damaged"]}
    assert damaged.pop(str(stray))["kind"] == "not_a_log"
    assert {Finding(d["file"], d["line"], d["offset"], d["kind"]) for d in damaged.values()} == set(
        findings
    )
    for entry in damaged.values():
        assert entry["ok"] is False
        assert entry["events"] == entry["line"] - 1
        assert entry["at_tail"] is (entry["kind"] == "torn_tail")
        assert entry["message"]
    assert tree(data_dir) == before


async def test_verify_shows_no_progress_when_stderr_is_no_terminal(data_dir: Path) -> None:
    await write_sessions(data_dir, count=2)

    for args in [(), ("--json",)]:
        run = await script("verify", *args, "--data-dir", data_dir)

        assert run.code == 0, run.err
        assert run.err == ""


async def test_verify_shows_progress_on_a_terminal_and_nothing_of_it_on_stdout(
    data_dir: Path,
) -> None:
    store = await open_store(data_dir)
    try:
        views = await asyncio.gather(*(store.create_session(title=f"s{i}") for i in range(150)))
    finally:
        await store.close()
    assert len(views) == 150

    code, out, shown = await on_terminal("verify", "--data-dir", data_dir)

    assert code == 0
    assert out == b"150 logs, 150 events: intact\n"
    assert b"\rverified 100/150 logs" in shown  # on the way, not only at the end
    assert shown.index(b"verified 100/150 logs") < shown.index(b"verified 150/150 logs")
    assert shown.rstrip().endswith(b"verified 150/150 logs")

    code, out, shown = await on_terminal("verify", "--json", "--data-dir", data_dir)

    assert code == 0
    assert orjson.loads(out)["files"] == 150  # stdout is the JSON alone
    assert b"verified 150/150 logs" in shown


# -- backup -----------------------------------------------------------------------------------


async def test_backup_while_serving_leaves_out_the_line_in_flight_and_the_copy_verifies(
    data_dir: Path, tmp_path: Path
) -> None:
    ids = await write_sessions(data_dir, count=3)
    dest = tmp_path / "backup-1"
    store = await open_store(data_dir)  # the service holds the data dir, as it would serving
    try:
        writing = log_of(data_dir, ids[0])
        acknowledged = writing.read_bytes()
        with writing.open("ab") as f:
            f.write(b'{"seq":7,"pos":99,"id":"')  # a write caught half-way
        before = tree(data_dir)

        run = await script("backup", dest, "--data-dir", data_dir)

        assert run.code == 0, run.err
        assert run.err == ""
        assert "backed up 4 logs" in run.out
        assert "(1 in-flight last lines left out)" in run.out
        assert tree(data_dir) == before, "the source is not touched"
        assert log_of(dest, ids[0]).read_bytes() == acknowledged
        for session_id in ids[1:]:
            assert (
                log_of(dest, session_id).read_bytes() == log_of(data_dir, session_id).read_bytes()
            )
        settings = (data_dir / "settings.jsonl").read_bytes()
        assert (dest / "settings.jsonl").read_bytes() == settings
        assert sorted(p.name for p in dest.iterdir()) == ["sessions", "settings.jsonl"]

        copied = log_of(dest, ids[1]).read_bytes()
        await store.add_message(ids[1], role="user", content="after the backup")
        assert log_of(data_dir, ids[1]).read_bytes().startswith(copied)  # a prefix of the live log
        assert log_of(dest, ids[1]).read_bytes() == copied
    finally:
        await store.close()

    verify = await script("verify", "--data-dir", dest)
    assert verify.code == 0, verify.out
    assert verify.out.endswith("events: intact\n")


async def test_backup_of_a_log_damaged_in_the_middle_copies_it_whole_and_exits_1(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    ids = await write_sessions(data_dir, count=2)
    damaged = log_of(data_dir, ids[0])
    lines = lines_of(damaged)
    lines[2] = flip_byte(lines[2])
    damaged.write_bytes(b"".join(lines))

    run = await cli("backup", tmp_path / "bk", "--data-dir", data_dir)

    assert run.code == 1
    assert f"{damaged}: damaged at line 3" in run.err
    assert "checksum_mismatch" in run.err
    assert log_of(tmp_path / "bk", ids[0]).read_bytes() == damaged.read_bytes()  # the evidence


@pytest.mark.parametrize("existing", ["directory with files", "file"])
async def test_backup_into_an_existing_destination_refuses_and_overwrites_nothing(
    data_dir: Path, tmp_path: Path, existing: str
) -> None:
    ids = await write_sessions(data_dir, count=2)
    dest = tmp_path / "backup-1"
    if existing == "file":
        dest.write_bytes(b"precious")
    else:
        (dest / "sessions").mkdir(parents=True)
        log_of(dest, ids[0]).write_bytes(b"an older backup\n")
        (dest / "notes.txt").write_text("keep me")
    before = dest.read_bytes() if dest.is_file() else tree(dest)

    run = await script("backup", dest, "--data-dir", data_dir)

    assert run.code == 2
    assert run.out == ""
    assert run.err.startswith(f"orion-events: {dest}")
    assert "new directory" in run.err
    assert "Traceback" not in run.err
    assert (dest.read_bytes() if dest.is_file() else tree(dest)) == before


async def test_backup_into_an_empty_directory_is_allowed(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    """--help: DEST is a new or empty directory; nothing in it can be overwritten."""
    await write_sessions(data_dir, count=1)
    dest = tmp_path / "empty"
    dest.mkdir()

    run = await cli("backup", dest, "--data-dir", data_dir)

    assert run.code == 0, run.err
    logs = {k: v for k, v in tree(data_dir).items() if k.split("/")[0] != "snapshots"}
    assert tree(dest) == logs


@pytest.mark.parametrize("where", ["missing data dir", "inside the data dir"])
async def test_backup_that_cannot_be_a_copy_exits_2_and_creates_nothing(
    cli: Any, data_dir: Path, tmp_path: Path, where: str
) -> None:
    if where == "missing data dir":
        source, dest = tmp_path / "nowhere", tmp_path / "bk"
    else:
        await write_sessions(data_dir, count=1)
        source, dest = data_dir, data_dir / "sessions" / "bk"
    before = tree(tmp_path)

    run = await cli("backup", dest, "--data-dir", source)

    assert run.code == 2
    assert run.err.startswith("orion-events: ")
    assert tree(tmp_path) == before
    assert not dest.exists()


# -- restore ----------------------------------------------------------------------------------


@attrs.frozen
class Dirs:
    source: Path  # where the backup was taken
    backup: Path
    target: Path  # the data dir restored into, with logs of its own


@pytest.fixture
async def dirs(cli: Any, data_dir: Path, tmp_path: Path) -> Dirs:
    source = tmp_path / "source"
    store = await open_store(source)
    try:
        await write_history(store)
    finally:
        await store.close()
    backup = tmp_path / "backup-1"
    run = await cli("backup", backup, "--data-dir", source)
    assert run.code == 0, run.err
    # The data dir restored into: other sessions, a quarantined torn tail, a snapshot.
    ids = await write_sessions(data_dir, count=2)
    with log_of(data_dir, ids[0]).open("ab") as f:
        f.write(b'{"seq":7,"to')
    await (await open_store(data_dir)).close()
    assert (data_dir / "quarantine").is_dir()
    return Dirs(source, backup, data_dir)


def replaced(tmp_path: Path, data_dir_name: str = "var") -> list[Path]:
    """Where restore moved the logs it replaced: `<data dir>.replaced-<time>` beside it."""
    return sorted(tmp_path.glob(f"{data_dir_name}.replaced-*"))


@pytest.mark.parametrize("holder", ["lock", "store"])
async def test_restore_refuses_while_a_process_holds_the_data_dir(
    cli: Any, dirs: Dirs, tmp_path: Path, holder: str
) -> None:
    before = tree(dirs.target)
    if holder == "lock":
        fd = lock_data_dir(dirs.target)
        try:
            run = await cli("restore", dirs.backup, "--data-dir", dirs.target)
        finally:
            os.close(fd)
    else:
        store = await open_store(dirs.target)
        try:
            before = tree(dirs.target)
            run = await script("restore", dirs.backup, "--data-dir", dirs.target)
        finally:
            await store.close()

    assert run.code == 2
    assert "in use by another orion-events process" in run.err
    assert "Traceback" not in run.err
    assert run.out == ""
    assert tree(dirs.target) == before
    assert replaced(tmp_path) == []


@pytest.mark.parametrize("damage", ["flipped byte", "deleted line", "no logs"])
async def test_restore_refuses_a_backup_that_does_not_verify(
    cli: Any, dirs: Dirs, tmp_path: Path, damage: str
) -> None:
    victim = max((dirs.backup / "sessions").iterdir(), key=lambda p: p.stat().st_size)
    lines = lines_of(victim)
    if damage == "flipped byte":
        lines[1] = flip_byte(lines[1])
        victim.write_bytes(b"".join(lines))
    elif damage == "deleted line":
        del lines[1]
        victim.write_bytes(b"".join(lines))
    else:
        for path in [*(dirs.backup / "sessions").iterdir(), dirs.backup / "settings.jsonl"]:
            path.unlink()
    before = tree(dirs.target)

    run = await cli("restore", dirs.backup, "--data-dir", dirs.target)

    assert run.code == 2
    assert run.err.startswith(f"orion-events: {dirs.backup}")
    assert "nothing was changed" in run.err
    if damage != "no logs":
        assert "does not verify" in run.err
        assert str(victim) in run.err
    assert tree(dirs.target) == before
    assert replaced(tmp_path) == []


async def test_restore_onto_its_own_data_dir_refuses(cli: Any, dirs: Dirs, tmp_path: Path) -> None:
    before = tree(dirs.target)

    run = await cli("restore", dirs.target, "--data-dir", dirs.target)

    assert run.code == 2
    assert "nothing was changed" in run.err
    assert tree(dirs.target) == before
    assert replaced(tmp_path) == []


async def get_json(client: Any, path: str) -> Any:
    response = await client.get(path)
    assert response.status == 200, (path, await response.text())
    return await response.json()


async def served(client: Any) -> dict[str, Any]:
    """Everything the API serves of the sessions and settings, as JSON."""
    sessions = await get_json(client, "/api/sessions")
    out: dict[str, Any] = {
        "list": sessions,
        "feed": await get_json(client, "/api/events?limit=1000"),
        "settings": await get_json(client, "/api/settings"),
        "health": (await get_json(client, "/api/health"))["status"],
    }
    for summary in sessions:
        sid = summary["id"]
        out[sid] = await get_json(client, f"/api/sessions/{sid}")
        out[f"{sid}/events"] = await get_json(client, f"/api/sessions/{sid}/events?limit=1000")
    return out


async def test_restore_moves_the_replaced_logs_aside_and_serves_the_backup(
    dirs: Dirs, tmp_path: Path, make_client: ClientFactory
) -> None:
    before = tree(dirs.target)
    assert {"sessions", "settings.jsonl", "quarantine", "snapshots"} <= {
        name.split("/")[0] for name in before
    }

    run = await script("restore", dirs.backup, "--data-dir", dirs.target)

    assert run.code == 0, run.err
    [aside] = replaced(tmp_path)
    assert re.fullmatch(r"var\.replaced-\d{8}T\d{6}Z", aside.name)
    assert (
        run.out == f"restored {dirs.target} from {dirs.backup}; the previous logs are in {aside}\n"
    )
    assert tree(aside) == before, "every replaced byte is kept"
    assert tree(dirs.target) == tree(dirs.backup)

    verify = await script("verify", "--data-dir", dirs.target)
    assert verify.code == 0, verify.out

    restored = await served(await make_client(dirs.target))
    original = await served(await make_client(dirs.source))
    assert restored == original
    assert restored["health"] == "ok"
    titles = sorted(s["title"] for s in restored["list"])
    assert titles == ["Back", "Plans for Q3", "Plans for Q3"]  # a fork; Gone is deleted
    assert restored["settings"]["theme"] == "light"


async def test_restore_into_a_new_data_dir_moves_nothing_aside(
    cli: Any, dirs: Dirs, tmp_path: Path
) -> None:
    target = tmp_path / "fresh"

    run = await cli("restore", dirs.backup, "--data-dir", target)

    assert run.code == 0, run.err
    assert run.out == f"restored {target} from {dirs.backup}\n"
    assert tree(target) == tree(dirs.backup)
    assert replaced(tmp_path, "fresh") == []
