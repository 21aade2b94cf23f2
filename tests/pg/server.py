"""A throwaway PostgreSQL server from the Debian binaries, in a temp dir of its own.

The tests' `pg_server` fixture and the benchmark's replica part start it the same way. The
server refuses to run as root, so as root it runs as the system user `orion-pg` (created when
missing) through runuser.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from attrs import frozen

PG_USER = "orion-pg"  # the OS user the server runs as when the tests run as root
ROLE = "orion"  # the database superuser initdb creates
DATABASE = "orion_test"
BASE_PREFIX = "orion-pg-"  # the temp dirs the test servers live in
T = TypeVar("T")


def initdb_path() -> Path | None:
    """The newest installed initdb, preferring the version the project targets (15)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    preferred = [p for p in found if _major(p) == 15]
    chosen = preferred or found[-1:]
    return Path(chosen[0]) if chosen else None


def _major(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user() -> list[str]:
    """The prefix that runs a server binary as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    if subprocess.run(["id", "-u", PG_USER], capture_output=True, check=False).returncode:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
            capture_output=True,
        )
    return ["runuser", "-u", PG_USER, "--"]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to the end on a loop of its own in another thread, so no event loop of the
    test's (set up by pytest-asyncio in this thread) is touched."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _stop_orphans(bin_dir: Path, prefix: list[str]) -> None:
    """Stop the servers of earlier test runs that were killed before their teardown."""
    for base in Path(tempfile.gettempdir()).glob(f"{BASE_PREFIX}*"):
        try:
            owner = int((base / "owner.pid").read_text())
            os.kill(owner, 0)
            continue  # that run is still going
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue  # not ours to judge
        if (base / "data" / "postmaster.pid").exists():
            subprocess.run(
                [
                    *prefix,
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(base / "data"),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                check=False,
                timeout=60,
            )
        shutil.rmtree(base, ignore_errors=True)


@frozen
class PgServer:
    host: str
    port: int

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{ROLE}@{self.host}:{self.port}/{database}"


class NoPostgres(RuntimeError):
    """No server binaries are installed."""


class PostgresFailed(RuntimeError):
    """The server could not be made or started."""


@contextlib.contextmanager
def throwaway_server(max_connections: int = 200) -> Iterator[PgServer]:
    """A fresh server with an empty database `DATABASE`, stopped and removed on exit."""
    initdb = initdb_path()
    if initdb is None:
        raise NoPostgres(
            "no PostgreSQL server binaries at /usr/lib/postgresql/*/bin "
            "(install the Debian package postgresql; make test does)"
        )
    bin_dir = initdb.parent
    prefix = _as_server_user()
    _stop_orphans(bin_dir, prefix)
    # Under /tmp rather than pytest's per-user dir, which the server's user cannot enter.
    base = Path(tempfile.mkdtemp(prefix=BASE_PREFIX))
    (base / "owner.pid").write_text(str(os.getpid()))
    if prefix:
        shutil.chown(base, user=PG_USER)
    data = base / "data"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, check=False, timeout=60
        )

    try:
        made = run(
            str(initdb),
            "-D",
            str(data),
            "--auth=trust",
            f"--username={ROLE}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # the test cluster's files; the server itself runs with fsync on
        )
        if made.returncode:
            raise PostgresFailed(f"initdb failed:\n{made.stdout}\n{made.stderr}")
        port = 0
        for _ in range(3):  # a free port can be taken between the check and the bind
            port = free_port()
            options = (
                f"-k {base} -p {port} -c listen_addresses=127.0.0.1 -c fsync=on "
                f"-c max_connections={max_connections}"
            )
            started = run(
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(base / "server.log"),
                "-w",
                "-t",
                "30",
                "-o",
                options,
                "start",
            )
            if started.returncode == 0:
                break
        else:
            log = (base / "server.log").read_text(errors="replace")
            raise PostgresFailed(f"PostgreSQL did not start:\n{started.stderr}\n{log}")
        server = PgServer("127.0.0.1", port)
        run_async(_create_database(server))
        yield server
    finally:
        if (data / "postmaster.pid").exists():
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


async def _create_database(server: PgServer) -> None:
    conn = await asyncpg.connect(server.url("postgres"))
    try:
        await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()
