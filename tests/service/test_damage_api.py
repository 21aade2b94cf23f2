"""SPEC §5 Recovery and Faults over HTTP: a damaged log, a full disk and a failed fsync.

A damaged session is served read-only (409 on writes, health `degraded`); a disk that fails a
write or an fsync answers 503. The faults are real OSErrors raised by a PosixIO subclass the
real app is built on (`create_app(log_io=...)`), so the files and every other system call are
real, and each test reads the log files back byte for byte.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from service.app import create_app
from service.config import Config
from tests.conftest import ClientFactory
from tests.orion_events.support import FaultyIO
from tests.service.expect import JSON, check_error_shape, log_file

# Every write a session takes: method, path (under the session), body.
SESSION_WRITES = [
    ("POST", "/messages", {"role": "user", "content": "refused"}),
    ("PUT", "", {"title": "refused"}),
    ("DELETE", "/messages", None),
    ("DELETE", "", None),
]
WRITE_IDS = [f"{method} {{id}}{path}" for method, path, _ in SESSION_WRITES]


@pytest.fixture
def disk() -> FaultyIO:
    """Faults that write half a failing write first, as a disk filling up midway does."""
    disk = FaultyIO()
    disk.partial = True
    return disk


@pytest.fixture
async def faulty_client(aiohttp_client: Any, data_dir: Path, disk: FaultyIO) -> Any:
    """The real app on `data_dir`, its log's write and fsync going through `disk`."""
    return await aiohttp_client(create_app(Config(data_dir=data_dir), log_io=disk))


# -- helpers ----------------------------------------------------------------------------------


async def create(client: Any, title: str) -> str:
    response = await client.post("/api/sessions", json={"title": title})
    assert response.status == 201, await response.text()
    return str((await response.json())["id"])


async def add(client: Any, session_id: str, content: str) -> dict[str, Any]:
    response = await client.post(
        f"/api/sessions/{session_id}/messages", json={"role": "user", "content": content}
    )
    assert response.status == 201, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def add_raw(client: Any, session_id: str) -> Any:
    """A message append, whatever it is answered."""
    return await client.post(
        f"/api/sessions/{session_id}/messages", json={"role": "user", "content": "refused"}
    )


