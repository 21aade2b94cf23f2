"""Users (issue 14): what admitting a request by its key costs, under wrk.

    python -m bench.users [--quick]

One data dir written by bench.datagen, copied twice; in one copy `orion-events users add bench
--admin` makes the first admin (who then owns every session made before users), the other has
no users. Both run as the real `orion-events serve`, pinned to the same core (bench.http's
machinery: wrk on the other core, the two sides by turns, the median of the rounds), and each
scenario is measured with users (every request sending `Authorization: Bearer <key>`) against
without:

1. `GET /api/sessions/{id}` of a 20-message session, 64 connections: with / without ≥ 0.95
2. durable `POST /api/sessions/{id}/messages`, 64 connections over 100 sessions:
   with / without ≥ 0.95

Admitting a request is one SHA-256 of the key and one dict lookup, not a database trip: the
targets say it costs at most 5% of a request.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from bench.http import (
    CONNECTIONS,
    MESSAGES,
    QUICK,
    WRITE_SESSIONS,
    BenchError,
    Plan,
    _interleaved,
    _median,
    _ms,
    _samples,
    fetch,
    free_port,
    orion_command,
    post_script,
    prepare_data,
    row,
    run_wrk,
    serve_command,
    server,
)

SESSIONS = WRITE_SESSIONS + 1  # the one read and the ones written: no more to start
# The effect measured is a few percent: more, shorter rounds than bench.http's full run, so drift
# on a shared machine averages out over more turns (the median of 5).
FULL = Plan(seconds=4, rounds=5, warmup=2, reference=False)


def add_admin(data_dir: Path) -> str:
    """The first admin of `data_dir`, made offline as an operator would; their key."""
    done = subprocess.run(
        orion_command("users", "add", "bench", "--admin", "--data-dir", str(data_dir)),
        capture_output=True,
        text=True,
        check=False,
    )
    key = re.search(r"key, shown this once: (orion_\S+)", done.stdout)
    if done.returncode != 0 or key is None:
        raise BenchError(f"users add failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return key[1]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Both scenarios, with users and without, side by side; the rows of the results table."""
    plan = QUICK if quick else FULL
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (make bench installs it: apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="orion-bench-users-") as tmp:
        work = Path(tmp)
        data = prepare_data(work / "open", SESSIONS, MESSAGES)
        shutil.copytree(work / "open", work / "users")
        key = add_admin(work / "users")
        auth = {"Authorization": f"Bearer {key}"}
        header = [f"Authorization: Bearer {key}"]
        scripts = {
            "users": post_script(work, data.write_ids, headers=auth, name="post_users.lua"),
            "open": post_script(work, data.write_ids, name="post_open.lua"),
        }
        ports = {"users": free_port(), "open": free_port()}
        with (
            server(
                serve_command(work / "users", ports["users"]),
                ports["users"],
                "/api/health",
                work / "users.log",
            ) as users,
            server(
                serve_command(work / "open", ports["open"]),
                ports["open"],
                "/api/health",
                work / "open.log",
            ) as open_,
        ):
            get_path = f"/api/sessions/{data.read_id}"
            post_path = "/api/sessions/x/messages"  # the Lua script sets each request's path
            bodies = fetch(users + get_path, auth), fetch(open_ + get_path)
            for body in bodies:
                if orjson.loads(body)["message_count"] != MESSAGES:
                    raise BenchError(f"the session read has no {MESSAGES} messages: {body[:200]!r}")
            try:
                fetch(users + get_path)
            except OSError as exc:  # urllib's HTTPError: 401 without the key, as it should
                if getattr(exc, "code", None) != 401:
                    raise
            else:
                raise BenchError("the service with users answered a GET without a key")
            for base, script, headers in (
                (users, scripts["users"], header),
                (open_, scripts["open"], []),
            ):  # warm up both: each has its first reads and writes to make
                run_wrk(base + get_path, plan.warmup, headers=headers)
                run_wrk(base + post_path, plan.warmup, script)
            extra = {"seconds": plan.seconds, "rounds": plan.rounds, "connections": CONNECTIONS}

            def side_by_side(what: str, name: str, path: str, post: bool) -> dict[str, Any]:
                print(f"users: {what}", file=sys.stderr, flush=True)
                withs, withouts = _interleaved(
                    plan.rounds,
                    lambda: run_wrk(
                        users + path,
                        plan.seconds,
                        scripts["users"] if post else None,
                        [] if post else header,
                    ),
                    lambda: run_wrk(open_ + path, plan.seconds, scripts["open"] if post else None),
                )
                paired = _median([a.rps / b.rps for a, b in zip(withs, withouts, strict=True)])
                note = (
                    f"rounds' ratios, median {paired:.2f}; p99 {_ms(withs)} vs {_ms(withouts)} ms"
                )
                if not post:
                    note = f"body {len(bodies[0])} vs {len(bodies[1])} bytes; {note}"
                return row(
                    name,
                    _median([r.rps for r in withs]),
                    _median([r.rps for r in withouts]),
                    "req/s",
                    0.95,
                    ">=",
                    note=f"with users / without; {note}",
                    samples=_samples(withs, withouts),
                    part="users",
                    **extra,
                )

            return [
                side_by_side(
                    "(1) GET one session, with users / without",
                    f"GET /api/sessions/{{id}} with a key / no users, {MESSAGES} messages",
                    get_path,
                    False,
                ),
                side_by_side(
                    "(2) durable POST, with users / without",
                    f"POST message, durable, with a key / no users, {WRITE_SESSIONS} sessions",
                    post_path,
                    True,
                ),
            ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, one round")
    args = parser.parse_args()
    for r in run(args.quick):
        print(
            f"{r['name']:<72} {r['real']:>10,.1f} {r['bare']:>10,.1f} {r['unit']:<6} "
            f"{r['ratio']:>6.2f} {r['note']}"
        )
        rounds = zip(r["samples"]["real"], r["samples"]["bare"], strict=True)
        print(
            "  rounds (with / without):",
            ", ".join(f"{a['rps']:,.0f}/{b['rps']:,.0f}" for a, b in rounds),
        )


if __name__ == "__main__":
    main()
