"""The operator log (operations.jsonl) is a log like the others: verified, backed up, restored."""

from __future__ import annotations

from pathlib import Path

from orion_events.ops.backup import backup, restore
from orion_events.ops.purge import purge
from orion_events.ops.verify import verify_dir
from tests.orion_events.support import open_store


async def _purged_data_dir(data_dir: Path) -> str:
    store = await open_store(data_dir)
    try:
        doomed = await store.create_session(title="private")
        await store.create_session(title="kept")
    finally:
        await store.close()
    await purge(data_dir, doomed.id, by="auditor", reason="erasure request")
    return doomed.id


async def test_verify_checks_the_operator_log_and_names_damage_in_it(data_dir: Path) -> None:
    await _purged_data_dir(data_dir)
    operations = data_dir / "operations.jsonl"
    reports = {r.path: r for r in verify_dir(data_dir)}
    assert reports[operations].ok
    assert reports[operations].events == 1

    data = bytearray(operations.read_bytes())
    data[data.index(b"auditor")] ^= 0x01
    operations.write_bytes(bytes(data))
    damaged = {r.path: r for r in verify_dir(data_dir)}[operations]
    assert damaged.damage is not None
    assert (damaged.damage.line, damaged.damage.kind) == (1, "checksum_mismatch")


async def test_backup_and_restore_carry_the_operator_log(data_dir: Path, tmp_path: Path) -> None:
    await _purged_data_dir(data_dir)
    copy = tmp_path / "backup"
    backup(data_dir, copy)
    assert (copy / "operations.jsonl").read_bytes() == (data_dir / "operations.jsonl").read_bytes()

    target = tmp_path / "restored"
    (target / "sessions").mkdir(parents=True)
    (target / "operations.jsonl").write_bytes(b"")  # an older operator log to be moved aside
    aside = restore(copy, target)
    assert aside is not None
    assert (aside / "operations.jsonl").read_bytes() == b""
    assert (target / "operations.jsonl").read_bytes() == (copy / "operations.jsonl").read_bytes()
