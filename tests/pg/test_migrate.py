"""`orion-events migrate` between a data dir and PostgreSQL, and `verify --log`.

The round trip var -> PostgreSQL -> var serves byte-identical answers and gives byte-identical
log files; a copy resumes where it stopped and never overwrites a different history.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from orion_events.ops.copy import MigrationError, migrate
from orion_events.storage.files.log import FileLog
from orion_events.storage.postgres.log import PostgresLog
from orion_events.storage.postgres.verify import verify_database
from orion_events.store.store import Store
from service.app import create_app
from service.cli import main
from service.config import Config
from tests.powercut.disk import PowerCutDisk
from tests.powercut.support import sync_dir, write

JSON = {"Content-Type": "application/json"}


async def populate(client: Any) -> list[str]:
    """Every kind of event, through the API; the ids of the sessions made."""

    async def call(method: str, path: str, body: Any = None, **headers: str) -> Any:
        response = await client.request(method, path, json=body, headers={**JSON, **headers})
        assert response.status < 300, await response.text()
        return None if response.status == 204 else await response.json()

    ids = []
    for i in range(4):
        created = await call(
            "POST",
            "/api/sessions",
            {"title": f"chat {i} \u00e9", "metadata": {"z": "1", "a": "2"}},
            **{"Idempotency-Key": f"create-{i}"},
        )
        ids.append(created["id"])
        for n in range(3):
            await call(
                "POST",
                f"/api/sessions/{created['id']}/messages",
                {
                    "role": "user" if n % 2 == 0 else "assistant",
                    "content": f"m{n} \u0000 \U0001f600",
                },
                **{"Idempotency-Key": f"m-{i}-{n}"},
            )
    first, second, third, fourth = ids
    await call("PUT", f"/api/sessions/{first}", {"title": "renamed", "metadata": {"k": "v"}})
    session = await call("GET", f"/api/sessions/{second}")
    message = session["messages"][0]["id"]
    await call("PATCH", f"/api/sessions/{second}/messages/{message}", {"content": "edited"})
    await call("DELETE", f"/api/sessions/{second}/messages/{session['messages'][1]['id']}")
    await call("DELETE", f"/api/sessions/{third}/messages")
    await call("DELETE", f"/api/sessions/{fourth}")
    # branches: a regenerated reply and a switch back on the first, the second pruned
    chat = await call("GET", f"/api/sessions/{first}")
    root, reply = chat["messages"][0]["id"], chat["messages"][1]["id"]
    regen = {"role": "assistant", "content": "again", "parent_id": root}
    await call("POST", f"/api/sessions/{first}/messages", regen)
    await call("PUT", f"/api/sessions/{first}/current", {"message_id": reply})
    await call("DELETE", f"/api/sessions/{second}/messages/{message}?subtree=true")
    forked = await call("POST", f"/api/sessions/{first}/fork", {"title": "fork"})
    ids.append(forked["id"])
    await call("PATCH", "/api/settings", {"theme": "light", "temperature": 1.25})
    await call("POST", "/api/settings/reset")
    await call("PATCH", "/api/settings", {"max_tokens": 77})
    return ids


async def views(client: Any, ids: list[str]) -> dict[str, bytes]:
    """The bytes of every answer that shows what the logs hold."""
    paths = ["/api/sessions", "/api/settings", "/api/events?limit=1000"]
    for sid in ids:
        paths += [
            f"/api/sessions/{sid}",
            f"/api/sessions/{sid}/messages?branch=all",
            f"/api/sessions/{sid}/events?limit=1000",
        ]
    out = {}
    for path in paths:
        response = await client.get(path)
        out[path] = b"%d " % response.status + await response.read()
    return out


def log_bytes(data_dir: Path) -> dict[str, bytes]:
    files = sorted([*data_dir.glob("*.jsonl"), *data_dir.glob("sessions/*.jsonl")])
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in files}


def cli(*args: str) -> int:
    return main(list(args))


async def run_cli(*args: str) -> int:
    """The CLI runs its own event loop: off this one's thread."""
    return await asyncio.to_thread(cli, *args)


