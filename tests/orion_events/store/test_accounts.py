"""The users log in the store: a line the fold refuses leaves the users as they stood before it,
served, and the log read-only (SPEC §9; as the settings log is)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from orion_events.domain.errors import SessionReadOnly
from orion_events.domain.events import KeyRevoked, Recorded
from orion_events.storage import codec
from orion_events.storage.files.log import FileLog
from orion_events.store.store import Store


async def test_a_users_log_damaged_past_its_first_lines_is_served_up_to_them_read_only(
    data_dir: Path,
) -> None:
    store = Store(FileLog(data_dir))
    await store.open()
    root = await store.accounts.create_user("root", "admin")
    await store.close()
    path = data_dir / "users.jsonl"
    lines = path.read_bytes().splitlines()
    last = orjson.loads(lines[-1])
    # well formed and chained, but revoking a key that was never issued
    bad = Recorded("users", last["seq"] + 1, "e", last["at"], KeyRevoked("no-such-key"), 99)
    line, _ = codec.encode(bad, last["hash"])
    path.write_bytes(path.read_bytes() + line)

    store = Store(FileLog(data_dir))
    await store.open()
    try:
        assert "users" in store.health()["read_only_sessions"]
        assert store.accounts.user_of(root.key) is not None  # served as it stood
        with pytest.raises(SessionReadOnly):
            await store.accounts.create_user("alice", "user")
    finally:
        await store.close()