async def fetch(client: Any, session_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/sessions/{session_id}")
    assert response.status == 200, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def health(client: Any) -> dict[str, Any]:
    response = await client.get("/api/health")
    assert response.status == 200
    return await response.json()  # type: ignore[no-any-return]


async def refused(response: Any, status: int, code: str) -> None:
    """The documented error shape with `status` and `code`."""
    assert response.status == status, await response.text()
    assert response.content_type == JSON
    assert check_error_shape(await response.json())["code"] == code


async def write(client: Any, session_id: str, method: str, path: str, body: Any) -> Any:
    return await client.request(method, f"/api/sessions/{session_id}{path}", json=body)


def seqs(path: Path) -> list[int]:
    return [orjson.loads(line)["seq"] for line in path.read_bytes().splitlines()]


# -- a damaged log: read-only up to the damage ------------------------------------------------


def flip_a_byte(line: bytes, inside: bytes) -> bytes:
    """`line` with one byte of `inside` changed: still JSON, but no longer its own hash."""
    at = line.index(inside)
    return line[:at] + bytes([line[at] ^ 0x20]) + line[at + 1 :]


@pytest.mark.files_only
@pytest.mark.parametrize(("method", "path", "body"), SESSION_WRITES, ids=WRITE_IDS)
async def test_damaged_middle_line_serves_the_session_read_only_up_to_it(
    make_client: ClientFactory, data_dir: Path, method: str, path: str, body: Any
) -> None:
    client = await make_client()
    sid = await create(client, "damaged")
    up_to_the_damage = await fetch(client, sid)
    for content in ("first", "second", "third"):
        await add(client, sid, content)
    other = await create(client, "healthy")
    await add(client, other, "fine")
    await client.close()

    log = log_file(data_dir, sid)
    lines = log.read_bytes().splitlines(keepends=True)
    assert len(lines) == 4
    lines[1] = flip_a_byte(lines[1], b'"first"')
    damaged = b"".join(lines)
    log.write_bytes(damaged)

    client = await make_client(data_dir)
    assert await fetch(client, sid) == up_to_the_damage
    await refused(await write(client, sid, method, path, body), 409, "session_read_only")
    assert await fetch(client, sid) == up_to_the_damage
    assert log.read_bytes() == damaged

    report = await health(client)
    assert report["status"] == "degraded"
    assert report["read_only_sessions"] == [sid]
    assert set(report["problems"]) == {sid}

    # Nothing else is held back by one damaged log.
    assert (await add(client, other, "still fine"))["content"] == "still fine"
    renamed = await write(client, other, "PUT", "", {"title": "renamed"})
    assert renamed.status == 200
    newcomer = await create(client, "new")
    await add(client, newcomer, "hello")
    assert seqs(log_file(data_dir, other)) == [1, 2, 3, 4]
    assert log.read_bytes() == damaged


# -- a failing disk: 503 ------------------------------------------------------------------------


@pytest.mark.files_only
@pytest.mark.parametrize(("method", "path", "body"), SESSION_WRITES, ids=WRITE_IDS)
async def test_full_disk_is_503_leaves_no_partial_line_and_the_next_write_succeeds(
    faulty_client: TestClient[Any, Any],
    disk: FaultyIO,
    data_dir: Path,
    method: str,
    path: str,
    body: Any,
) -> None:
    client = faulty_client
    sid = await create(client, "full disk")
    await add(client, sid, "kept")
    log = log_file(data_dir, sid)
    before_bytes, before_view = log.read_bytes(), await fetch(client, sid)

    disk.write_errno = errno.ENOSPC
    await refused(await write(client, sid, method, path, body), 503, "storage_unavailable")
    assert disk.raised == [("write", log.resolve())]
    assert log.read_bytes() == before_bytes  # the half-written line was cut back
    assert await fetch(client, sid) == before_view

    disk.write_errno = None
    added = await add(client, sid, "after the fault")
    assert seqs(log) == [1, 2, 3]
    assert log.read_bytes().startswith(before_bytes)
    assert (await fetch(client, sid))["messages"][-1] == added
    assert (await health(client))["status"] == "ok"


@pytest.mark.files_only
@pytest.mark.parametrize(("method", "path", "body"), SESSION_WRITES, ids=WRITE_IDS)
async def test_failed_fsync_is_503_and_that_session_refuses_writes_until_restart(
    faulty_client: TestClient[Any, Any],
    make_client: ClientFactory,
    disk: FaultyIO,
    data_dir: Path,
    method: str,
    path: str,
    body: Any,
) -> None:
    client = faulty_client
    victim, other = await create(client, "victim"), await create(client, "other")
    await add(client, victim, "kept")
    await add(client, other, "kept")
    log = log_file(data_dir, victim)
    before_bytes, before_view = log.read_bytes(), await fetch(client, victim)

    disk.fsync_errno, disk.only = errno.EIO, {log.resolve()}
    await refused(await add_raw(client, victim), 503, "storage_unavailable")
    assert disk.raised == [("fsync", log.resolve())]

    # The disk is fine again, but that file's page cache cannot be trusted: every write to it is
    # refused, without touching the disk, until a restart re-reads the log.
    disk.fsync_errno = None
    await refused(await write(client, victim, method, path, body), 503, "storage_unavailable")
    await refused(await add_raw(client, victim), 503, "storage_unavailable")
    assert len(disk.raised) == 1
    assert log.read_bytes() == before_bytes
    assert await fetch(client, victim) == before_view

    await add(client, other, "other still writes")
    newcomer = await create(client, "created after the fault")
    assert seqs(log_file(data_dir, other)) == [1, 2, 3]
    report = await health(client)
    assert report["status"] == "degraded"
    assert report["read_only_sessions"] == [victim]
    await client.close()

    client = await make_client(data_dir)
    assert await fetch(client, victim) == before_view
    await add(client, victim, "after the restart")
    assert seqs(log) == [1, 2, 3]
    assert (await fetch(client, newcomer))["title"] == "created after the fault"
    assert (await health(client))["status"] == "ok"
