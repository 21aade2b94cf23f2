"""Faults from the real kernel interface: the real `serve` under libfiu's POSIX preload.

SPEC §5 Faults: a failed write or fsync (ENOSPC, EIO) answers 503, leaves no partial line behind
and is never retried-then-acknowledged; after a failed sync that log is read-only until restart.
§12: a write that fails leaves no file behind and no phantom session in health.

`fiu-run -x` preloads libfiu's wrappers of write(2), fsync(2) and fdatasync(2), which Python's
os.write, os.fsync and os.fdatasync call; `fiu-ctrl` switches a failure point on just before one
request and off once it is answered. The process's sockets go through send(2), not write(2), and
the service logs nothing on a successful append, so only the log's own calls meet the fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_process import CLIENT_TIMEOUT, assert_verify_ok, call, ok

pytestmark = pytest.mark.e2e

FIU_RUN = shutil.which("fiu-run")
FIU_CTRL = shutil.which("fiu-ctrl")
CTRL_TIMEOUT = 10.0
SYNC_POINTS = {"fsync": "posix/io/sync/fsync", "fdatasync": "posix/io/sync/fdatasync"}
WRITE_POINT = "posix/io/rw/write"
# Each write(2) asks the kernel for a random part (at least one byte) of what it was given. libfiu
# 1.1 divides by the count, so a zero-length write(2) in the window would die of SIGFPE.
SHORT_WRITE_POINT = "posix/io/rw/write/reduce"

Request = Callable[[], Awaitable[tuple[int, Any]]]


class FiuServer(Server):
    """A Server whose process runs under `fiu-run -x`, its failure points driven by fiu-ctrl."""

    def __init__(self, data_dir: Path, logs: Path) -> None:
        super().__init__(data_dir, logs, "script")
        self.fifo_prefix = logs / "fiu"  # fiu-run makes <prefix>-<pid>.in and .out
        self.under_fiu = True  # False: restart with no preload at all

    def spawn(self) -> subprocess.Popen[bytes]:
        assert FIU_RUN is not None
        self.prefix = (FIU_RUN, "-x", "-f", str(self.fifo_prefix)) if self.under_fiu else ()
        return super().spawn()

    async def start_with_faults(self) -> FiuServer:
        self.under_fiu = True
        await self.astart()
        self.assert_preloaded()
        return self

    def assert_preloaded(self) -> None:
        # A missing preload library only makes ld.so complain: every fault would silently not
        # happen, and the tests would blame the service for it.
        assert self.proc is not None
        maps = Path(f"/proc/{self.proc.pid}/maps").read_text()
        assert "fiu_posix_preload" in maps, f"no libfiu POSIX preload:\n{self.stderr()}"

    def ctrl(self, *commands: str) -> None:
        """Run fiu-ctrl against the process; each command is applied when this returns."""
        assert FIU_CTRL is not None
        assert self.proc is not None
        args = [FIU_CTRL, "-f", str(self.fifo_prefix)]
        for cmd in commands:
            args += ["-c", cmd]
        args.append(str(self.proc.pid))
        # Its own group: a fiu-ctrl stuck on a FIFO is killed with the `cat` it waits in.
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            out, _ = proc.communicate(timeout=CTRL_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"fiu-ctrl {commands} hung:\n{self.stderr()}")
        # fiu-ctrl exits 0 even when a command fails; it says so on stdout instead.
        assert proc.returncode == 0, out
        assert not out.strip(), f"fiu-ctrl {commands}: {out.decode(errors='replace')}"


@pytest.fixture
def fiu_server(tmp_path: Path, e2e_data_dir: Path) -> Iterator[FiuServer]:
    """One not yet started FiuServer on the test's data dir, killed and reaped at teardown."""
    if FIU_RUN is None or FIU_CTRL is None:
        pytest.fail(
            "fiu-run/fiu-ctrl not found: these tests need Debian's fiu-utils (libfiu). "
            "`make test` installs it; by hand: sudo apt-get install fiu-utils"
        )
    logs = tmp_path / "fiu-logs"
    logs.mkdir()
    server = FiuServer(e2e_data_dir, logs)
    try:
        yield server
    finally:
        server.reap()


@contextlib.asynccontextmanager
async def fault(
    server: FiuServer, point: str, err: int = 0, *, onetime: bool = True
) -> AsyncIterator[None]:
    """`point` fails (errno `err`) from entry until exit; by default only its first call.

    Failing once is what makes a retry-then-acknowledge visible: the retry would succeed. The
    errno travels as failinfo; without one libfiu draws it at random from the call's list.
    """
    spec = f"enable name={point}" + (f",failinfo={err}" if err else "")
    await asyncio.to_thread(server.ctrl, spec + (",onetime" if onetime else ""))
    try:
        yield
    finally:
        await asyncio.to_thread(server.ctrl, f"disable name={point}")


@contextlib.contextmanager
def file_size_limit(pid: int, limit: int) -> Iterator[None]:
    """The process may not grow a file past `limit` bytes (RLIMIT_FSIZE, set from outside).

    Then the kernel itself writes what fits, short, and fails the next write(2) with EFBIG
    (Python ignores the SIGXFSZ that comes with it). Only the soft limit moves: an unprivileged
    process cannot raise a hard limit back.
    """
    old = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, old[1]))
    try:
        yield
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, old)


