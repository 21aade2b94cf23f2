"""`orion-events` / `python -m service`: serve the API, and the operators' offline commands."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from attrs import frozen

from orion_events.domain.errors import DataDirLocked, InvalidInput, OrionError, SessionNotFound
from orion_events.domain.events import (
    MessageAdded,
    MessageDeleted,
    MessageEdited,
    MetadataUpdated,
    Recorded,
    SessionCreated,
    SessionForked,
    SessionRenamed,
)
from orion_events.domain.projector import apply_session, replay_session
from orion_events.domain.streams import OPERATIONS_STREAM, SETTINGS_STREAM, is_session_id
from orion_events.domain.views import SessionView
from orion_events.ops.backup import backup, restore
from orion_events.ops.copy import migrate
from orion_events.ops.purge import purge
from orion_events.ops.verify import log_files, verify_dir
from orion_events.storage.codec import scan
from orion_events.storage.postgres.rows import redact, verify_database
from service import edge
from service.app import create_app
from service.config import SYNC_MODES, Config, ConfigError
from service.export import export_json, export_markdown, export_session
from service.limits import raise_open_files_limit
from service.payloads import event_json

log = logging.getLogger("orion")
# How long a thread may hold the GIL while another waits for it (CPython's default: 5 ms). The
# event loop takes the GIL back after every socket call, and while a read thread decodes or
# folds a long history (storage/readpool.py) each of those waits up to this long. Under 30
# readers of a 20,000-message session's past, GET /api/health's median was 3.5 ms at 5 ms,
# 0.7 ms at 0.5 ms and 0.3 ms at 0.1 ms (make bench, reads part; 0.05 ms did no better). It only
# matters while two threads want the GIL at once; a service that reads no long history never
# waits on it.
SWITCH_INTERVAL = 0.0001
LOG_HELP = (
    "keep the event log in this PostgreSQL database (postgresql://user:pass@host/db; "
    "env ORION_LOG_URL) instead of the data directory"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orion-events", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", help="address to bind (env ORION_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env ORION_PORT, default 9000)")
    serve.add_argument("--data-dir", help="data directory (env ORION_DATA_DIR, default var)")
    serve.add_argument(
        "--cache-mb",
        type=int,
        help="memory for messages (env ORION_CACHE_MB); summaries of all sessions always stay, "
        "the messages of the least recently used go back to their logs (default: no limit)",
    )
    serve.add_argument("--log", metavar="URL", help=LOG_HELP)
    serve.add_argument(
        "--max-open-logs",
        type=int,
        help="log files kept open for appending, the least recently used closed first (env "
        "ORION_MAX_OPEN_LOGS, default 256; at most half the open files limit)",
    )
    serve.add_argument(
        "--sync",
        choices=SYNC_MODES,
        help="how commits make logs durable (env ORION_SYNC): fdatasync every touched log, on "
        "any file system (default); or one syncfs a batch, only on ext4, xfs or btrfs",
    )
    verify = commands.add_parser("verify", help="check every log line by line")
    verify.add_argument("--data-dir", help="data directory (env ORION_DATA_DIR, default var)")
    verify.add_argument("--log", metavar="URL", help="check the event log in this database")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    migrate_cmd = commands.add_parser(
        "migrate",
        help="copy every log between a data dir and a database (resumable; service stopped)",
    )
    migrate_cmd.add_argument("--from", dest="source", required=True, help="a dir or a URL")
    migrate_cmd.add_argument("--to", dest="target", required=True, help="a URL or a dir")
    backup = commands.add_parser("backup", help="copy the data dir, even while serving")
    backup.add_argument("dest", type=Path, help="a new or empty directory")
    backup.add_argument("--data-dir", help="data directory (env ORION_DATA_DIR, default var)")
    restore = commands.add_parser(
        "restore", help="replace the logs with a backup (service stopped)"
    )
    restore.add_argument("source", type=Path, help="a directory written by backup (or cp -a)")
    restore.add_argument("--data-dir", help="data directory (env ORION_DATA_DIR, default var)")
    export = commands.add_parser(
        "export", help="write sessions with their full history (reads the files; no lock)"
    )
    export.add_argument("sessions", nargs="*", metavar="SESSION", help="default: every session")
    export.add_argument("--format", choices=("json", "markdown"), default="json")
    export.add_argument("--out", type=Path, help="write <id>.json or <id>.md files into DIR")
    export.add_argument("--data-dir", help="data directory (env ORION_DATA_DIR, default var)")
    replay = commands.add_parser(
        "replay", help="a session's timeline and its state at a version (reads the files)"
    )
    replay.add_argument("session", metavar="SESSION")
    replay.add_argument("--version", type=int, help="stop after this event (default: all)")
    replay.add_argument("--json", action="store_true", help="print {timeline, state} as JSON")
    replay.add_argument("--data-dir", help="data directory (env ORION_DATA_DIR, default var)")
    purge = commands.add_parser("purge", help="remove a session's log for good (service stopped)")
    purge.add_argument("session", metavar="SESSION")
    purge.add_argument("--by", help="who purges, for the record (default: the OS user)")
    purge.add_argument("--reason", help="why, for the record")
    purge.add_argument("--yes", action="store_true", help="confirm: the log cannot be recovered")
    purge.add_argument("--data-dir", help="data directory (env ORION_DATA_DIR, default var)")
    return parser


def serve(config: Config) -> int:
    raise_open_files_limit()
    sys.setswitchinterval(SWITCH_INTERVAL)
    asyncio.run(
        edge.serve(
            create_app(config),
            config.host,
            config.port,
            shutdown_timeout=30.0,
            ready=lambda: log.info("serving on http://%s:%d", config.host, config.port),
        )
    )
    return 0


def verify_log(url: str, as_json: bool) -> int:
    """`verify --log`: every stream's hash chain in the database."""
    progress = None
    if sys.stderr.isatty():

        def progress(done: int) -> None:
            if done % 100 == 0:
                print(f"\rverified {done} streams", end="", file=sys.stderr, flush=True)

    reports = asyncio.run(verify_database(url, progress))
    if progress is not None:
        print(file=sys.stderr)
    bad = [r for r in reports if not r.ok]
    total = sum(r.events for r in reports)
    if as_json:
        summary = {
            "ok": not bad,
            "streams": len(reports),
            "events": total,
            "damaged": [r.as_json() for r in bad],
        }
        sys.stdout.buffer.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        for report in bad:
            assert report.damage is not None
            print(f"{redact(url)} stream {report.stream}: {report.damage.describe()}")
        verdict = "intact" if not bad else f"{len(bad)} damaged"
        print(f"{len(reports)} logs, {total} events: {verdict}")
    return 1 if bad else 0


