"""The `orion-events` command line: its subcommands, their options, and the call each makes."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from orion_events.imports.conversation import SOURCES
from service.cli import imports, inspection, operations, users
from service.cli.serve import serve
from service.config import SYNC_MODES, Config

# What a subcommand runs (`func` on the parsed arguments): its exit code.
Command = Callable[[argparse.Namespace, Config], int]

DESCRIPTION = (
    "`orion-events` / `python -m service`: serve the API, and the operators' offline commands."
)
DATA_DIR_HELP = "data directory (env ORION_DATA_DIR, default var)"
LOG_HELP = (
    "keep the event log in this PostgreSQL database (postgresql://user:pass@host/db; "
    "env ORION_LOG_URL) instead of the data directory"
)


def _add_data_dir(command: argparse.ArgumentParser) -> None:
    # Not a parent parser: its options would come first in each command's help, where
    # --data-dir now has its own place.
    command.add_argument("--data-dir", help=DATA_DIR_HELP)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="orion-events", description=DESCRIPTION)
    commands = main.add_subparsers(dest="command", required=True)
    _add_serve(commands.add_parser("serve", help="serve the HTTP API"))
    _add_verify(commands.add_parser("verify", help="check every log line by line"))
    _add_migrate(
        commands.add_parser(
            "migrate",
            help="copy every log between a data dir and a database (resumable; service stopped)",
        )
    )
    _add_backup(commands.add_parser("backup", help="copy the data dir, even while serving"))
    _add_restore(
        commands.add_parser("restore", help="replace the logs with a backup (service stopped)")
    )
    _add_export(
        commands.add_parser(
            "export", help="write sessions with their full history (reads the files; no lock)"
        )
    )
    _add_replay(
        commands.add_parser(
            "replay", help="a session's timeline and its state at a version (reads the files)"
        )
    )
    _add_purge(
        commands.add_parser("purge", help="remove a session's log for good (service stopped)")
    )
    _add_users(commands.add_parser("users", help="the users and their keys (SPEC §9)"))
    _add_import(
        commands.add_parser(
            "import",
            help="sessions from a ChatGPT, Open WebUI, LibreChat, Claude or Orion export",
        )
    )
    return main


def _add_serve(command: argparse.ArgumentParser) -> None:
    command.add_argument("--host", help="address to bind (env ORION_HOST, default 127.0.0.1)")
    command.add_argument("--port", type=int, help="port (env ORION_PORT, default 9000)")
    _add_data_dir(command)
    command.add_argument(
        "--cache-mb",
        type=int,
        help="memory for messages (env ORION_CACHE_MB); summaries of all sessions always stay, "
        "the messages of the least recently used go back to their logs (default: no limit)",
    )
    command.add_argument("--log", metavar="URL", help=LOG_HELP)
    command.add_argument(
        "--max-open-logs",
        type=int,
        help="log files kept open for appending, the least recently used closed first (env "
        "ORION_MAX_OPEN_LOGS, default 256; at most half the open files limit)",
    )
    command.add_argument(
        "--sync",
        choices=SYNC_MODES,
        help="how commits make logs durable (env ORION_SYNC): fdatasync every touched log, on "
        "any file system (default); or one syncfs a batch, only on ext4, xfs or btrfs",
    )
    command.set_defaults(func=lambda args, config: serve(config))


def _add_verify(command: argparse.ArgumentParser) -> None:
    _add_data_dir(command)
    command.add_argument("--log", metavar="URL", help="check the event log in this database")
    command.add_argument("--json", action="store_true", help="print the report as JSON")
    command.set_defaults(
        func=lambda args, config: inspection.verify(config, args.data_dir, args.json)
    )


def _add_migrate(command: argparse.ArgumentParser) -> None:
    command.add_argument("--from", dest="source", required=True, help="a dir or a URL")
    command.add_argument("--to", dest="target", required=True, help="a URL or a dir")
    command.set_defaults(
        func=lambda args, config: operations.migrate_logs(args.source, args.target)
    )


def _add_backup(command: argparse.ArgumentParser) -> None:
    command.add_argument("dest", type=Path, help="a new or empty directory")
    _add_data_dir(command)
    command.set_defaults(
        func=lambda args, config: operations.backup_logs(config.data_dir, args.dest)
    )


def _add_restore(command: argparse.ArgumentParser) -> None:
    command.add_argument("source", type=Path, help="a directory written by backup (or cp -a)")
    _add_data_dir(command)
    command.set_defaults(
        func=lambda args, config: operations.restore_logs(args.source, config.data_dir)
    )


def _add_export(command: argparse.ArgumentParser) -> None:
    command.add_argument("sessions", nargs="*", metavar="SESSION", help="default: every session")
    command.add_argument("--format", choices=("json", "markdown"), default="json")
    command.add_argument("--out", type=Path, help="write <id>.json or <id>.md files into DIR")
    _add_data_dir(command)
    command.set_defaults(
        func=lambda args, config: inspection.export(
            config.data_dir, args.sessions, args.format, args.out
        )
    )


def _add_replay(command: argparse.ArgumentParser) -> None:
    command.add_argument("session", metavar="SESSION")
    command.add_argument("--version", type=int, help="stop after this event (default: all)")
    command.add_argument("--json", action="store_true", help="print {timeline, state} as JSON")
    _add_data_dir(command)
    command.set_defaults(
        func=lambda args, config: inspection.replay(
            config.data_dir, args.session, args.version, args.json
        )
    )


def _add_purge(command: argparse.ArgumentParser) -> None:
    command.add_argument("session", metavar="SESSION", nargs="?", help="one session")
    command.add_argument("--user", metavar="ID", help="every session of this user (SPEC §9)")
    command.add_argument("--by", help="who purges, for the record (default: the OS user)")
    command.add_argument("--reason", help="why, for the record")
    command.add_argument("--yes", action="store_true", help="confirm: the log cannot be recovered")
    _add_data_dir(command)
    command.set_defaults(
        func=lambda args, config: operations.purge_logs(
            config.data_dir, args.session, args.user, args.by, args.reason, args.yes
        )
    )


def _add_users(command: argparse.ArgumentParser) -> None:
    actions = command.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="a new user and their key (printed once)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="an admin (the first one: here)")
    _add_data_dir(add)
    add.add_argument("--log", metavar="URL", help=LOG_HELP)
    add.set_defaults(func=lambda args, config: users.add_user(config, args.name, args.admin))
    listing = actions.add_parser("list", help="every user, their role and live keys")
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    _add_data_dir(listing)
    listing.add_argument("--log", metavar="URL", help=LOG_HELP)
    listing.set_defaults(func=lambda args, config: users.list_users(config, args.json))


def _add_import(command: argparse.ArgumentParser) -> None:
    command.add_argument("file", type=Path, metavar="FILE", help="the export file (JSON)")
    command.add_argument(
        "--format", choices=SOURCES, help="default: told from the file's first item"
    )
    command.add_argument("--user", metavar="NAME", help="who owns the sessions (with users)")
    _add_data_dir(command)
    command.add_argument("--log", metavar="URL", help=LOG_HELP)
    command.set_defaults(
        func=lambda args, config: imports.import_command(config, args.file, args.format, args.user)
    )