# -- requests and checks -----------------------------------------------------------------------


async def create(http: aiohttp.ClientSession, server: Server) -> str:
    created = await ok(http, "POST", f"{server.url}/api/sessions", {"title": "faults"})
    return str(created["id"])


async def post(
    http: aiohttp.ClientSession, server: Server, session_id: str, content: str
) -> tuple[int, Any]:
    url = f"{server.url}/api/sessions/{session_id}/messages"
    return await call(http, "POST", url, {"role": "user", "content": content})


async def post_ok(
    http: aiohttp.ClientSession, server: Server, acked: dict[str, list[str]], sid: str, text: str
) -> None:
    status, payload = await post(http, server, sid, text)
    assert status == 201, (status, payload)
    acked[sid].append(text)


def assert_unavailable(status: int, payload: Any) -> None:
    """503 in the JSON error shape: {"error": {"code": ..., "message": ...}}."""
    assert status == 503, f"expected 503, got {status}: {payload}"
    assert isinstance(payload, dict), payload
    assert set(payload) == {"error"}, payload
    error = payload["error"]
    assert isinstance(error.get("code"), str), payload
    assert error["code"], payload
    assert isinstance(error.get("message"), str), payload
    assert error["message"], payload


def assert_log_holds(data_dir: Path, session_id: str, contents: list[str]) -> None:
    """The log's bytes on disk are whole lines whose messages are exactly `contents`, in order."""
    raw = (data_dir / "sessions" / f"{session_id}.jsonl").read_bytes()
    assert raw.endswith(b"\n"), f"a partial line ends the log: {raw[-200:]!r}"
    events = [orjson.loads(line) for line in raw.split(b"\n")[:-1]]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    added = [e["data"]["content"] for e in events if e["type"] == "message_added"]
    assert added == contents, "the log on disk holds other messages than were acknowledged"


async def while_a_sync_fails(server: FiuServer, first: str, request: Request) -> list[Any]:
    """Send `request` while `first` (fsync or fdatasync) fails once with EIO, and expect a 503.

    A service may make its logs durable with either call (SPEC §5), so a 201 here only means it
    does not use `first` for this write: then the other call must be the one, and failing it
    must answer 503. Returns the payloads acknowledged on the way.
    """
    acked: list[Any] = []
    for name in (first, *(n for n in SYNC_POINTS if n != first)):
        async with fault(server, SYNC_POINTS[name], errno.EIO):
            status, payload = await request()
        if status != 201:
            assert_unavailable(status, payload)
            return acked
        acked.append(payload)
    pytest.fail(f"acknowledged while fsync failed and again while fdatasync failed: {acked}")


async def restart_and_check(
    server: FiuServer, data_dir: Path, acked: dict[str, list[str]], stop: signal.Signals
) -> None:
    """After `stop` and a start without faults every session holds exactly its acknowledged
    messages, in order, takes writes again, health is ok, and verify passes."""
    expected = -signal.SIGKILL if stop == signal.SIGKILL else 0
    assert await server.exit_code_after(stop) == expected, server.stderr()
    server.under_fiu = False
    await server.astart()
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        listed = await ok(http, "GET", f"{server.url}/api/sessions")
        assert {s["id"] for s in listed} == set(acked)
        for sid, contents in acked.items():
            view = await ok(http, "GET", f"{server.url}/api/sessions/{sid}")
            assert [m["content"] for m in view["messages"]] == contents, sid
            await post_ok(http, server, acked, sid, "after the restart")
        health = await ok(http, "GET", f"{server.url}/api/health")
        events = sum(s["version"] for s in await ok(http, "GET", f"{server.url}/api/sessions"))
    assert health["status"] == "ok", health
    assert health["read_only_sessions"] == [], health
    assert await server.exit_code_after(signal.SIGTERM) == 0, server.stderr()
    for sid, contents in acked.items():
        assert_log_holds(data_dir, sid, contents)
    assert_verify_ok(data_dir, events)


# -- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "stop"),
    [("fsync", signal.SIGTERM), ("fdatasync", signal.SIGKILL)],
    ids=["fsync-then-sigterm", "fdatasync-then-kill-9"],
)
async def test_failed_sync_answers_503_and_turns_that_log_read_only_until_restart(
    fiu_server: FiuServer, e2e_data_dir: Path, first: str, stop: signal.Signals
) -> None:
    server = await fiu_server.start_with_faults()
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        target, other = await create(http, server), await create(http, server)
        acked: dict[str, list[str]] = {target: [], other: []}
        for i in range(3):
            await post_ok(http, server, acked, target, f"before {i}")
        attempts = iter(range(2))

        async def doomed() -> tuple[int, Any]:
            return await post(http, server, target, f"doomed {next(attempts)}")

        late = await while_a_sync_fails(server, first, doomed)
        acked[target] += [m["content"] for m in late]
        assert_log_holds(e2e_data_dir, target, acked[target])

        # The fault is off again: what follows is the service's own doing.
        status, payload = await post(http, server, target, "after the failed sync")
        assert_unavailable(status, payload)
        assert_log_holds(e2e_data_dir, target, acked[target])
        await post_ok(http, server, acked, other, "another session still writes")
        view = await ok(http, "GET", f"{server.url}/api/sessions/{target}")
        assert [m["content"] for m in view["messages"]] == acked[target]
        health = await ok(http, "GET", f"{server.url}/api/health")
        assert health["status"] == "degraded", health
        assert health["read_only_sessions"] == [target], health
        reason = health["problems"][target]
        assert "EIO" in reason or "Input/output" in reason, health
    await restart_and_check(server, e2e_data_dir, acked, stop)


