"""`orion-events users add NAME [--admin]` and `users list`: the first admin is made here, on
the data dir or the database, with no key needed (whoever may write the data dir or the database
may already do anything to it)."""

from __future__ import annotations

import json
from pathlib import Path

from orion_events.domain import rules
from orion_events.domain.errors import DataDirLocked, OrionError
from orion_events.domain.streams import USERS_STREAM
from orion_events.domain.users import UsersView, replay_users
from orion_events.storage.codec import scan
from orion_events.storage.files.datadir import log_path
from orion_events.store.store import Store
from orion_events.store.user_inbox import new_user, submit, wait_for_answer
from service.cli.output import warn
from service.cli.stores import with_store
from service.config import Config

ANSWER_WITHIN = 10.0  # seconds a running service has to take a request from the inbox
NOT_TAKEN = (
    "the service holding {where} did not take the request within 10 s (stopped, or stuck); "
    "nothing was written: start it, or stop it, and run this again"
)


def add_user(config: Config, name: str, admin: bool) -> int:
    """Exit 0 with the new user and their key printed (shown this once), 2 when refused.

    The service stopped: written here. The service running on the data dir: handed to it
    through the users inbox (it alone writes there), and printed once it has written it. On
    PostgreSQL: written to the database, which the running replicas follow."""
    try:
        request, key = new_user(rules.user_name(name), "admin" if admin else "user")
    except OrionError as exc:
        warn(exc.message)
        return 2
    try:
        with_store(config, lambda store: store.accounts.take(request))
    except DataDirLocked:
        answer = wait_for_answer(submit(config.data_dir, request), seconds=ANSWER_WITHIN)
        if answer is None:
            warn(NOT_TAKEN.format(where=config.data_dir))
            return 2
        if "error" in answer:
            warn(str(answer["error"]))
            return 2
        print("the running service has it (through the users inbox)")
    except OrionError as exc:
        warn(exc.message)
        return 2
    print(f"user {name} ({request.role}), id {request.user_id}")
    print(f"key, shown this once: {key}")
    return 0


def list_users(config: Config, as_json: bool) -> int:
    """Every user, their role and how many live keys; a running service's data dir is read
    without its lock, as `export` reads it (the users log is only ever appended to)."""
    try:
        users = with_store(config, _read_users)
    except DataDirLocked:
        users = _users_in_file(config.data_dir)
    except OrionError as exc:
        warn(exc.message)
        return 2
    rows = [
        {
            "id": user.id,
            "name": user.name,
            "role": user.role,
            "disabled": user.disabled,
            "keys": sum(1 for k in users.keys.values() if k.user_id == user.id and not k.revoked),
        }
        for user in users.users.values()
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no users: the service runs without them (open, or the one ORION_API_TOKEN)")
    for row in rows:
        state = "disabled" if row["disabled"] else f"{row['keys']} live keys"
        print(f"{row['id']}  {row['role']:<5}  {row['name']}  ({state})")
    return 0


async def _read_users(store: Store) -> UsersView:
    return store.accounts.view


def _users_in_file(data_dir: Path) -> UsersView:
    path = log_path(data_dir, USERS_STREAM)
    if not path.exists():
        return UsersView()
    return replay_users(scan(path.read_bytes(), USERS_STREAM).records)
