"""`orion-events users add NAME [--admin]` and `users list`: the first admin is made here, on
the data dir or the database, with no key needed (whoever may write the data dir or the database
may already do anything to it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

from orion_events.domain.errors import DataDirLocked, OrionError
from orion_events.storage.files.log import FileLog
from orion_events.storage.port import EventLog
from orion_events.storage.postgres.log import PostgresLog
from orion_events.store.store import Store
from service.cli.output import warn
from service.config import Config

T = TypeVar("T")

RUNNING = (
    "a service is running on {where}, and it alone writes there: stop it, run this again, "
    "then start it (or, with an admin key, POST /api/users)"
)


def _log(config: Config) -> tuple[EventLog, str]:
    if config.log_url is not None:
        return PostgresLog(config.log_url), "the database"
    return FileLog(config.data_dir), str(config.data_dir)


def _with_store(config: Config, work: Callable[[Store], Awaitable[T]]) -> T | None:
    """`work` on the store of `config`'s logs (opened for this alone, then closed); None, said
    why, when they cannot be opened."""
    event_log, where = _log(config)

    async def run() -> T:
        store = Store(event_log, snapshot_events=None)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except DataDirLocked:
        warn(RUNNING.format(where=where))
    except OrionError as exc:
        warn(exc.message)
    return None


def add_user(config: Config, name: str, admin: bool) -> int:
    """Exit 0 with the new user and their key printed (shown this once), 2 when refused. On
    PostgreSQL the running replicas follow the users log and take the user at once; a service
    on the data dir must be stopped first, as for every command that writes there."""

    async def create(store: Store) -> tuple[str, str, str]:
        made = await store.accounts.create_user(name, "admin" if admin else "user")
        return made.user.id, made.user.role, made.key

    made = _with_store(config, create)
    if made is None:
        return 2
    user_id, role, key = made
    print(f"user {name} ({role}), id {user_id}")
    print(f"key, shown this once: {key}")
    return 0


def list_users(config: Config, as_json: bool) -> int:
    async def read(store: Store) -> list[dict[str, object]]:
        users = store.accounts.view
        return [
            {
                "id": user.id,
                "name": user.name,
                "role": user.role,
                "disabled": user.disabled,
                "keys": sum(
                    1 for k in users.keys.values() if k.user_id == user.id and not k.revoked
                ),
            }
            for user in users.users.values()
        ]

    users = _with_store(config, read)
    if users is None:
        return 2
    if as_json:
        print(json.dumps(users, indent=2))
    elif not users:
        print("no users: the service runs without them (open, or the one ORION_API_TOKEN)")
    for user in users:
        state = "disabled" if user["disabled"] else f"{user['keys']} live keys"
        print(f"{user['id']}  {user['role']:<5}  {user['name']}  ({state})")
    return 0