async def test_failed_write_enospc_answers_503_and_leaves_no_partial_line(
    fiu_server: FiuServer, e2e_data_dir: Path
) -> None:
    server = await fiu_server.start_with_faults()
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        target, other = await create(http, server), await create(http, server)
        acked: dict[str, list[str]] = {target: [], other: []}
        for i in range(2):
            await post_ok(http, server, acked, target, f"before {i}")
        async with fault(server, WRITE_POINT, errno.ENOSPC):
            status, payload = await post(http, server, target, "doomed " * 100)
        assert_unavailable(status, payload)
        assert_log_holds(e2e_data_dir, target, acked[target])
        await post_ok(http, server, acked, other, "another session still writes")
        # SPEC §5 distrusts the page cache only after a failed sync: a log cut back after a failed
        # write may take writes again or refuse them; whichever it answers must hold.
        status, payload = await post(http, server, target, "after the failed write")
        if status == 201:
            acked[target].append("after the failed write")
        else:
            assert_unavailable(status, payload)
        assert_log_holds(e2e_data_dir, target, acked[target])
        view = await ok(http, "GET", f"{server.url}/api/sessions/{target}")
        assert [m["content"] for m in view["messages"]] == acked[target]
    await restart_and_check(server, e2e_data_dir, acked, signal.SIGKILL)


async def test_short_writes_are_finished_and_a_short_write_then_failure_is_cut_back(
    fiu_server: FiuServer, e2e_data_dir: Path
) -> None:
    server = await fiu_server.start_with_faults()
    assert server.proc is not None
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        target, other = await create(http, server), await create(http, server)
        acked: dict[str, list[str]] = {target: [], other: []}
        await post_ok(http, server, acked, target, "before")
        # Every write(2) short: one line takes a dozen calls, each of which must go on where
        # the last stopped. Long, so that no first call is whole by chance.
        long = "".join(f"{i:05d} " for i in range(4000))
        async with fault(server, SHORT_WRITE_POINT, onetime=False):
            await post_ok(http, server, acked, target, long)
        assert_log_holds(e2e_data_dir, target, acked[target])

        # libfiu cannot fail the second call of a write after a short first one (both points are
        # checked in the same call, and it has no "fail the n-th call"); the kernel can.
        log = e2e_data_dir / "sessions" / f"{target}.jsonl"
        with file_size_limit(server.proc.pid, log.stat().st_size + 16):
            status, payload = await post(http, server, target, "cut short " * 40)
        assert_unavailable(status, payload)
        assert_log_holds(e2e_data_dir, target, acked[target])
        await post_ok(http, server, acked, other, "another session still writes")
        status, payload = await post(http, server, target, "after the failed write")
        if status == 201:  # as after ENOSPC: taking writes again is allowed, not required
            acked[target].append("after the failed write")
        else:
            assert_unavailable(status, payload)
        assert_log_holds(e2e_data_dir, target, acked[target])
    await restart_and_check(server, e2e_data_dir, acked, signal.SIGTERM)


async def test_a_create_whose_sync_fails_leaves_no_file_and_no_phantom_session(
    fiu_server: FiuServer, e2e_data_dir: Path
) -> None:
    server = await fiu_server.start_with_faults()
    sessions_dir = e2e_data_dir / "sessions"
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as http:
        other = await create(http, server)
        acked: dict[str, list[str]] = {other: []}
        await post_ok(http, server, acked, other, "before")

        # Only fsync fails: whatever syncs the new log's bytes, its name is made durable by an
        # fsync of its directory (SPEC §5), so a create cannot be acknowledged without one.
        async with fault(server, SYNC_POINTS["fsync"], errno.EIO):
            status, payload = await call(
                http, "POST", f"{server.url}/api/sessions", {"title": "doomed"}
            )
        assert_unavailable(status, payload)
        assert os.listdir(sessions_dir) == [f"{other}.jsonl"], "a failed create left a file"
        listed = await ok(http, "GET", f"{server.url}/api/sessions")
        assert {s["id"] for s in listed} == set(acked)
        health = await ok(http, "GET", f"{server.url}/api/health")
        assert health["sessions"] == len(acked), health
        assert health["read_only_sessions"] == [], health
        await post_ok(http, server, acked, other, "another session still writes")
        acked[await create(http, server)] = []
    await restart_and_check(server, e2e_data_dir, acked, signal.SIGKILL)
