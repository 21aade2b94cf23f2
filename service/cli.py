"""`orion-events` / `python -m service`: serve the API, or verify a data directory."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
from aiohttp import web

from orion_events.errors import DataDirLocked
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
    return parser


def serve(config: Config) -> int:
    app = create_app(config)
    try:
        web.run_app(
            app,
            host=config.host,
            port=config.port,
            print=lambda _: log.info("serving on http://%s:%d", config.host, config.port),
            access_log=None,
            shutdown_timeout=30.0,
        )
    except DataDirLocked as exc:
        print(f"orion-events: {exc.message}", file=sys.stderr)
        return 2
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
    if args.command == "serve":
        return serve(config)
    return verify(config.data_dir, args.json)


if __name__ == "__main__":
    sys.exit(main())