async def sql(url: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def test_round_trip_serves_the_same_and_writes_the_same(
    aiohttp_client: Any, tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    var, back = tmp_path / "var", tmp_path / "back"
    client = await aiohttp_client(create_app(Config(data_dir=var)))
    ids = await populate(client)
    on_files = await views(client, ids)
    await client.close()

    assert await run_cli("migrate", "--from", str(var), "--to", pg_url) == 0
    assert "verified 6 logs" in capsys.readouterr().out  # 5 sessions and settings
    client = await aiohttp_client(create_app(Config(data_dir=tmp_path / "x", log_url=pg_url)))
    assert await views(client, ids) == on_files
    await client.close()

    assert await run_cli("migrate", "--from", pg_url, "--to", str(back)) == 0
    assert log_bytes(back) == log_bytes(var)
    client = await aiohttp_client(create_app(Config(data_dir=back)))
    assert await views(client, ids) == on_files
    await client.close()

    # Again, both ways: everything is there already.
    again = await migrate(str(var), pg_url)
    assert (again.copied, again.skipped, again.verified) == (0, len(positions(var)), 6)
    again = await migrate(pg_url, str(back))
    assert (again.copied, again.skipped) == (0, len(positions(var)))


def positions(data_dir: Path) -> list[int]:
    return [
        orjson.loads(line)["pos"]
        for data in log_bytes(data_dir).values()
        for line in data.splitlines()
    ]


async def test_appends_after_a_migration_continue_the_positions(
    aiohttp_client: Any, tmp_path: Path, pg_url: str
) -> None:
    var = tmp_path / "var"
    client = await aiohttp_client(create_app(Config(data_dir=var)))
    ids = await populate(client)
    await client.close()
    await migrate(str(var), pg_url)
    client = await aiohttp_client(create_app(Config(data_dir=tmp_path / "x", log_url=pg_url)))
    response = await client.post(
        f"/api/sessions/{ids[0]}/messages", json={"role": "user", "content": "after"}
    )
    assert response.status == 201
    feed = await (await client.get("/api/events?limit=1000")).json()
    assert feed[-1]["position"] == max(positions(var)) + 1
    await client.close()


async def test_a_copy_resumes_where_it_stopped(
    aiohttp_client: Any, tmp_path: Path, pg_url: str
) -> None:
    var, back = tmp_path / "var", tmp_path / "back"
    client = await aiohttp_client(create_app(Config(data_dir=var)))
    ids = await populate(client)
    await client.close()
    total = len(positions(var))
    await migrate(str(var), pg_url)

    # Into the database: one stream lost its last rows, another all of them.
    await sql(pg_url, "DELETE FROM orion_events WHERE stream = $1 AND seq > 2", ids[0])
    await sql(pg_url, "DELETE FROM orion_events WHERE stream = $1", ids[1])
    lost = total - sum(r["count"] for r in await sql(pg_url, "SELECT count(*) FROM orion_events"))
    report = await migrate(str(var), pg_url)
    assert (report.copied, report.skipped) == (lost, total - lost)
    assert all(r.ok for r in await verify_database(pg_url))

    # Into files: one cut mid-line (a torn end), one gone, one cut at a line's end.
    await migrate(pg_url, str(back))
    cut = back / "sessions" / f"{ids[2]}.jsonl"
    data = cut.read_bytes()
    cut.write_bytes(data[: data.index(b"\n") + 10])
    (back / "sessions" / f"{ids[3]}.jsonl").unlink()
    settings = back / "settings.jsonl"
    settings.write_bytes(settings.read_bytes().splitlines(True)[0])
    report = await migrate(pg_url, str(back))
    assert report.copied > 0
    assert log_bytes(back) == log_bytes(var)


async def test_a_different_history_is_never_overwritten(
    aiohttp_client: Any, tmp_path: Path, pg_url: str
) -> None:
    var, back = tmp_path / "var", tmp_path / "back"
    client = await aiohttp_client(create_app(Config(data_dir=var)))
    ids = await populate(client)
    await client.close()
    await migrate(str(var), pg_url)
    await migrate(pg_url, str(back))
    # The database goes on without the files: they are no longer a prefix of it, nor it of them.
    client = await aiohttp_client(create_app(Config(data_dir=tmp_path / "x", log_url=pg_url)))
    response = await client.post(
        f"/api/sessions/{ids[0]}/messages", json={"role": "user", "content": "only in pg"}
    )
    assert response.status == 201
    await client.close()
    with pytest.raises(MigrationError, match="different history"):
        await migrate(str(var), pg_url)
    # A file that went another way is not overwritten either.
    other = back / "sessions" / f"{ids[1]}.jsonl"
    shutil.copy(back / "sessions" / f"{ids[2]}.jsonl", other)
    before = other.read_bytes()
    with pytest.raises(MigrationError):
        await migrate(pg_url, str(back))
    assert other.read_bytes() == before


async def test_a_damaged_source_is_not_copied(
    aiohttp_client: Any, tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    var = tmp_path / "var"
    client = await aiohttp_client(create_app(Config(data_dir=var)))
    ids = await populate(client)
    await client.close()
    path = var / "sessions" / f"{ids[0]}.jsonl"
    path.write_bytes(path.read_bytes().replace(b"m1", b"M1", 1))
    assert await run_cli("migrate", "--from", str(var), "--to", pg_url) == 2
    assert "damaged" in capsys.readouterr().err
    # Checked before the database was even touched.
    assert (await sql(pg_url, "SELECT to_regclass('orion_events') AS t"))[0]["t"] is None


async def test_verify_log_checks_every_chain(
    aiohttp_client: Any, tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await aiohttp_client(create_app(Config(data_dir=tmp_path / "x", log_url=pg_url)))
    ids = await populate(client)
    await client.close()
    assert await run_cli("verify", "--log", pg_url) == 0
    assert capsys.readouterr().out.endswith("events: intact\n")
    await sql(
        pg_url,
        "UPDATE orion_events SET data = replace(data::text, 'm1', 'M1')::json "
        "WHERE stream = $1 AND seq = 3",
        ids[2],
    )
    assert await run_cli("verify", "--log", pg_url, "--json") == 1
    report = orjson.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert [(d["stream"], d["seq"], d["kind"]) for d in report["damaged"]] == [
        (ids[2], 3, "checksum_mismatch")
    ]


async def test_a_copy_into_files_survives_a_power_cut_right_after_it(
    aiohttp_client: Any, tmp_path: Path, pg_url: str, power_cut_disk: PowerCutDisk
) -> None:
    """Every stream migrate wrote, new files and one it resumed, is durable when it returns."""
    var = tmp_path / "var"
    client = await aiohttp_client(create_app(Config(data_dir=var)))
    await populate(client)
    await client.close()
    await migrate(str(var), pg_url)
    back = power_cut_disk.mountpoint / "back"
    await migrate(pg_url, str(back))
    # Resume a copy whose logs lost their tails: migrate appends what they lack.
    for path in sorted(back.glob("sessions/*.jsonl"))[:2]:
        write(path, path.read_bytes().splitlines(keepends=True)[0], sync=True)
    (back / "settings.jsonl").unlink()
    sync_dir(back)
    power_cut_disk.cut()
    assert not (back / "settings.jsonl").exists()
    await migrate(pg_url, str(back))
    power_cut_disk.cut()

    assert log_bytes(back) == log_bytes(var)


async def test_the_users_log_goes_both_ways_is_verified_backed_up_and_restored(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    var, back, copy = tmp_path / "var", tmp_path / "back", tmp_path / "copy"
    store = Store(FileLog(var))
    await store.open()
    root = await store.accounts.create_user("root", "admin")
    alice = await store.accounts.create_user("alice", "user")
    await store.accounts.revoke_key(alice.key_id)
    await store.create_session(title="root's", owner=root.user.id)
    await store.close()

    assert await run_cli("migrate", "--from", str(var), "--to", pg_url) == 0
    assert await run_cli("migrate", "--from", pg_url, "--to", str(back)) == 0
    assert (back / "users.jsonl").read_bytes() == (var / "users.jsonl").read_bytes()
    assert await run_cli("verify", "--data-dir", str(back)) == 0
    assert await run_cli("backup", str(copy), "--data-dir", str(back)) == 0
    assert (copy / "users.jsonl").read_bytes() == (var / "users.jsonl").read_bytes()
    restored = tmp_path / "restored"
    assert await run_cli("restore", str(copy), "--data-dir", str(restored)) == 0
    assert (restored / "users.jsonl").read_bytes() == (var / "users.jsonl").read_bytes()
    capsys.readouterr()
    on_pg = Store(PostgresLog(pg_url))
    await on_pg.open()
    try:
        assert on_pg.accounts.user_of(root.key) is not None
        assert on_pg.accounts.user_of(alice.key) is None  # revoked before the copy
    finally:
        await on_pg.close()