def migrate_logs(source: str, target: str) -> int:
    report = asyncio.run(migrate(source, target, _progress("copied", "logs")))
    for stream, what in report.left_out.items():
        _warn(f"left out the torn last line of {stream} ({what}): it was never acknowledged")
    print(
        f"copied {report.copied} events of {report.streams} logs to "
        f"{redact(target)} ({report.skipped} already there); verified {report.verified} logs: "
        "counts and last hashes equal"
    )
    return 0


def verify(data_dir: Path, as_json: bool) -> int:
    progress = None
    if sys.stderr.isatty():

        def progress(done: int, total: int) -> None:
            if done % 100 == 0 or done == total:
                print(
                    f"\rverified {done}/{total} logs",
                    end="\n" if done == total else "",
                    file=sys.stderr,
                )

    if not data_dir.is_dir():
        print(f"orion-events: no data directory at {data_dir}", file=sys.stderr)
        return 2
    reports = verify_dir(data_dir, progress)
    bad = [r for r in reports if not r.ok]
    if as_json:
        summary = {
            "ok": not bad,
            "files": len(reports),
            "events": sum(r.events for r in reports),
            "damaged": [r.as_json() for r in bad],
        }
        sys.stdout.buffer.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        for report in bad:
            what = report.damage.describe() if report.damage is not None else report.note
            print(f"{report.path}: {what}")
        total = sum(r.events for r in reports)
        verdict = "intact" if not bad else f"{len(bad)} damaged"
        print(f"{len(reports)} logs, {total} events: {verdict}")
    return 1 if bad else 0


