"""The offline subcommands `export`, `replay` and `purge` on data dirs written by a real store.

SPEC §1 (auditors: full history, state at any earlier point), §3 (subcommands; progress on stderr
only on a terminal) and §5 (one writer per data dir; logs never rewritten). The CLI runs in-process
through `service.cli.main` (on a worker thread, as it starts its own event loop) and as the real
`orion-events` console script; every check reads real files.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs
import orjson
import pytest

from orion_events.domain.errors import SessionNotFound
from orion_events.domain.events import (
    CurrentChanged,
    MessageAdded,
    MessageDeleted,
    Recorded,
    SessionImported,
    SessionPurged,
)
from orion_events.domain.streams import OPERATIONS_STREAM
from orion_events.storage.codec import scan
from orion_events.storage.files.log import FileLog
from orion_events.store.store import Store
from service.cli import main
from service.cli.timeline import summary
from service.payloads import event_json, session_json
from tests.orion_events.support import open_store

TRICKY = [
    "```\n# not a title\n```",
    "before\n````python\nprint('x')\n````\n---\nafter",
    "`````",
    "~~~\n## also not a heading\n~~~",
    "ends with a backtick `",
    "   indented\n\n\n# three blank lines above\n- a list item",
]


@attrs.frozen
class Built:
    plans: str  # renamed, metadata, an edited and a deleted message, agent/model
    gone: str  # deleted
    back: str  # deleted, then restored
    tricky: str  # Markdown-hostile contents

    @property
    def all(self) -> list[str]:
        return [self.plans, self.gone, self.back, self.tricky]


@attrs.frozen
class Run:
    code: int
    out: str
    err: str


Cli = Callable[..., Awaitable[Run]]


@pytest.fixture
async def built(data_dir: Path) -> Built:
    store = Store(FileLog(data_dir))
    await store.open()
    try:
        plans = await store.create_session(title="Plans", metadata={"team": "core"})
        await store.add_message(
            plans.id, role="system", content="You are helpful.", agent="conv", model="qwen2.5:1.5b"
        )
        view = await store.add_message(plans.id, role="user", content="Draft the plan " * 10)
        draft = view.messages[-1].id
        view = await store.add_message(plans.id, role="assistant", content="A first answer")
        wrong = view.messages[-1].id
        await store.edit_message(plans.id, draft, content="Draft the plan, briefly")
        await store.delete_message(plans.id, wrong)
        await store.update_session(plans.id, title="Plans for Q3", metadata={"team": "edge"})
        await store.add_message(plans.id, role="assistant", content="Here is the plan.")

        gone = await store.create_session()
        await store.add_message(gone.id, role="user", content="Forget me please")
        await store.delete_session(gone.id)

        back = await store.create_session(title="Comes back")
        await store.add_message(back.id, role="user", content="still here")
        await store.delete_session(back.id)
        await store.restore_session(back.id)

        tricky = await store.create_session(title="``` # Fences ``` and *stars*")
        for n, content in enumerate(TRICKY):
            await store.add_message(tricky.id, role=("user", "assistant")[n % 2], content=content)
        await store.change_settings({"theme": "light"})  # a settings log, which is no session
    finally:
        await store.close()
    return Built(plans.id, gone.id, back.id, tricky.id)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], data_dir: Path) -> Cli:
    """`orion-events <args> --data-dir <data_dir>` in this process."""

    async def run(*args: str) -> Run:
        capsys.readouterr()
        code = await asyncio.to_thread(main, [*args, "--data-dir", str(data_dir)])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


def console_script() -> Path:
    script = Path(sys.executable).parent / "orion-events"
    if not script.exists():
        pytest.fail(f"no console script at {script}: is the project installed in this venv?")
    return script


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ORION_")}


async def script(*args: str | Path) -> Run:
    """The real `orion-events` process, stdout and stderr on pipes (no terminal)."""
    proc = await asyncio.create_subprocess_exec(
        console_script(),
        *map(str, args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def on_terminal(*args: str | Path) -> tuple[int, bytes, bytes]:
    """`orion-events` with stderr on a pseudo-terminal: exit code, stdout, what the terminal got."""
    main_fd, terminal_fd = os.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            console_script(),
            *map(str, args),
            stdout=asyncio.subprocess.PIPE,
            stderr=terminal_fd,
            env=clean_env(),
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
        os.close(terminal_fd)
        terminal_fd = -1
        shown = b""
        while chunk := await asyncio.to_thread(_read_or_eof, main_fd):
            shown += chunk
    finally:
        if terminal_fd != -1:
            os.close(terminal_fd)
        os.close(main_fd)
    assert proc.returncode is not None
    return proc.returncode, out, shown


@pytest.fixture
async def store(data_dir: Path, built: Built) -> AsyncIterator[Store]:
    """The data dir opened again, as a running service would hold it."""
    opened = await open_store(data_dir)
    try:
        yield opened
    finally:
        await opened.close()


async def full_history(store: Store, session_id: str) -> list[Recorded]:
    return await store.history(session_id, 0, 10_000)


def append_torn_line(path: Path) -> None:
    with open(path, "ab") as f:
        f.write(b'{"seq":99,"torn')


def tree(directory: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(directory)): None if p.is_dir() else p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.name != "lock"
    }


# -- a minimal CommonMark reader: fenced blocks and headings, all a transcript uses --------------

_FENCE_OPEN = re.compile(r" {0,3}(`{3,})[^`]*")


@attrs.frozen
class Markdown:
    headings: list[str]  # every heading line outside fenced blocks
    blocks: list[str]  # the text of every fenced block
    rules: int  # `---` lines outside fenced blocks, after a blank line


def read_markdown(text: str) -> Markdown:
    headings: list[str] = []
    blocks: list[str] = []
    rules = 0
    fence: str | None = None
    block: list[str] = []
    previous = ""
    for line in text.split("\n"):
        if fence is not None:
            closing = line.strip(" ")
            indent = len(line) - len(line.lstrip(" "))
            if indent <= 3 and closing and set(closing) == {"`"} and len(closing) >= len(fence):
                blocks.append("\n".join(block))
                fence, block = None, []
            else:
                block.append(line)
        elif match := _FENCE_OPEN.fullmatch(line):
            fence = match.group(1)
        elif re.match(r" {0,3}#{1,6}( |$)", line):
            headings.append(line)
        elif line == "---" and previous == "":
            rules += 1
        previous = line
    assert fence is None, "a fenced block is never closed"
    return Markdown(headings, blocks, rules)


# -- export -----------------------------------------------------------------------------------


async def test_export_json_of_one_session_is_its_state_and_full_history(
    cli: Cli, store: Store, built: Built
) -> None:
    run = await cli("export", built.plans)

    assert run.code == 0, run.err
    expected = {
        "session": session_json(store.session(built.plans)),
        "events": [event_json(r) for r in await full_history(store, built.plans)],
    }
    assert orjson.loads(run.out) == expected
    types = [e["type"] for e in expected["events"]]
    assert {"message_edited", "message_deleted", "session_renamed", "metadata_updated"} <= set(
        types
    )


async def test_export_keeps_a_deleted_sessions_history_and_flags_it(
    cli: Cli, store: Store, built: Built
) -> None:
    """While the store holds the data dir, too: export takes no lock."""
    run = await cli("export", built.gone, built.back)

    assert run.code == 0, run.err
    gone, back = orjson.loads(run.out)
    history = await full_history(store, built.gone)
    assert [e["type"] for e in gone["events"]] == [
        "session_created",
        "message_added",
        "session_deleted",
    ]
    assert gone["events"] == [event_json(r) for r in history]
    before_delete = session_json(await store.session_at(built.gone, version=2))
    assert gone["session"] == {
        **before_delete,
        "version": 3,
        "updated_at": history[-1].at,
        "deleted": True,
    }
    with pytest.raises(SessionNotFound):
        store.session(built.gone)  # the API no longer serves it; the export still does
    assert back["session"] == session_json(store.session(built.back))  # restored: no flag
    assert [e["type"] for e in back["events"]][-2:] == ["session_deleted", "session_restored"]


async def test_export_markdown_holds_every_message_verbatim_and_its_structure(
    cli: Cli, store: Store, built: Built
) -> None:
    run = await cli("export", built.tricky, "--format", "markdown")

    assert run.code == 0, run.err
    view = store.session(built.tricky)
    doc = read_markdown(run.out)
    assert doc.blocks == TRICKY
    assert doc.blocks == [m.content for m in view.messages]
    assert doc.headings == [
        r"# \`\`\` \# Fences \`\`\` and \*stars\*",
        *[f"### {m.role}" for m in view.messages],
    ]
    assert doc.rules == 0  # the `---` inside a message stays inside it
    assert built.tricky in run.out
    assert f"- Created: {view.created_at}" in run.out
    assert f"- Updated: {view.updated_at}" in run.out
    for message in view.messages:
        assert message.timestamp in run.out


async def test_export_markdown_names_agent_model_metadata_and_deletion(
    cli: Cli, store: Store, built: Built
) -> None:
    run = await cli("export", built.plans, built.gone, "--format", "markdown")

    assert run.code == 0, run.err
    doc = read_markdown(run.out)
    assert doc.rules == 1  # two documents, one `---` between them
    plans = store.session(built.plans)
    assert doc.headings == [
        "# Plans for Q3",
        *[f"### {m.role}" for m in plans.messages],
        "# Forget me please",
        "### user",
    ]
    assert doc.blocks == [*(m.content for m in plans.messages), "Forget me please"]
    system = plans.messages[0]
    assert f"{system.timestamp} · agent `conv` · model `qwen2.5:1.5b`" in run.out
    assert "  - `team`: `edge`" in run.out
    second = run.out.split("\n---\n")[1]
    assert "- Deleted: yes" in second
    assert "- Deleted" not in run.out.split("\n---\n")[0]


async def test_export_of_every_session_to_stdout_is_a_json_array_without_progress(
    cli: Cli, store: Store, built: Built
) -> None:
    run = await cli("export")

    assert run.code == 0, run.err
    assert run.err == ""  # stderr is no terminal here: no progress
    documents = orjson.loads(run.out)
    assert [d["session"]["id"] for d in documents] == sorted(built.all)
    for document in documents:
        history = await full_history(store, document["session"]["id"])
        assert document["events"] == [event_json(r) for r in history]


@pytest.mark.parametrize(("fmt", "suffix"), [("json", "json"), ("markdown", "md")])
async def test_export_of_every_session_to_out_writes_one_file_each(
    cli: Cli, built: Built, tmp_path: Path, fmt: str, suffix: str
) -> None:
    out = tmp_path / "exports" / "today"

    run = await cli("export", "--format", fmt, "--out", str(out))

    assert run.code == 0, run.err
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{i}.{suffix}" for i in built.all)
    for session_id in built.all:
        alone = await cli("export", session_id, "--format", fmt)
        assert (out / f"{session_id}.{suffix}").read_text() == alone.out
    assert "exported 4 sessions" in run.out


async def test_export_leaves_out_purged_sessions_and_the_operations_log(
    cli: Cli, built: Built, tmp_path: Path
) -> None:
    assert (await cli("purge", built.gone, "--yes")).code == 0

    run = await cli("export", "--out", str(tmp_path / "out"))

    assert run.code == 0, run.err
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(f"{i}.json" for i in built.all if i != built.gone)


async def test_export_shows_progress_when_stderr_is_a_terminal(
    data_dir: Path, built: Built, tmp_path: Path
) -> None:
    code, out, shown = await on_terminal(
        "export", "--out", tmp_path / "out", "--data-dir", data_dir
    )
    assert code == 0
    assert b"exported 4/4 sessions" in shown
    assert b"4/4" not in out


def _read_or_eof(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the terminal's other end is closed
        return b""


@pytest.mark.parametrize(
    "session_id",
    [str(uuid.uuid4()), "not-an-id", "../settings", "settings", "operations", "lock"],
)
async def test_export_of_an_unknown_or_malformed_id_exits_2(
    cli: Cli, built: Built, tmp_path: Path, session_id: str
) -> None:
    out = tmp_path / "out"

    run = await cli("export", built.plans, session_id, "--out", str(out))

    assert run.code == 2
    assert session_id in run.err
    assert run.out == ""
    assert not out.exists(), "nothing is written when one id is bad"


# -- replay -----------------------------------------------------------------------------------


async def test_replay_prints_every_event_then_the_current_state(
    cli: Cli, store: Store, built: Built
) -> None:
    run = await cli("replay", built.plans)

    assert run.code == 0, run.err
    history = await full_history(store, built.plans)
    lines = run.out.split("\n")
    header = lines.index(f"state at version {len(history)} of {len(history)}:")
    timeline = [line for line in lines[:header] if line]
    assert len(timeline) == len(history)
    for line, recorded in zip(timeline, history, strict=True):
        seq, pos, position, at, kind = line.split()[:5]
        assert (int(seq), pos, int(position), at, kind) == (
            recorded.seq,
            "pos",
            recorded.position,
            recorded.at,
            recorded.type,
        )
    draft = history[2].event
    assert isinstance(draft, MessageAdded)
    first_60 = ("Draft the plan " * 4).rstrip()  # whitespace collapsed, cut at 60 characters
    assert isinstance(draft.parent_id, str)
    assert timeline[2].endswith(
        f'user {draft.message_id[:8]}: "{first_60}…", replying to {draft.parent_id[:8]}'
    )
    assert timeline[6].endswith('session_renamed   title "Plans for Q3"')
    assert orjson.loads("\n".join(lines[header + 1 :])) == session_json(store.session(built.plans))


async def test_replay_at_every_version_equals_the_store_then(
    cli: Cli, store: Store, built: Built
) -> None:
    history = await full_history(store, built.plans)
    for version in range(1, len(history) + 1):
        expected = session_json(await store.session_at(built.plans, version=version))

        as_json = await cli("replay", built.plans, "--version", str(version), "--json")
        as_text = await cli("replay", built.plans, "--version", str(version))

        assert as_json.code == as_text.code == 0, as_json.err + as_text.err
        assert orjson.loads(as_json.out) == {
            "timeline": [event_json(r) for r in history[:version]],
            "state": expected,
        }
        text_lines = as_text.out.split("\n")
        header = text_lines.index(f"state at version {version} of {len(history)}:")
        assert len([line for line in text_lines[:header] if line]) == version
        assert orjson.loads("\n".join(text_lines[header + 1 :])) == expected


async def test_replay_of_a_deleted_session_shows_it_deleted(cli: Cli, built: Built) -> None:
    run = await cli("replay", built.gone, "--json")

    assert run.code == 0, run.err
    body = orjson.loads(run.out)
    assert body["state"]["deleted"] is True
    assert body["timeline"][-1]["type"] == "session_deleted"


@pytest.mark.parametrize("version", [0, -1, 10, 100])
async def test_replay_beyond_the_log_exits_2(cli: Cli, built: Built, version: int) -> None:
    run = await cli("replay", built.plans, "--version", str(version))  # the log has 9 events

    assert run.code == 2
    assert "versions 1 to 9" in run.err
    assert run.out == ""


@pytest.mark.parametrize("session_id", [str(uuid.uuid4()), "../../etc/passwd", "settings"])
async def test_replay_of_an_unknown_or_malformed_id_exits_2(
    cli: Cli, built: Built, session_id: str
) -> None:
    run = await cli("replay", session_id)

    assert run.code == 2
    assert session_id in run.err
    assert run.out == ""


# -- purge ------------------------------------------------------------------------------------


async def test_purge_without_yes_refuses_and_changes_nothing(
    cli: Cli, data_dir: Path, built: Built
) -> None:
    before = tree(data_dir)

    run = await cli("purge", built.plans)

    assert run.code == 2
    assert "for good" in run.err
    assert "--yes" in run.err
    assert tree(data_dir) == before


async def test_purge_refuses_while_a_service_holds_the_data_dir(
    data_dir: Path, built: Built
) -> None:
    before = tree(data_dir)
    log = FileLog(data_dir)
    await log.open()
    try:
        run = await script("purge", built.plans, "--yes", "--data-dir", str(data_dir))
    finally:
        await log.close()

    assert run.code == 2
    assert "cannot purge while a service holds the data dir" in run.err
    assert "Traceback" not in run.err
    assert tree(data_dir) == before


async def test_purge_removes_the_log_and_its_quarantine_and_records_it(
    data_dir: Path, built: Built
) -> None:
    sessions = data_dir / "sessions"
    target = sessions / f"{built.plans}.jsonl"
    last_hash = orjson.loads(target.read_bytes().splitlines()[-1])["hash"]
    events = len(target.read_bytes().splitlines())
    # A crash mid-write leaves a torn last line; the next start keeps it aside in quarantine/.
    append_torn_line(target)
    append_torn_line(sessions / f"{built.back}.jsonl")
    store = await open_store(data_dir)
    await store.close()
    quarantine = data_dir / "quarantine"
    kept = sorted(p.name for p in quarantine.iterdir())
    assert [name.split(".")[0] for name in kept] == sorted([built.plans, built.back])
    others = {i: (sessions / f"{i}.jsonl").read_bytes() for i in built.all if i != built.plans}

    run = await script(
        "purge",
        built.plans,
        "--yes",
        "--by",
        "auditor",
        "--reason",
        "erasure request",
        "--data-dir",
        str(data_dir),
    )

    assert run.code == 0, run.err
    assert not target.exists()
    assert [p.name for p in quarantine.iterdir()] == [n for n in kept if n.startswith(built.back)]
    assert str(target) in run.out
    assert f"{built.plans}.line" in run.out
    assert {i: (sessions / f"{i}.jsonl").read_bytes() for i in others} == others

    operations = scan((data_dir / "operations.jsonl").read_bytes(), OPERATIONS_STREAM)
    assert operations.damage is None
    [record] = operations.records
    assert record.seq == 1
    assert record.event == SessionPurged(
        built.plans, events, last_hash, "auditor", "erasure request"
    )

    verify = await script("verify", "--data-dir", str(data_dir))
    assert verify.code == 0, verify.out + verify.err

    after = await open_store(data_dir)
    try:
        with pytest.raises(SessionNotFound):
            after.session(built.plans)
        with pytest.raises(SessionNotFound):
            await after.history(built.plans)
        assert after.health()["status"] == "ok"
        for session_id, data in others.items():
            history = await full_history(after, session_id)
            assert [event_json(r) for r in history] == [
                event_json(r) for r in scan(data, session_id).records
            ]
        assert after.session(built.back).title == "Comes back"
        assert after.session(built.tricky).message_count == len(TRICKY)
        assert (await after.feed(0, 10_000))[-1].event == record.event
    finally:
        await after.close()


async def test_purge_deletes_nothing_when_it_cannot_record_the_purge_first(
    cli: Cli, data_dir: Path, built: Built
) -> None:
    """An operations log damaged in the middle refuses appends: the session must stay."""
    (data_dir / "operations.jsonl").write_bytes(b"not a log line\nnor this\n")
    before = tree(data_dir)

    run = await cli("purge", built.plans, "--yes")

    assert run.code == 2
    assert "damaged" in run.err
    assert tree(data_dir) == before


async def test_purges_continue_the_operations_log_and_default_to_the_os_user(
    cli: Cli, data_dir: Path, built: Built
) -> None:
    first = await cli("purge", built.gone, "--yes")
    second = await cli("purge", built.back, "--yes", "--reason", "")

    assert first.code == second.code == 0, first.err + second.err
    operations = scan((data_dir / "operations.jsonl").read_bytes(), OPERATIONS_STREAM)
    assert operations.damage is None
    assert [r.seq for r in operations.records] == [1, 2]
    purged = [r.event for r in operations.records if isinstance(r.event, SessionPurged)]
    assert [(e.session_id, e.by, e.reason) for e in purged] == [
        (built.gone, getpass.getuser(), None),
        (built.back, getpass.getuser(), None),
    ]
    store = await open_store(data_dir)
    try:
        assert sorted(v.id for v in store.sessions().sessions) == sorted(
            [built.plans, built.tricky]
        )
    finally:
        await store.close()


async def test_purge_names_forks_that_still_hold_copies(
    cli: Cli, data_dir: Path, built: Built
) -> None:
    store = await open_store(data_dir)
    try:
        fork = await store.fork_session(built.plans)
        fork_of_fork = await store.fork_session(fork.id)
    finally:
        await store.close()

    run = await cli("purge", built.plans, "--yes")

    assert run.code == 0, run.err
    assert fork.id in run.err
    assert fork_of_fork.id in run.err
    assert built.tricky not in run.err


@pytest.mark.parametrize("session_id", ["unknown", "malformed", "settings", "operations"])
async def test_purge_of_an_unknown_id_exits_2_and_changes_nothing(
    cli: Cli, data_dir: Path, built: Built, session_id: str
) -> None:
    name = {"unknown": str(uuid.uuid4()), "malformed": "../sessions"}.get(session_id, session_id)
    before = tree(data_dir)

    run = await cli("purge", name, "--yes")

    assert run.code == 2
    assert name in run.err
    assert tree(data_dir) == before
    assert not (data_dir / "operations.jsonl").exists()


async def test_purge_twice_exits_2_the_second_time(cli: Cli, data_dir: Path, built: Built) -> None:
    assert (await cli("purge", built.gone, "--yes")).code == 0
    operations = (data_dir / "operations.jsonl").read_bytes()

    again = await cli("purge", built.gone, "--yes")

    assert again.code == 2
    assert f"no session {built.gone}" in again.err
    assert (data_dir / "operations.jsonl").read_bytes() == operations


async def test_purge_in_a_missing_data_dir_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    code = await asyncio.to_thread(
        main, ["purge", str(uuid.uuid4()), "--yes", "--data-dir", str(missing)]
    )

    assert code == 2
    assert not missing.exists()


def test_the_helper_reader_sees_what_a_broken_fence_would_do() -> None:
    """The Markdown reader above is strict enough to catch a fence that content closes early."""
    broken = "# T\n\n### user\n\n```\n````\n# injected\n"  # 4 backticks close 3
    doc = read_markdown(broken)
    assert doc.headings == ["# T", "### user", "# injected"]
    with pytest.raises(AssertionError):
        read_markdown("```\nnever closed")
    assert read_markdown("x\n\n---\n").rules == 1
    assert read_markdown("x\n---\n").rules == 0


@pytest.mark.parametrize(
    ("event", "said"),
    [
        (
            MessageAdded("m1234567890", "user", "hi", parent_id=None),
            'user m1234567: "hi", a first message',
        ),
        (MessageAdded("m1234567890", "user", "hi"), 'user m1234567: "hi"'),  # a line before trees
        (MessageDeleted("p1234567890"), "message p1234567"),
        (
            MessageDeleted("p1234567890", subtree=True, replies=["a", "b"]),
            "message p1234567 and the 2 replies below it",
        ),
        (CurrentChanged("c1234567890"), "the branch through c1234567"),
        (
            SessionImported("t", {}, [{}, {}], None, "2024-01-01T00:00:00Z", "chatgpt", "c-9"),
            'from chatgpt "c-9", 2 messages, begun 2024-01-01T00:00:00Z',
        ),
    ],
)
def test_the_timeline_says_what_a_tree_event_did(event: object, said: str) -> None:
    recorded = Recorded("s", 1, "e", "2026-01-01T00:00:00.000000Z", event)  # type: ignore[arg-type]
    assert summary(recorded) == said


async def test_purge_of_a_user_removes_their_sessions_alone_and_records_each(
    cli: Cli, data_dir: Path, built: Built
) -> None:
    """The sessions from before users are the first admin's; alice's own are hers."""
    store = Store(FileLog(data_dir))
    await store.open()
    try:
        root = (await store.accounts.create_user("root", "admin")).user.id
        alice = (await store.accounts.create_user("alice", "user")).user.id
        hers = [(await store.create_session(title=f"a{n}", owner=alice)).id for n in range(2)]
        await store.fork_session(hers[0], owner=alice)
        mine = (await store.create_session(title="root's", owner=root)).id
    finally:
        await store.close()
    sessions = data_dir / "sessions"
    before = {p.name for p in sessions.iterdir()}

    assert (await cli("purge", "--user", alice)).code == 2  # without --yes: nothing
    assert {p.name for p in sessions.iterdir()} == before
    run = await cli("purge", "--user", alice, "--yes", "--by", "dpo", "--reason", "left")

    assert run.code == 0, run.err
    assert f"purged 3 sessions of user {alice}, by dpo" in run.out
    left = {p.name for p in sessions.iterdir()}
    assert len(left) == len(before) - 3  # hers and the fork of one of them
    assert not {f"{s}.jsonl" for s in hers} & left
    assert f"{mine}.jsonl" in left
    assert all(f"{s}.jsonl" in left for s in built.all)  # the first admin's, from before users
    records = [
        orjson.loads(line)["data"]
        for line in (data_dir / "operations.jsonl").read_bytes().splitlines()
    ]
    assert len(records) == 3
    assert {r["reason"] for r in records} == {f"purge of user {alice}: left"}
    assert {r["by"] for r in records} == {"dpo"}
    unknown = await cli("purge", "--user", str(uuid.uuid4()), "--yes", "--by", "dpo")
    assert unknown.code == 2
    assert "no user" in unknown.err
