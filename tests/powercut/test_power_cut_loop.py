"""The power-cut loop: the real `orion-events serve` on the forgetful disk, killed with kill -9
and then cut off at a random moment, again and again (SPEC §5 Durability, §6).

Each cycle writes messages (some with Idempotency-Keys), new sessions and settings changes at
once, kills the server while requests are in flight and drops everything the disk was not
told to keep; the restarted server must serve every acknowledged session, message, settings
change and key exactly once and in order, and `verify` must pass. Some cycles cut right after
what the server does at start (recovery), right after an `orion-events backup` under load, or
right after an offline `purge`.

CI runs CYCLES cycles; `make soak` runs hundreds (ORION_POWERCUT_CYCLES) and prints the figures.
The seed is printed every run; ORION_POWERCUT_SEED repeats one.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from orion_events.ops.verify import verify_dir
from tests.e2e.conftest import Server, run_cli
from tests.powercut.disk import PowerCutDisk
from tests.powercut.workload import Workload

pytestmark = pytest.mark.e2e

CYCLES = int(os.environ.get("ORION_POWERCUT_CYCLES", "12"))
SESSIONS = 6


@pytest.fixture
def server(power_cut_disk: PowerCutDisk, tmp_path: Path) -> Iterator[Server]:
    logs = tmp_path / "logs"
    logs.mkdir()
    made = Server(power_cut_disk.mountpoint / "var", logs, "script")
    made.start_timeout = 120.0  # a long soak's start replays thousands of logs through FUSE
    try:
        yield made
    finally:
        made.reap()


async def create_sessions(base: str, count: int) -> list[str]:
    async with aiohttp.ClientSession(base) as http:
        ids = []
        for i in range(count):
            async with http.post("/api/sessions", json={"title": f"long-lived {i}"}) as answer:
                assert answer.status == 201
                ids.append(orjson.loads(await answer.read())["id"])
    return ids


def kill_and_cut(server: Server, disk: PowerCutDisk) -> dict[str, int]:
    """A power cut: the process dies with the machine, and what was not synced is gone."""
    if server.running():
        server.kill()
    return disk.cut()


def assert_verifies(data_dir: Path, seed: int, cycle: int) -> None:
    result = run_cli("verify", "--data-dir", str(data_dir), "--json")
    assert result.returncode == 0, f"seed {seed}, cycle {cycle}: {result.stdout}{result.stderr}"


async def test_power_cuts_at_random_moments_lose_nothing_acknowledged(
    server: Server, power_cut_disk: PowerCutDisk
) -> None:
    seed = int(os.environ.get("ORION_POWERCUT_SEED", random.randrange(1 << 30)))
    print(f"\npower-cut loop: seed {seed} (ORION_POWERCUT_SEED={seed} repeats it)")
    rng = random.Random(seed)
    data_dir = server.data_dir
    await server.astart()
    workload = Workload(await create_sessions(server.url, SESSIONS))
    figures = {"cycles": 0, "dropped_bytes": 0, "after_recovery": 0, "after_backup": 0}
    figures |= {"after_purge": 0, "replays": 0}
    stored = 0

    for cycle in range(CYCLES):
        kind = rng.choice(["plain", "plain", "recovery", "backup", "purge"])
        writes = await workload.run(server.url, until_acks=rng.randrange(1, 200))
        await asyncio.sleep(rng.uniform(0.0, 0.05))
        if kind == "backup":
            # A backup under load, answered, then the cut: the copy must hold all it said.
            dest = power_cut_disk.mountpoint / f"b{cycle}"
            backup = await asyncio.to_thread(
                run_cli, "backup", str(dest), "--data-dir", str(data_dir)
            )
            assert backup.returncode == 0, backup.stderr
        figures["dropped_bytes"] += kill_and_cut(server, power_cut_disk)["dropped_bytes"]
        await writes  # every writer ends once the server is gone
        assert not workload.bad, f"seed {seed}, cycle {cycle}: {workload.bad}"

        if kind == "backup":
            copy = power_cut_disk.mountpoint / f"b{cycle}"
            assert all(r.ok for r in verify_dir(copy)), f"seed {seed}: backup {copy} lost data"
            shutil.rmtree(copy)  # the disk is memory: hundreds of cycles would fill it
            figures["after_backup"] += 1
        if kind == "purge":
            # Offline, as the CLI wants it: answered, then the cut.
            # One of the sessions made along the way: the long-lived ones keep the writers busy.
            victim = next(s for s in workload.created if s not in workload.purged)
            purged = await asyncio.to_thread(
                run_cli, "purge", victim, "--yes", "--by", "loop", "--data-dir", str(data_dir)
            )
            assert purged.returncode == 0, purged.stderr
            power_cut_disk.cut()
            workload.purged.add(victim)
            figures["after_purge"] += 1

        await server.astart()
        if kind == "recovery":
            # Cut again the moment the start-up's own writes (cut tails, quarantine) are done.
            kill_and_cut(server, power_cut_disk)
            await server.astart()
            figures["after_recovery"] += 1
        try:
            seen = await workload.check(server.url, data_dir, everything=cycle == CYCLES - 1)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, cycle {cycle} ({kind}): {exc}") from exc
        for purged_id in workload.purged:
            async with (
                aiohttp.ClientSession(server.url) as http,
                http.get(f"/api/sessions/{purged_id}") as answer,
            ):
                assert answer.status == 404
        stored = seen["stored"]
        figures["replays"] += seen["replays"]
        figures["cycles"] += 1
        health = await asyncio.to_thread(_health, server)
        assert health["status"] == "ok", f"seed {seed}, cycle {cycle}: {health}"

    assert server.stop() == 0
    assert_verifies(data_dir, seed, CYCLES)
    print(
        f"power-cut loop (seed {seed}): {figures['cycles']} cycles, "
        f"{len(workload.acks)} messages acknowledged, {stored} stored, lost 0, duplicated 0, "
        f"out of order 0; {len(workload.created)} sessions created and all there; "
        f"{len(workload.settings)} settings changes acknowledged, lost 0; "
        f"{figures['replays']} idempotent retries answered the original; "
        f"cuts right after a recovery {figures['after_recovery']}, a backup "
        f"{figures['after_backup']}, a purge {figures['after_purge']}; "
        f"{figures['dropped_bytes']} unsynced bytes dropped by the cuts"
    )


def _health(server: Server) -> dict[str, object]:
    with urllib.request.urlopen(f"{server.url}/api/health", timeout=10) as answer:
        health: dict[str, object] = orjson.loads(answer.read())
    return health