# -- offline reads: export and replay ------------------------------------------------------------

# Commands whose OSError (a path not writable, a disk full) is reported in a line, not a traceback.
OFFLINE_COMMANDS = frozenset({"export", "replay", "purge", "migrate", "backup", "restore"})
SNIPPET = 60  # characters of a message a timeline line shows


@frozen
class SessionLog:
    """A session read straight from its file: its events (up to any damage) and its view."""

    view: SessionView | None  # None when not even a first event could be read
    records: list[Recorded]
    problem: str | None  # damage, or an event the projector refused, that ended the read early


def read_session(data_dir: Path, session_id: str) -> SessionLog:
    """A session's log read without the data-dir lock: safe while a service appends, because
    each line is checked whole and a line still being written is a torn tail, left out."""
    if not is_session_id(session_id):
        raise SessionNotFound(f"{session_id!r} is not a session id")
    path = data_dir / "sessions" / f"{session_id}.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SessionNotFound(f"no session {session_id} in {data_dir}") from None
    result = scan(data, session_id)
    problem = None
    if result.damage is not None and not result.damage.is_torn_tail:
        problem = f"{path}: damaged at {result.damage.describe()}"
    view: SessionView | None = None
    records: list[Recorded] = []
    for recorded in result.records:
        try:
            view = apply_session(view, recorded)
        except OrionError as exc:
            problem = f"{path}: {exc.message}"
            break
        records.append(recorded)
    return SessionLog(view, records, problem)


def session_ids(data_dir: Path) -> list[str]:
    """Every session log in the data dir (settings and operations are logs but no sessions)."""
    top_level = {SETTINGS_STREAM, OPERATIONS_STREAM}
    return [s for s, _ in log_files(data_dir) if s is not None and s not in top_level]


def _progress(verb: str, noun: str) -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            end = "\n" if done == total else ""
            print(f"\r{verb} {done}/{total} {noun}", end=end, file=sys.stderr, flush=True)

    return show


def _emit(data: bytes) -> None:
    sys.stdout.flush()  # anything printed as text goes out first
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _warn(message: str) -> None:
    print(f"orion-events: {message}", file=sys.stderr)


def render(view: SessionView, records: list[Recorded], fmt: str) -> bytes:
    """One export document, ending in a newline."""
    if fmt == "markdown":
        return export_markdown(view).encode()
    option = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    return orjson.dumps(export_json(view, records), option=option)


def export(data_dir: Path, requested: Sequence[str], fmt: str, out: Path | None) -> int:
    """Exit 0, or 1 when a log was damaged (what precedes the damage is still exported).

    Without --out, one SESSION named gives its document; several, or all, give a JSON array or
    Markdown documents between `---` lines, however many there turn out to be.
    """
    if not data_dir.is_dir():
        _warn(f"no data directory at {data_dir}")
        return 2
    for session_id in requested:  # all of them checked before anything is written
        if not is_session_id(session_id):
            raise SessionNotFound(f"{session_id!r} is not a session id")
        if not (data_dir / "sessions" / f"{session_id}.jsonl").is_file():
            raise SessionNotFound(f"no session {session_id} in {data_dir}")
    ids = list(dict.fromkeys(requested)) or session_ids(data_dir)
    progress = _progress("exported", "sessions") if len(ids) > 1 else None
    single = out is None and len(requested) == 1
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    elif not single and fmt == "json":
        _emit(b"[")
    exported = damaged = 0
    for done, session_id in enumerate(ids, start=1):
        session = read_session(data_dir, session_id)
        if progress is not None:
            progress(done, len(ids))
        if session.problem is not None:
            damaged += 1
        if session.view is None:
            why = session.problem or "an empty log (a first write that never completed)"
            if requested:
                raise SessionNotFound(f"no session {session_id} to export: {why}")
            _warn(f"skipped {session_id}: {why}")
            continue
        if session.problem is not None:
            _warn(f"{session.problem}; exported up to version {session.view.version}")
        document = render(session.view, session.records, fmt)
        if out is not None:
            suffix = "json" if fmt == "json" else "md"
            (out / f"{session_id}.{suffix}").write_bytes(document)
        elif single:
            _emit(document)
        elif fmt == "json":
            _emit((b",\n" if exported else b"\n") + document.rstrip(b"\n"))
        else:
            # A blank line before `---`, or Markdown reads it as underlining the line above.
            _emit((b"\n---\n\n" if exported else b"") + document)
        exported += 1
    if out is not None:
        print(f"exported {exported} sessions to {out}")
    elif not single and fmt == "json":
        _emit(b"\n]\n" if exported else b"]\n")
    return 1 if damaged else 0


