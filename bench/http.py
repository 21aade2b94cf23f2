"""HTTP benchmarks: the real `orion-events serve` against a bare aiohttp app, driven by wrk.

One aiohttp process on one core, wrk on the other: each server is pinned with `taskset -c 0`
and wrk with `taskset -c 1` (when taskset exists and there are two cores). Both servers run
through the whole run on free ports of 127.0.0.1; every scenario measures them by turns
(real, bare, bare, real, …) so drift on a noisy machine hits both sides alike, and the median
of the rounds is what a row shows.

Scenarios (the issue's targets):

1. `GET /api/sessions/{id}` of a 20-message session, 64 connections: real / bare ≥ 0.85
2. `GET /api/sessions?limit=50` with 1,000 sessions: real / bare ≥ 0.7
3. durable `POST /api/sessions/{id}/messages`, 64 connections over 100 sessions, against a
   bare non-durable POST that parses the same JSON and answers 201: real / bare ≥ 0.6
4. p99 of scenario 1 while 64 writers post (scenario 3's load, at the same time) against its
   p99 alone: with / without ≤ 3. The full run adds two rows for reading it: the same on the
   bare app (what sharing the core with 64 posting connections costs by itself), and the real
   service with writers whose bodies it parses and refuses (422: the same HTTP load, no store
   write), which separates the HTTP layer's share from the durable write path's.

`python -m bench.http [--quick]` runs these alone; bench.run puts them in the common table.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.datagen import make_data_dir

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE = 0
WRK_CORE = 1
CONNECTIONS = 64
WRITE_SESSIONS = 100
SESSIONS = 1000
MESSAGES = 20  # in every generated session: the one read, the listed ones, the written ones
CONTENT = ("lorem ipsum dolor sit amet " * 12)[:300]  # as long as bench.datagen's messages


class BenchError(RuntimeError):
    """The benchmark could not run (no wrk, a server that would not start, errors in a run)."""


# -- wrk ------------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    latency: dict[str, float]  # percentile ("50", "75", "90", "99") -> seconds
    requests: int
    errors: int  # non-2xx/3xx answers plus socket errors (timeouts included)
    output: str = field(repr=False, default="")

    @property
    def p99(self) -> float:
        return self.latency["99"]


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise BenchError(f"cannot read the duration {text!r} in wrk's output")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> WrkResult:
    """The figures of one `wrk --latency` run."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    if rps is None or total is None:
        raise BenchError(f"wrk's output has no Requests/sec:\n{output}")
    latency = {
        pct: _seconds(value)
        for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M)
    }
    if set(latency) != {"50", "75", "90", "99"}:
        raise BenchError(f"wrk's output has no latency distribution (--latency):\n{output}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx[1])
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return WrkResult(float(rps[1]), latency, int(total[1]), errors, output)


def pinned(core: int) -> list[str]:
    """`taskset -c core` when it exists and the machine has a core to spare for wrk."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


def wrk_command(
    url: str,
    seconds: float,
    connections: int = CONNECTIONS,
    script: Path | None = None,
    headers: Sequence[str] = (),
) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed (make bench installs it: apt-get install wrk)")
    command = [
        *pinned(WRK_CORE),
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, math.ceil(seconds))}s",
        "--timeout",
        "30s",
        "--latency",
    ]
    for header in headers:  # "Name: value"; a script's own request() sets its own headers
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    return [*command, url]


def start_wrk(
    url: str, seconds: float, script: Path | None = None, headers: Sequence[str] = ()
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        wrk_command(url, seconds, script=script, headers=headers),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish_wrk(process: subprocess.Popen[str], what: str, refused: bool = False) -> WrkResult:
    """The figures of a wrk run; BenchError if it had errors (non-2xx unless `refused`)."""
    output, _ = process.communicate()
    if process.returncode != 0:
        raise BenchError(f"wrk failed on {what} (exit {process.returncode}):\n{output}")
    result = parse_wrk(output)
    if refused:
        answered = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
        if answered is None or int(answered[1]) != result.requests:
            raise BenchError(f"{what}: expected every request refused; wrk said:\n{output}")
        result.errors -= int(answered[1])
    if result.errors:
        raise BenchError(f"{result.errors} errors on {what}; wrk said:\n{output}")
    return result


def run_wrk(
    url: str, seconds: float, script: Path | None = None, headers: Sequence[str] = ()
) -> WrkResult:
    return finish_wrk(start_wrk(url, seconds, script, headers), url)


def post_script(
    directory: Path,
    session_ids: Sequence[str],
    role: str = "user",
    headers: dict[str, str] | None = None,
    name: str | None = None,
) -> Path:
    """A wrk Lua script: every request posts the same message to a session picked at random.

    Any `role` but a valid one makes every request a 422 after the body is parsed. `headers`
    are sent beside Content-Type (an Authorization, say); `name` names the file (default
    post_messages_<role>.lua).
    """
    ids = ", ".join(f'"{s}"' for s in session_ids)
    message = {"role": role, "content": CONTENT, "model": "qwen2.5:1.5b"}
    body = orjson.dumps(message).decode().replace("\\", "\\\\").replace('"', '\\"')
    path = directory / (name or f"post_messages_{role}.lua")
    sent = {"Content-Type": "application/json", **(headers or {})}
    lua_headers = ", ".join(f'["{k}"] = "{v}"' for k, v in sent.items())
    path.write_text(
        f"""-- written by bench/http.py for this run
local ids = {{{ids}}}
local body = "{body}"
local headers = {{{lua_headers}}}
math.randomseed(os.time())
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("POST", "/api/sessions/" .. id .. "/messages", headers, body)
end
"""
    )
    return path


# -- servers --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def orion_command(*args: str) -> list[str]:
    """`orion-events args…` as `make run` starts it: the console script beside this Python."""
    script = Path(sys.executable).parent / "orion-events"
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "service"]
    return [*launcher, *args]


def serve_command(data_dir: Path, port: int) -> list[str]:
    """The real service on `data_dir`, as `make run` starts it."""
    return orion_command(
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    )


def bare_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.bare_app", "--host", "127.0.0.1", "--port", str(port)]


@contextlib.contextmanager
def server(
    command: list[str],
    port: int,
    probe: str,
    log_path: Path,
    timeout: float = 120.0,
    core: int = SERVER_CORE,
) -> Iterator[str]:
    """Start `command` on `core`, wait until GET `probe` answers 200, yield the base URL."""
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("ORION_API_TOKEN", None)  # the bench measures the open API
    env.pop("ORION_CORS_ORIGINS", None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*pinned(core), *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise BenchError(
                        f"{command[0]} exited with {process.returncode}:\n{log_path.read_text()}"
                    )
                try:
                    with urllib.request.urlopen(base + probe, timeout=5) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise BenchError(f"{command[0]} did not answer {probe} in {timeout:.0f} s")
                time.sleep(0.1)
            yield base
        except BaseException:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            print(f"-- the last lines of {command[0]}'s log:", *tail, sep="\n", file=sys.stderr)
            raise
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def fetch(url: str, headers: dict[str, str] | None = None) -> bytes:
    with urllib.request.urlopen(
        urllib.request.Request(url, headers=headers or {}), timeout=10
    ) as answer:
        body: bytes = answer.read()
        return body


# -- data -----------------------------------------------------------------------------------------


@dataclass
class Data:
    read_id: str  # the 20-message session the GETs read (never written to)
    write_ids: list[str]  # the sessions the POSTs spread over


def prepare_data(data_dir: Path, sessions: int = SESSIONS, messages: int = MESSAGES) -> Data:
    """`sessions` logs of a created event and `messages` messages each, written by bench.datagen."""
    make_data_dir(data_dir, sessions, messages + 1)
    ids = sorted(p.stem for p in (data_dir / "sessions").glob("*.jsonl"))
    if len(ids) < WRITE_SESSIONS + 1:
        raise BenchError(f"need more than {WRITE_SESSIONS} sessions, have {len(ids)}")
    return Data(read_id=ids[0], write_ids=ids[1 : WRITE_SESSIONS + 1])


# -- scenarios ------------------------------------------------------------------------------------


@dataclass
class Plan:
    seconds: float  # per wrk run
    rounds: int  # real/bare pairs per scenario; the median is kept
    warmup: float
    reference: bool  # scenario 4 on the bare app too


QUICK = Plan(seconds=2, rounds=1, warmup=1, reference=False)
FULL = Plan(seconds=6, rounds=3, warmup=2, reference=True)


def row(
    name: str,
    real: float,
    bare: float,
    unit: str,
    target: float | None,
    op: str,
    note: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """One line of the results table: real and bare (or baseline) figures and their ratio."""
    ratio = real / bare if bare else float("nan")
    met = None
    if target is not None:
        met = ratio >= target if op == ">=" else ratio <= target
    return {
        "part": "http",
        "name": name,
        "real": real,
        "bare": bare,
        "unit": unit,
        "ratio": ratio,
        "target": target,
        "op": op,
        "met": met,
        "note": note,
        **extra,
    }


def _interleaved(
    rounds: int, real: Callable[[], WrkResult], bare: Callable[[], WrkResult]
) -> tuple[list[WrkResult], list[WrkResult]]:
    """Run real and bare by turns, swapping who goes first each round (ABBA…)."""
    reals: list[WrkResult] = []
    bares: list[WrkResult] = []
    for n in range(rounds):
        if n % 2 == 0:
            reals.append(real())
            bares.append(bare())
        else:
            bares.append(bare())
            reals.append(real())
    return reals, bares


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _mixed(
    base: str, get_path: str, script: Path, seconds: float, refused: bool = False
) -> tuple[WrkResult, WrkResult]:
    """GETs measured while writers post: the writers start first and end last."""
    writers = start_wrk(base + "/api/sessions/x/messages", seconds + 1, script)
    try:
        time.sleep(0.3)
        readers = run_wrk(base + get_path, seconds)
    finally:
        written = finish_wrk(writers, "the writers", refused)
    return readers, written


def run(quick: bool = False, log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Every HTTP scenario, real and bare side by side; the rows of the results table."""
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    plan = QUICK if quick else FULL
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (make bench installs it: apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="orion-bench-") as tmp:
        work = Path(tmp)
        say(f"http: writing {SESSIONS} sessions of {MESSAGES} messages with bench.datagen")
        data = prepare_data(work / "var")
        scripts = post_script(work, data.write_ids), post_script(work, data.write_ids, "nobody")
        real_port, bare_port = free_port(), free_port()
        with (
            server(
                serve_command(work / "var", real_port), real_port, "/api/health", work / "real.log"
            ) as real,
            server(
                bare_command(bare_port), bare_port, "/api/sessions?limit=1", work / "bare.log"
            ) as bare,
        ):
            return _scenarios(plan, data, scripts, real, bare, say)


def _scenarios(
    plan: Plan,
    data: Data,
    scripts: tuple[Path, Path],
    real: str,
    bare: str,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    script, refused = scripts  # posting valid messages; posting ones refused with 422
    get_path = f"/api/sessions/{data.read_id}"
    list_path = "/api/sessions?limit=50"
    post_url = "/api/sessions/x/messages"  # the Lua script sets each request's path
    session = fetch(real + get_path)
    if orjson.loads(session)["message_count"] != MESSAGES:
        raise BenchError(f"the session read has no {MESSAGES} messages: {session[:200]!r}")
    sizes = {
        "session": (len(session), len(fetch(bare + get_path))),
        "list": (len(fetch(real + list_path)), len(fetch(bare + list_path))),
    }
    # Warm up: the real service's first reads and writes; the bare app has nothing to warm.
    run_wrk(real + get_path, plan.warmup)
    run_wrk(real + post_url, plan.warmup, script)
    rows = []
    extra = {"seconds": plan.seconds, "rounds": plan.rounds, "connections": CONNECTIONS}

    def side_by_side(
        what: str, name: str, path: str, target: float, body: Path | None = None
    ) -> dict[str, Any]:
        """One scenario on the real service and the bare app in turns, as one row."""
        say(f"http: {what}")
        reals, bares = _interleaved(
            plan.rounds,
            lambda: run_wrk(real + path, plan.seconds, body),
            lambda: run_wrk(bare + path, plan.seconds, body),
        )
        sized = sizes.get(path_kind.get(path, ""))
        note = f"p99 {_ms(reals)} vs {_ms(bares)} ms"
        if sized is not None:
            note = f"body {sized[0]} vs {sized[1]} bytes; {note}"
        return row(
            name,
            _median([r.rps for r in reals]),
            _median([r.rps for r in bares]),
            "req/s",
            target,
            ">=",
            samples=_samples(reals, bares),
            note=note,
            **extra,
        )

    path_kind = {get_path: "session", list_path: "list"}
    rows.append(
        side_by_side(
            "(1) GET one session",
            f"GET /api/sessions/{{id}}, {MESSAGES} messages, {CONNECTIONS} conns",
            get_path,
            0.85,
        )
    )
    rows.append(
        side_by_side(
            "(2) GET the list", f"GET /api/sessions?limit=50, {SESSIONS} sessions", list_path, 0.7
        )
    )
    rows.append(
        side_by_side(
            "(3) POST messages (durable vs bare)",
            f"POST message, durable, {CONNECTIONS} conns over {WRITE_SESSIONS} sessions",
            post_url,
            0.6,
            script,
        )
    )

    say("http: (4) GET p99 with and without 64 writers")
    # (name, server, writers' script, writers refused, target); the last two read the first.
    variants = [("real", real, script, False, 3.0)]
    if plan.reference:
        variants += [
            ("bare app, for reference", bare, script, False, None),
            ("real, writers refused (422: HTTP only)", real, refused, True, None),
        ]
    alone: dict[str, list[WrkResult]] = {name: [] for name, *_ in variants}
    mixed: dict[str, list[tuple[WrkResult, WrkResult]]] = {name: [] for name, *_ in variants}
    for n in range(plan.rounds):
        for name, base, writers, refuse, _ in variants if n % 2 == 0 else variants[::-1]:
            alone[name].append(run_wrk(base + get_path, plan.seconds))
            mixed[name].append(_mixed(base, get_path, writers, plan.seconds, refuse))
    for name, _, _, refuse, target in variants:
        with_writers = _median([readers.p99 for readers, _ in mixed[name]])
        without = _median([r.p99 for r in alone[name]])
        get_rps = _median([readers.rps for readers, _ in mixed[name]])
        post_rps = _median([writers.rps for _, writers in mixed[name]])
        rows.append(
            row(
                f"GET p99 with {CONNECTIONS} writers / without, {name}",
                with_writers * 1e3,
                without * 1e3,
                "ms",
                target,
                "<=",
                samples={
                    "with_writers_p99_ms": [r.p99 * 1e3 for r, _ in mixed[name]],
                    "alone_p99_ms": [r.p99 * 1e3 for r in alone[name]],
                },
                note=f"under writes: {get_rps:,.0f} GET/s + {post_rps:,.0f} "
                f"{'refused ' if refuse else ''}POST/s; "
                f"alone {_median([r.rps for r in alone[name]]):,.0f} GET/s",
                **extra,
            )
        )
    return rows


def _samples(reals: Sequence[WrkResult], bares: Sequence[WrkResult]) -> dict[str, Any]:
    """Every round's figures, for the JSON: how far apart the rounds were."""
    return {
        side: [{"rps": r.rps, "latency_ms": {p: v * 1e3 for p, v in r.latency.items()}} for r in rs]
        for side, rs in (("real", reals), ("bare", bares))
    }


def _ms(results: Sequence[WrkResult]) -> str:
    return f"{_median([r.p99 for r in results]) * 1e3:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, one round")
    args = parser.parse_args()
    for r in run(args.quick):
        print(
            f"{r['name']:<60} {r['real']:>10,.1f} {r['bare']:>10,.1f} {r['unit']:<6} "
            f"{r['ratio']:>6.2f} {r['note']}"
        )


if __name__ == "__main__":
    main()
