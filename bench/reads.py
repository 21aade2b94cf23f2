"""Reads of a long session against everything else: SPEC §12, "reads never stall the others".

The real `orion-events serve` (pinned to one core, wrk to the other, as in bench/http.py) on a
data dir holding one session of 20,000 messages and one of 20. Side by side in one run:

1. `GET /api/health` latency (p50 and p99, one connection) while 30 connections read the long
   session, against health alone: one row for each kind of read (`?version=1`, `?version=N` near
   the end, `events?after=0&limit=1`, `?as_of` before the session was created) and two for a mix
   of all four (--quick: the mix alone). Target: with / alone ≤ 3, and the p99 never over 0.5 s.
   For reference, health under 30 connections of a plain GET of the short session, which reads
   no history: the share of one core that 30 busy clients take, whatever they ask.
2. What a read of the long session's start costs: `?version=1` of it against `?version=1` of the
   20-message session (a read that returns the same should cost the same, however long the log
   behind it: ≥ 0.8), and against a plain `GET /api/sessions/{id}` of the 20-message session (a
   cached body, no log read: for reading only).

Health alone and health under reads are measured by turns (alone, under, under, alone, …) so
drift on a busy machine hits both; each row is the median of the rounds.

`python -m bench.reads [--quick]` runs these alone; bench.run puts them in the common table.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.datagen import make_data_dir
from bench.http import (
    BenchError,
    WrkResult,
    free_port,
    parse_wrk,
    row,
    run_wrk,
    serve_command,
    server,
    wrk_command,
)

LONG = 20_000  # messages in the long session
SHORT = 20
READERS = 30  # connections reading the long session at once
THROUGHPUT_CONNECTIONS = 16
BEFORE_CREATION = "2000-01-01T00:00:00Z"  # datagen stamps every event in 2025
# A server that fell behind answers the reads it took before anything else: as long as this.
DRAIN_SECONDS = 120
FLOOR = "plain GET of 20 messages (no history; reference)"


@dataclass
class Plan:
    seconds: float  # per wrk run
    rounds: int  # alone/under pairs per row; the median is kept
    each_kind: bool  # a row for each kind of read, not only for the mix of them


QUICK = Plan(seconds=1, rounds=1, each_kind=False)  # bench --quick stays near a minute
FULL = Plan(seconds=5, rounds=2, each_kind=True)


@dataclass
class Sessions:
    long: str
    short: str
    version: int  # the long session's current version


def prepare(data_dir: Path) -> Sessions:
    """The long session (created + 20,000 messages), then the short one, in one data dir."""
    make_data_dir(data_dir, 1, LONG + 1)
    (long_id,) = [p.stem for p in (data_dir / "sessions").glob("*.jsonl")]
    make_data_dir(data_dir, 1, SHORT + 1, position=LONG + 1)
    (short_id,) = [p.stem for p in (data_dir / "sessions").glob("*.jsonl") if p.stem != long_id]
    return Sessions(long_id, short_id, LONG + 1)


def reads_of(sessions: Sessions) -> dict[str, str]:
    """Each kind of read of the long session, by name: the paths the 30 connections GET."""
    path = f"/api/sessions/{sessions.long}"
    near_end = sessions.version - 10
    return {
        "?version=1": f"{path}?version=1",
        f"?version={near_end} (near the end)": f"{path}?version={near_end}",
        "events?after=0&limit=1": f"{path}/events?after=0&limit=1",
        "?as_of before creation": f"{path}?as_of={BEFORE_CREATION}",
    }


def mix_script(directory: Path, paths: Sequence[str]) -> Path:
    """A wrk Lua script: each connection GETs the paths in turn, starting at its own."""
    quoted = ", ".join(f'"{p}"' for p in paths)
    script = directory / "reads_mix.lua"
    script.write_text(
        f"""-- written by bench/reads.py for this run
