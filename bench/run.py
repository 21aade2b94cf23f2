"""`make bench`: every benchmark in one run, one table of figures, ratios and targets.

    python -m bench.run [--quick] [--json PATH] [--only PART ...]

Parts, in this order (--quick leaves out replicas unless --only names it), each a module with
`run(quick) -> list[row]`; a part whose module is not there (yet) is left out and said so, a
part that fails is reported and the others still run:

- http: the real service against a bare aiohttp app under wrk (bench/http.py)
- reads: health while 30 reads of a 20,000-message session run, and what such a read costs
  (bench/reads.py)
- durable_appends: group commit against one write + fsync per append (bench/durable_appends.py)
- peers: this project against a JSON file per chat, SQLite and eventsourcing (bench/peers.py)
- startup: a cold start on a generated data dir (bench/startup.py)
- trees: appends, branch switches and pages of a branched 10,000-message session against a
  short one (bench/trees.py)
- users: GET and durable POST with users (a key sent on every request) against the same with no
  users, on the same data (bench/users.py)
- imports: `orion-events import` of a 200 MB and a 20 MB ChatGPT-shaped export, its rate and
  peak memory (bench/imports.py)
- replicas: the service on PostgreSQL, one and two replicas, next to the files (bench/replicas.py)

A row is {part, name, real, bare, unit, ratio, target, op, met, note}: `bare` is the baseline
the ratio is taken against (the bare app, the peer, the run without writers), `op` how the ratio
must compare with `target` (">=" or "<="), `met` whether it did (None when there is no target).
The table goes to stdout and the same rows, with the machine's facts, to --json (default
bench/results/latest.json). Benchmarks are never tests: `make test` runs none of this.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = (
    "http",
    "reads",
    "durable_appends",
    "peers",
    "startup",
    "trees",
    "users",
    "imports",
    "replicas",
)
# --quick prints the performance targets' figures: replicas (a PostgreSQL server to start, and
# figures of the scale-out, none of them a target here) only when asked with --only.
QUICK_PARTS = PARTS[:-1]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Skipped(Exception):
    """A part that is not there (yet): said in the table, not a failure."""


def run_part(part: str, quick: bool) -> list[dict[str, Any]]:
    """The rows of one part; Skipped when it is not there, any other error when it failed."""
    module_name = f"bench.{part}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise Skipped(f"no {module_name} (yet): skipped") from None
        raise
    run = getattr(module, "run", None)
    if run is None:
        raise Skipped(f"{module_name} has no run(quick) (yet): skipped")
    started = time.perf_counter()
    rows = list(run(quick))
    say(f"{part}: {time.perf_counter() - started:.0f} s")
    for row in rows:
        row.setdefault("part", part)
    return rows


# -- the table ------------------------------------------------------------------------------------


def number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = float(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value else "0"


def target_text(row: dict[str, Any]) -> str:
    if row.get("target") is None:
        return ""
    sign = {">=": "≥", "<=": "≤"}.get(row.get("op", ""), row.get("op", ""))
    return f"{sign} {row['target']:g}"


def met_text(row: dict[str, Any]) -> str:
    met = row.get("met")
    return "" if met is None else ("met" if met else "MISSED")


def ratio_text(row: dict[str, Any]) -> str:
    ratio = row.get("ratio")
    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
        return "-"
    return f"{ratio:.2f}"


def table(rows: Sequence[dict[str, Any]], problems: dict[str, str]) -> str:
    name_width = max([len(r["name"]) for r in rows] + [9])
    head = (
        f"{'part':<15} {'benchmark':<{name_width}} {'real':>10} {'baseline':>10} "
        f"{'unit':<9} {'ratio':>6} {'target':>7} {'':<6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.get('part', ''):<15} {r['name']:<{name_width}} {number(r.get('real')):>10} "
            f"{number(r.get('bare')):>10} {r.get('unit', ''):<9} {ratio_text(r):>6} "
            f"{target_text(r):>7} {met_text(r):<6}".rstrip()
        )
        if r.get("note"):
            lines.append(f"{'':<16}  {r['note']}")
    targets = [r for r in rows if r.get("met") is not None]
    missed = [r for r in targets if not r["met"]]
    lines.append("-" * len(head))
    lines.append(f"targets: {len(targets) - len(missed)} met, {len(missed)} missed")
    for part, problem in problems.items():
        lines.append(f"{part}: {problem}")
    return "\n".join(lines)


# -- the machine ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    facts: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "taskset": shutil.which("taskset") is not None,
    }
    with contextlib.suppress(PackageNotFoundError):
        facts["aiohttp"] = version("aiohttp")
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        facts["wrk"] = next(iter((out.stdout + out.stderr).splitlines()), "")
    with contextlib.suppress(OSError):
        facts["load_average"] = os.getloadavg()
    return facts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about a minute)")
    parser.add_argument(
        "--json", type=Path, default=RESULTS / "latest.json", help="where to write the rows"
    )
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    facts = machine()  # the load before the run, when other work shares the machine
    rows: list[dict[str, Any]] = []
    problems: dict[str, str] = {}
    failed = False
    for part in args.only or (QUICK_PARTS if args.quick else PARTS):
        say(f"== {part}")
        try:
            rows += run_part(part, args.quick)
        except Skipped as exc:
            problems[part] = str(exc)
        except Exception as exc:  # the other parts still run; the table says what failed
            traceback.print_exc()
            problems[part] = f"FAILED: {type(exc).__name__}: {exc}".splitlines()[0]
            failed = True
    seconds = time.perf_counter() - started
    with contextlib.suppress(OSError):
        facts["load_average_after"] = os.getloadavg()
    print()
    print(table(rows, problems))
    print(f"({'quick' if args.quick else 'full'} run, {seconds:.0f} s; rows in {args.json})")
    load = facts.get("load_average", (0.0,))[0]
    if load > (os.cpu_count() or 1) / 2:
        print(
            f"note: the load average was {load:.1f} on {os.cpu_count()} cores before the run: "
            "other work shared the machine, so the figures are noisier than usual"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "when": when,
        "quick": args.quick,
        "seconds": seconds,
        "machine": facts,
        "rows": rows,
        "problems": problems,
    }
    args.json.write_bytes(
        orjson.dumps(
            document,
            option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS,
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
