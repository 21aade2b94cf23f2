"""`orion-events` / `python -m service`: serve the API, and the operators' offline commands."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from orion_events.domain.errors import OrionError
from service.cli.parser import Command, parser
from service.config import Config, ConfigError

# Commands whose OSError (a path not writable, a disk full) is reported in a line, not a traceback.
OFFLINE_COMMANDS = frozenset(
    {"export", "replay", "purge", "migrate", "backup", "restore", "import"}
)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
    command: Command = args.func
    try:
        return command(args, config)
    except OrionError as exc:
        print(f"orion-events: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.command not in OFFLINE_COMMANDS:
            raise
        print(f"orion-events: {exc}", file=sys.stderr)  # e.g. --out not writable
        return 2