def _snippet(text: str, limit: int = SNIPPET) -> str:
    """`text` on one line, at most `limit` characters, with nothing a terminal would obey."""
    flat = " ".join(text.split())
    flat = "".join(c if c.isprintable() else "\ufffd" for c in flat[: limit + 1])
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "…"


def _quoted(text: str) -> str:
    return f'"{_snippet(text)}"'


def summary(recorded: Recorded) -> str:
    """What one event did, in a few words."""
    match recorded.event:
        case SessionCreated(title=title, metadata=metadata):
            said = "untitled" if title is None else f"title {_quoted(title)}"
            return said + (
                f", metadata {_snippet(', '.join(sorted(metadata)))}" if metadata else ""
            )
        case SessionForked() as fork:
            return (
                f"from {fork.source_session} at version {fork.source_version}, "
                f"{len(fork.messages)} messages, title {_quoted(fork.title)}"
            )
        case SessionRenamed(title=title):
            return f"title {_quoted(title)}"
        case MetadataUpdated(metadata=metadata):
            return "keys " + _snippet(", ".join(sorted(metadata))) if metadata else "emptied"
        case MessageAdded() as added:
            return f"{added.role} {added.message_id[:8]}: {_quoted(added.content)}"
        case MessageEdited() as edited:
            return f"message {edited.message_id[:8]}: {_quoted(edited.content)}"
        case MessageDeleted(message_id=message_id):
            return f"message {message_id[:8]}"
    return ""


def timeline_line(recorded: Recorded) -> str:
    line = f"{recorded.seq:>5}  pos {recorded.position:<7} {recorded.at}  {recorded.type:<16}"
    return f"{line}  {summary(recorded)}".rstrip()


