"""The service starts, serves, and says what it loaded."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClientFactory

LOADED = re.compile(
    r"loaded (\d+) sessions, (\d+) events from (.+) in (\d+\.\d{3}) s"
    r"( \(from a snapshot and the logs' tails\))?"
)


async def test_create_then_get(client) -> None:
    created = await client.post("/api/sessions", json={"title": "Hello!"})
    assert created.status == 201
    body = await created.json()
    fetched = await client.get(created.headers["Location"])
    assert fetched.status == 200
    assert await fetched.json() == body


def lines_in(data_dir: Path) -> int:
    """The events on disk: every line of every log."""
    return sum(len(p.read_bytes().splitlines()) for p in data_dir.rglob("*.jsonl"))


async def start_and_read_the_line(
    make_client: ClientFactory, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> tuple[Any, tuple[int, int, str, float, bool]]:
    """Start the app on `data_dir`; its one start-up line as (sessions, events, where, seconds,
    from a snapshot)."""
    caplog.clear()
    client = await make_client(data_dir)
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "service.app" and r.getMessage().startswith("loaded ")
    ]
    assert len(lines) == 1, lines
    match = LOADED.fullmatch(lines[0])
    assert match, lines[0]
    sessions, events, where, seconds, snapshot = match.groups()
    return client, (int(sessions), int(events), where, float(seconds), snapshot is not None)


@pytest.mark.files_only
async def test_start_up_line_counts_what_was_loaded(
    make_client: ClientFactory, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.app")
    client, (sessions, events, where, seconds, snapshot) = await start_and_read_the_line(
        make_client, data_dir, caplog
    )
    assert (sessions, events, where, snapshot) == (0, 0, str(data_dir), False)
    assert 0 <= seconds < 60

    ids = []
    for title in ("one", "two", "three"):
        response = await client.post("/api/sessions", json={"title": title})
        ids.append((await response.json())["id"])
    for n in range(5):
        response = await client.post(
            f"/api/sessions/{ids[n % 3]}/messages", json={"role": "user", "content": f"m{n}"}
        )
        assert response.status == 201
    assert (await client.delete(f"/api/sessions/{ids[2]}")).status == 204
    assert (await client.patch("/api/settings", json={"theme": "light"})).status == 200
    await client.close()
    written = lines_in(data_dir)
    assert written == 3 + 5 + 1 + 1

    # Closing wrote a snapshot: the restart starts from it and reads only the logs' tails.
    client, (sessions, events, where, seconds, snapshot) = await start_and_read_the_line(
        make_client, data_dir, caplog
    )
    assert (sessions, events, where, snapshot) == (2, written, str(data_dir), True)
    assert 0 <= seconds < 60
    await client.close()

    # Snapshots are derived and may go at any time: without one, every log is read, same counts.
    shutil.rmtree(data_dir / "snapshots")
    _, (sessions, events, where, seconds, snapshot) = await start_and_read_the_line(
        make_client, data_dir, caplog
    )
    assert (sessions, events, where, snapshot) == (2, written, str(data_dir), False)
    assert 0 <= seconds < 60
