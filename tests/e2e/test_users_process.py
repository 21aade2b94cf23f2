"""`orion-events users add` against the real process (SPEC §9): the first admin made while the
service is stopped and while it runs (through the users inbox), seen at once, and the key in
no file of the data dir nor in the service's own log."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.conftest import ServerFactory, run_cli

pytestmark = pytest.mark.e2e

TIMEOUT = aiohttp.ClientTimeout(total=15)


def made_key(output: str) -> str:
    found = re.search(r"key, shown this once: (orion_[A-Za-z0-9_-]{43})\n", output)
    assert found is not None, output
    return found.group(1)


async def me(url: str, key: str | None) -> int:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as http,
        http.get(f"{url}/api/me", headers=headers) as answer,
    ):
        return answer.status


async def test_users_add_works_with_the_service_stopped_and_running(
    serve_process: ServerFactory, e2e_data_dir: Path
) -> None:
    made = run_cli("users", "add", "root", "--admin", "--data-dir", str(e2e_data_dir))
    assert made.returncode == 0, made.stderr
    root = made_key(made.stdout)
    server = await serve_process().astart()
    assert await me(server.url, root) == 200
    assert await me(server.url, None) == 401

    # running: handed over through the inbox, and the service has it before the command ends
    running = run_cli("users", "add", "alice", "--data-dir", str(e2e_data_dir))
    assert running.returncode == 0, running.stderr
    assert "the running service has it" in running.stdout
    alice = made_key(running.stdout)
    assert await me(server.url, alice) == 200
    # the name is taken: the service says so through the inbox, nothing is written
    again = run_cli("users", "add", "ALICE", "--data-dir", str(e2e_data_dir))
    assert again.returncode == 2
    assert "exists" in again.stderr
    listed = run_cli("users", "list", "--data-dir", str(e2e_data_dir))
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[2] for line in listed.stdout.splitlines()] == ["root", "alice"]

    assert await server.exit_code_after(signal.SIGTERM) == 0
    files = [p for p in e2e_data_dir.rglob("*") if p.is_file()]  # noqa: ASYNC240 (stopped)
    everything = b"".join(p.read_bytes() for p in files)
    service_log = server.stderr().encode()
    for key in (root, alice):
        assert key[14:].encode() not in everything
        assert key[14:].encode() not in service_log
    assert not list((e2e_data_dir / "users.inbox").glob("*.request"))