def replay(data_dir: Path, session_id: str, version: int | None, as_json: bool) -> int:
    """Exit 0, or 1 when the log is damaged after the events it could replay."""
    session = read_session(data_dir, session_id)
    if session.view is None:
        raise SessionNotFound(f"no session {session_id}: {session.problem or 'its log is empty'}")
    last = len(session.records)
    if version is not None and not 1 <= version <= last:
        damage = (
            f" (its log is unreadable after that: {session.problem})" if session.problem else ""
        )
        raise InvalidInput(
            f"session {session_id} has versions 1 to {last}, no version {version}{damage}",
            field="version",
        )
    timeline = session.records[: version or last]
    view = replay_session(timeline)
    assert view is not None  # the timeline holds at least the first event
    if as_json:
        state: dict[str, Any] = {
            "timeline": [event_json(r) for r in timeline],
            "state": export_session(view),
        }
        _emit(orjson.dumps(state, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        for recorded in timeline:
            print(timeline_line(recorded))
        print(f"\nstate at version {view.version} of {last}:")
        _emit(orjson.dumps(export_session(view), option=orjson.OPT_INDENT_2) + b"\n")
    if session.problem is not None:
        _warn(f"{session.problem}; replayed up to version {last}")
        return 1
    return 0


# -- backup and restore -----------------------------------------------------------------------


def _inside(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def backup_logs(data_dir: Path, dest: Path) -> int:
    """Exit 0, 1 when a log damaged in the middle was copied whole, 2 when nothing was copied."""
    if not data_dir.is_dir():
        _warn(f"no data directory at {data_dir}")
        return 2
    if dest.exists() and not dest.is_dir():
        _warn(f"{dest} exists and is no directory; back up into a new directory")
        return 2
    if _inside(dest, data_dir):
        _warn(f"{dest} is inside the data directory {data_dir}; back up to somewhere else")
        return 2
    report = backup(data_dir, dest)
    print(
        f"backed up {report.files} logs, {report.events} events, {report.bytes} bytes "
        f"to {dest} ({report.trimmed} in-flight last lines left out)"
    )
    for path, damage in report.damaged.items():
        print(f"{path}: damaged at {damage}; copied whole", file=sys.stderr)
    return 1 if report.damaged else 0


def restore_logs(source: Path, data_dir: Path) -> int:
    if _inside(source, data_dir):
        # Restoring a data dir onto itself would move its logs aside and copy back nothing.
        _warn(f"{source} is the data directory {data_dir} or inside it; nothing was changed")
        return 2
    aside = restore(source, data_dir)
    moved = f"; the previous logs are in {aside}" if aside else ""
    print(f"restored {data_dir} from {source}{moved}")
    return 0


# -- purge ------------------------------------------------------------------------------------


def purge_session(
    data_dir: Path, session_id: str, by: str | None, reason: str | None, yes: bool
) -> int:
    if not yes:
        _warn(
            f"purge removes the log of session {session_id} for good: its messages and history "
            "cannot be recovered (only a session_purged record stays in operations.jsonl). "
            "Stop the service, then run again with --yes."
        )
        return 2
    if by is None:
        try:
            by = getpass.getuser()
        except (OSError, KeyError):  # no login name and no passwd entry
            by = ""
    by = by.strip()
    if not by:
        _warn("cannot tell who is purging: pass --by NAME")
        return 2
    try:
        report = asyncio.run(purge(data_dir, session_id, by=by, reason=reason or None))
    except DataDirLocked as exc:
        _warn(f"cannot purge while a service holds the data dir: {exc.message}")
        return 2
    print(f"purged session {report.session_id} ({report.events} events), by {by}")
    for path in report.files_removed:
        print(f"removed {path}")
    print(f"recorded in {data_dir / (OPERATIONS_STREAM + '.jsonl')}")
    if report.forks:
        _warn(
            "these sessions were forked from it and still hold copies of its messages: "
            + ", ".join(report.forks)
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = Config.from_env(os.environ).with_flags(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            data_dir=getattr(args, "data_dir", None),
            cache_mb=getattr(args, "cache_mb", None),
            log_url=getattr(args, "log", None),
            sync=getattr(args, "sync", None),
            max_open_logs=getattr(args, "max_open_logs", None),
        )
    except ConfigError as exc:
        print(f"orion-events: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            return serve(config)
        if args.command == "backup":
            return backup_logs(config.data_dir, args.dest)
        if args.command == "restore":
            return restore_logs(args.source, config.data_dir)
        if args.command == "export":
            return export(config.data_dir, args.sessions, args.format, args.out)
        if args.command == "replay":
            return replay(config.data_dir, args.session, args.version, args.json)
        if args.command == "purge":
            return purge_session(config.data_dir, args.session, args.by, args.reason, args.yes)
        if args.command == "migrate":
            return migrate_logs(args.source, args.target)
        if config.log_url is not None and args.data_dir is None:
            return verify_log(config.log_url, args.json)
        return verify(config.data_dir, args.json)
    except OrionError as exc:
        print(f"orion-events: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.command not in OFFLINE_COMMANDS:
            raise
        print(f"orion-events: {exc}", file=sys.stderr)  # e.g. --out not writable
        return 2


if __name__ == "__main__":
    sys.exit(main())
