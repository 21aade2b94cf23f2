"""`orion-events import FILE [--format …] [--user NAME]` (SPEC §10): another tool's export
written as sessions, here on the data dir (the service stopped) or the database (replicas
running or not). The report is printed as JSON; a bar shows the progress on a terminal."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tqdm import tqdm

from orion_events.domain.errors import DataDirLocked, OrionError
from orion_events.imports.importer import Report, import_file
from orion_events.imports.source_file import SourceFile, UnknownFormat
from orion_events.store.store import Store
from service.cli.output import warn
from service.cli.stores import with_store
from service.config import Config

# The command's store keeps no messages in memory (each session goes cold once written) and
# builds no search index: its memory is that of the conversations in flight, not of the file.
_NO_CACHE = 0


class _Refused(Exception):
    """Why the command writes nothing (exit 2)."""


def import_command(config: Config, path: Path, format_name: str | None, user: str | None) -> int:
    """Exit 0 when every conversation was imported or found imported before, 1 when some
    failed (the report names them; the others are in), 2 when nothing could be imported."""
    if not path.is_file():
        warn(f"no file at {path}")
        return 2
    try:
        source = SourceFile(path, format_name)
    except UnknownFormat as exc:
        warn(f"{path}: {exc}; nothing was imported")
        return 2
    with source:
        try:
            report = with_store(
                config,
                lambda store: _import(store, source, path.stat().st_size, user),
                cache_bytes=_NO_CACHE,
                search=False,
            )
        except DataDirLocked:
            warn(
                f"a service is running on {config.data_dir}: import through it "
                "(POST /api/import), or stop it and run this again; nothing was imported"
            )
            return 2
        except (_Refused, OrionError) as exc:
            warn(f"{exc.message if isinstance(exc, OrionError) else exc}; nothing was imported")
            return 2
    print(json.dumps(report.as_json(), indent=2))
    return 1 if report.failed else 0


async def _import(store: Store, source: SourceFile, size: int, user: str | None) -> Report:
    owner = _owner(store, user)
    columns, rows = _screen()
    with tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"importing {source.format.name}",
        disable=not sys.stderr.isatty(),
        file=sys.stderr,
        ncols=columns,
        nrows=rows,
    ) as bar:

        def progress(done: int, position: int) -> None:
            bar.set_postfix_str(f"{done} conversations", refresh=False)
            bar.update(position - bar.n)

        return await import_file(store, source, owner=owner, progress=progress)


def _screen() -> tuple[int, int]:
    """The terminal's columns and rows; 80 by 24 where it says 0 (a terminal of no size, as a
    bare pseudo-terminal is, on which tqdm would draw nothing at all)."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except OSError:
        return 80, 24
    return size.columns or 80, size.lines or 24


def _owner(store: Store, user: str | None) -> str | None:
    """The id of the user who will own the sessions (None without users)."""
    users = store.accounts.view
    if user is None:
        if users.enabled:
            raise _Refused("there are users: name the one who will own the sessions (--user)")
        return None
    found = users.by_name(user)
    if found is None:
        raise _Refused(f"no user named {user!r}")
    if found.disabled:
        raise _Refused(f"user {user!r} is disabled")
    return found.id
