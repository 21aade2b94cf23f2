"""The operators' commands that write logs: `backup`, `restore`, `purge` and `migrate`."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path

from orion_events.domain.errors import DataDirLocked, SessionNotFound
from orion_events.domain.streams import OPERATIONS_STREAM
from orion_events.ops.backup import backup, restore
from orion_events.ops.copy import migrate
from orion_events.ops.purge import PurgeReport, purge, purge_user
from orion_events.storage.files.log import FileLog
from orion_events.storage.postgres.pool import redact
from service.cli.output import Progress, warn

# -- backup and restore -----------------------------------------------------------------------


def _inside(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def backup_logs(data_dir: Path, dest: Path) -> int:
    """Exit 0, 1 when a log damaged in the middle was copied whole, 2 when nothing was copied."""
    if not data_dir.is_dir():
        warn(f"no data directory at {data_dir}")
        return 2
    if dest.exists() and not dest.is_dir():
        warn(f"{dest} exists and is no directory; back up into a new directory")
        return 2
    if _inside(dest, data_dir):
        warn(f"{dest} is inside the data directory {data_dir}; back up to somewhere else")
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
        warn(f"{source} is the data directory {data_dir} or inside it; nothing was changed")
        return 2
    aside = restore(source, data_dir)
    moved = f"; the previous logs are in {aside}" if aside else ""
    print(f"restored {data_dir} from {source}{moved}")
    return 0


# -- purge ------------------------------------------------------------------------------------


def purge_logs(
    data_dir: Path,
    session_id: str | None,
    user_id: str | None,
    by: str | None,
    reason: str | None,
    yes: bool,
) -> int:
    """`purge SESSION` or `purge --user ID`: exit 0, or 2 when refused (nothing removed)."""
    if (session_id is None) == (user_id is None):
        warn("name one session, or one user with --user")
        return 2
    what = f"the log of session {session_id}" if user_id is None else f"every session of {user_id}"
    if not yes:
        warn(
            f"purge removes {what} for good: messages and history cannot be recovered (only a "
            "session_purged record each stays in operations.jsonl). "
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
        warn("cannot tell who is purging: pass --by NAME")
        return 2
    try:
        if user_id is not None:
            reports = asyncio.run(purge_user(data_dir, user_id, by=by, reason=reason)).sessions
            print(f"purged {len(reports)} sessions of user {user_id}, by {by}")
        else:
            assert session_id is not None
            reports = (asyncio.run(purge(data_dir, session_id, by=by, reason=reason or None)),)
    except DataDirLocked as exc:
        warn(f"cannot purge while a service holds the data dir: {exc.message}")
        return 2
    except SessionNotFound as exc:
        warn(exc.message)
        return 2
    for report in reports:
        _said(report, by)
    print(f"recorded in {FileLog(data_dir).path_of(OPERATIONS_STREAM)}")
    return 0


def _said(report: PurgeReport, by: str) -> None:
    print(f"purged session {report.session_id} ({report.events} events), by {by}")
    for path in report.files_removed:
        print(f"removed {path}")
    if report.forks:
        warn(
            "these sessions were forked from it and still hold copies of its messages: "
            + ", ".join(report.forks)
        )


# -- migrate ------------------------------------------------------------------------------------


def migrate_logs(source: str, target: str) -> int:
    report = asyncio.run(migrate(source, target, Progress.on_terminal("copied", "logs")))
    for stream, what in report.left_out.items():
        warn(f"left out the torn last line of {stream} ({what}): it was never acknowledged")
    print(
        f"copied {report.copied} events of {report.streams} logs to "
        f"{redact(target)} ({report.skipped} already there); verified {report.verified} logs: "
        "counts and last hashes equal"
    )
    return 0
