"""`orion-events` / `python -m service`: serve the API; verify, back up and restore a data dir."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
from aiohttp import web

from orion_events.backup import backup, restore
from orion_events.errors import OrionError
from orion_events.verify import verify_dir
from service.app import create_app
from service.config import Config, ConfigError

log = logging.getLogger("orion")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orion-events", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", help="address to bind (env ORION_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env ORION_PORT, default 9000)")
    serve.add_argument("--data-dir", help="data directory (env ORION_DATA_DIR, default var)")
    verify = commands.add_parser("verify", help="check every log line by line")
    verify.add_argument("--data-dir", help="data directory (env ORION_DATA_DIR, default var)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    backup = commands.add_parser("backup", help="copy the data dir, even while serving")
    backup.add_argument("dest", type=Path, help="a new or empty directory")
    backup.add_argument("--data-dir", help="data directory (env ORION_DATA_DIR, default var)")
    restore = commands.add_parser(
        "restore", help="replace the logs with a backup (service stopped)"
    )
    restore.add_argument("source", type=Path, help="a directory written by backup (or cp -a)")
    restore.add_argument("--data-dir", help="data directory (env ORION_DATA_DIR, default var)")
    return parser


def serve(config: Config) -> int:
    web.run_app(
        create_app(config),
        host=config.host,
        port=config.port,
        print=lambda _: log.info("serving on http://%s:%d", config.host, config.port),
        access_log=None,
        shutdown_timeout=30.0,
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = Config.from_env(os.environ).with_flags(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            data_dir=args.data_dir,
        )
    except ConfigError as exc:
        print(f"orion-events: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            return serve(config)
        if args.command == "backup":
            report = backup(config.data_dir, args.dest)
            print(
                f"backed up {report.files} logs, {report.events} events, {report.bytes} bytes "
                f"to {args.dest} ({report.trimmed} in-flight last lines left out)"
            )
            for path, damage in report.damaged.items():
                print(f"{path}: damaged at {damage}; copied whole", file=sys.stderr)
            return 1 if report.damaged else 0
        if args.command == "restore":
            aside = restore(args.source, config.data_dir)
            moved = f"; the previous logs are in {aside}" if aside else ""
            print(f"restored {config.data_dir} from {args.source}{moved}")
            return 0
        return verify(config.data_dir, args.json)
    except OrionError as exc:
        print(f"orion-events: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