local paths = {{{quoted}}}
local n = 0
init = function(args)
  n = math.random(#paths)
end
request = function()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end
"""
    )
    return script


def fetch(url: str) -> bytes:
    """One GET; a 404 is an answer too (`?as_of` before a session existed)."""
    try:
        with urllib.request.urlopen(url, timeout=DRAIN_SECONDS) as answer:
            body: bytes = answer.read()
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
        body = exc.read()
    return body


def start(url: str, seconds: float, connections: int, script: Path | None = None) -> Any:
    command = wrk_command(url, seconds, connections=connections, script=script)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: Any, what: str) -> WrkResult:
    """The figures of a wrk run; BenchError on socket errors (timeouts included). Answers that
    are not 2xx count as answers: `?as_of` before a session existed is a 404 by design."""
    output, _ = process.communicate()
    if process.returncode != 0:
        raise BenchError(f"wrk failed on {what} (exit {process.returncode}):\n{output}")
    result = parse_wrk(output)
    if "Socket errors" in output:
        raise BenchError(f"socket errors on {what}; wrk said:\n{output}")
    return result


def under_reads(
    base: str, read: str, script: Path | None, seconds: float
) -> tuple[WrkResult, WrkResult]:
    """Health, one connection, while READERS connections read: the readers start first and end
    last, so every health request meets them."""
    readers = start(base + read, seconds + 1, READERS, script)
    try:
        time.sleep(0.5)
        health = finish(start(base + "/api/health", seconds, 1), "/api/health")
    finally:
        loaded = finish(readers, f"{READERS} readers of {read}")
        settle(base)
    return health, loaded


def settle(base: str) -> None:
    """Wait until the server is idle again: its readers may be gone while it still works
    through the reads they asked for (it answers health meanwhile; that is the point), and what
    comes next is measured without them. Idle: under 5 % of a core over half a second."""
    pid = _server_pid(base)
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        used = _cpu_seconds(pid)
        time.sleep(0.5)
        if _cpu_seconds(pid) - used < 0.025:
            return
    raise BenchError(f"the server was still busy {DRAIN_SECONDS} s after its readers left")


def _server_pid(base: str) -> int:
    """The process serving `base` (started by bench.http.server with --port in its command)."""
    port = base.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in command and b"--port" in command and port.encode() in command:
            return int(entry.name)
    raise BenchError(f"no server process for {base}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alone(base: str, seconds: float) -> WrkResult:
    return finish(start(base + "/api/health", seconds, 1), "/api/health alone")


def throughput(base: str, path: str, seconds: float) -> WrkResult:
    return finish(start(base + path, seconds, THROUGHPUT_CONNECTIONS), path)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _latency(result: WrkResult, percentile: str) -> float:
    """A percentile of health's latency, in seconds; infinite when not one health request was
    answered in the run (wrk then says 0)."""
    return result.latency[percentile] if result.requests else math.inf


def health_rows(
    plan: Plan,
    base: str,
    reads: dict[str, str],
    script: Path,
    say: Callable[[str], None],
    floor: str,
) -> list[dict[str, Any]]:
    """Health with READERS readers of each kind (and of the mix) against health alone; and,
    for reference, with READERS clients of `floor`, a request that reads no history: what
    30 busy connections cost health on one core whatever they ask."""
    rows = []
    kinds: list[tuple[str, str, Path | None]] = []
    if plan.each_kind:
        kinds += [(n, p, None) for n, p in reads.items()]
        kinds.append((FLOOR, floor, None))
    kinds.append(("a mix of the four", next(iter(reads.values())), script))
    extra = {"seconds": plan.seconds, "rounds": plan.rounds, "readers": READERS}
    for name, path, lua in kinds:
        say(f"reads: health under {READERS} x {name}")
        by_itself: list[WrkResult] = []
        under: list[tuple[WrkResult, WrkResult]] = []
        for n in range(plan.rounds):
            if n % 2 == 0:
                by_itself.append(alone(base, plan.seconds))
                under.append(under_reads(base, path, lua, plan.seconds))
            else:
                under.append(under_reads(base, path, lua, plan.seconds))
                by_itself.append(alone(base, plan.seconds))
        p50 = _median([_latency(h, "50") for h, _ in under]) * 1e3
        p99 = _median([_latency(h, "99") for h, _ in under]) * 1e3
        p50_alone = _median([h.latency["50"] for h in by_itself]) * 1e3
        p99_alone = _median([h.p99 for h in by_itself]) * 1e3
        reads_per_s = _median([r.rps for _, r in under])
        samples = {
            "under_p50_ms": [_latency(h, "50") * 1e3 for h, _ in under],
            "under_p99_ms": [_latency(h, "99") * 1e3 for h, _ in under],
            "alone_p50_ms": [h.latency["50"] * 1e3 for h in by_itself],
            "alone_p99_ms": [h.p99 * 1e3 for h in by_itself],
            "reads_per_s": [r.rps for _, r in under],
        }
        note = (
            f"p50 {p50:.2f} vs {p50_alone:.2f} ms, p99 {p99:.2f} vs {p99_alone:.2f} ms; "
            f"{reads_per_s:,.1f} reads/s"
        )
        percentiles = [("p99", p99, p99_alone)]
        if lua is not None:
            percentiles.insert(0, ("p50", p50, p50_alone))
        for label, real, baseline in percentiles:
            line = row(
                f"GET /api/health {label} under {READERS} x {name} / alone",
                real,
                baseline,
                "ms",
                None if name == FLOOR else 3.0,
                "<=",
                note=note,
                samples=samples,
                part="reads",
                **extra,
            )
            if label == "p99" and real > 500 and name != FLOOR:  # SPEC §12: never over 0.5 s either
                line["met"] = False
                line["note"] += "; p99 over 0.5 s"
            rows.append(line)
    return rows


def cost_rows(
    plan: Plan, base: str, sessions: Sessions, say: Callable[[str], None]
) -> list[dict[str, Any]]:
    """`?version=1` of the long session against the same of the short one and a plain GET."""
    long_first = f"/api/sessions/{sessions.long}?version=1"
    short_first = f"/api/sessions/{sessions.short}?version=1"
    short_now = f"/api/sessions/{sessions.short}"
    if fetch(base + long_first) != fetch(base + short_first).replace(
        sessions.short.encode(), sessions.long.encode()
    ):
        raise BenchError("?version=1 of the two sessions differ beyond their ids")
    say(f"reads: ?version=1 of {LONG:,} messages against {SHORT} and a plain GET")
    runs: dict[str, list[WrkResult]] = {long_first: [], short_first: [], short_now: []}
    for n in range(plan.rounds):
        for path in runs if n % 2 == 0 else list(runs)[::-1]:
            runs[path].append(throughput(base, path, plan.seconds))
            settle(base)
    rps = {path: _median([r.rps for r in results]) for path, results in runs.items()}
    extra = {"seconds": plan.seconds, "rounds": plan.rounds}
    extra["connections"] = THROUGHPUT_CONNECTIONS
    samples = {path: [r.rps for r in results] for path, results in runs.items()}

    def p99(path: str) -> str:
        return f"{_median([r.p99 for r in runs[path]]) * 1e3:.1f}"

    return [
        row(
            f"?version=1 of {LONG:,} messages / of {SHORT} messages",
            rps[long_first],
            rps[short_first],
            "req/s",
            0.8,
            ">=",
            note=f"p99 {p99(long_first)} vs {p99(short_first)} ms",
            samples=samples,
            part="reads",
            **extra,
        ),
        row(
            f"?version=1 of {LONG:,} messages / plain GET of {SHORT} messages",
            rps[long_first],
            rps[short_now],
            "req/s",
            None,
            ">=",
            note=f"p99 {p99(long_first)} vs {p99(short_now)} ms; the plain GET's body is cached",
            samples=samples,
            part="reads",
            **extra,
        ),
    ]


def run(quick: bool = False, log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    plan = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="orion-bench-reads-") as tmp:
        work = Path(tmp)
        say(f"reads: writing a session of {LONG:,} messages and one of {SHORT}")
        sessions = prepare(work / "var")
        reads = reads_of(sessions)
        script = mix_script(work, list(reads.values()))
        port = free_port()
        command = serve_command(work / "var", port)
        with server(command, port, "/api/health", work / "real.log") as base:
            body = orjson.loads(fetch(f"{base}/api/sessions/{sessions.long}?version=1"))
            if body["version"] != 1:
                raise BenchError(f"?version=1 answered version {body['version']}")
            for path in reads.values():  # each kind answers, and the first reads are done
                try:
                    fetch(base + path)
                except OSError as exc:
                    if "404" not in str(exc):  # as_of before creation: 404 is its answer
                        raise
            run_wrk(base + "/api/health", 1)
            floor = f"/api/sessions/{sessions.short}"
            rows = health_rows(plan, base, reads, script, say, floor)
            return rows + cost_rows(plan, base, sessions, say)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, one round")
    args = parser.parse_args()
    for r in run(args.quick):
        print(
            f"{r['name']:<70} {r['real']:>10,.2f} {r['bare']:>10,.2f} {r['unit']:<6} "
            f"{r['ratio']:>6.2f} {r['note']}"
        )


if __name__ == "__main__":
    main()
