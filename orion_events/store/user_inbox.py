"""How `orion-events users add` reaches a service that is running on the data dir (SPEC §9).

The running service alone writes the data dir's logs, so the command does not: it leaves a
request in `users.inbox/`, which the service takes within a fraction of a second, writes as
events like any other, and answers beside it. A request holds what the events will (the ids, the
key's clear part and digest), never the key itself: the command made the key, shows it, and
forgets it. A request nobody takes (the service stopped meanwhile) is taken back by the command;
the service also takes whatever is left there when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from attrs import asdict, frozen

from orion_events.domain.ids import new_id
from orion_events.domain.users import key_digest, key_lookup, new_key

log = logging.getLogger(__name__)

INBOX = "users.inbox"
REQUEST = ".request"
ANSWER = ".answer"
POLL = 0.05  # seconds between the command's looks for its answer
LOOK_EVERY = 0.25  # seconds between the service's looks into the inbox


@frozen
class UserRequest:
    """A user to make, with their first key: everything the events hold, nothing more."""

    user_id: str
    name: str
    role: str
    key_id: str
    lookup: str
    digest: str


def new_user(name: str, role: str, ids: Callable[[], str] = new_id) -> tuple[UserRequest, str]:
    """A request for a new user with a new key, and the key (which the request does not hold)."""
    key = new_key()
    request = UserRequest(ids(), name, role, ids(), key_lookup(key), key_digest(key))
    return request, key


def _dir(data_dir: Path) -> Path:
    return data_dir / INBOX


def submit(data_dir: Path, request: UserRequest) -> Path:
    """Leave `request` for the service (whole or not at all: written aside, then renamed)."""
    inbox = _dir(data_dir)
    inbox.mkdir(mode=0o700, exist_ok=True)
    path = inbox / f"{request.user_id}{REQUEST}"
    aside = path.with_suffix(".partial")
    aside.write_bytes(orjson.dumps(asdict(request)))
    os.replace(aside, path)
    return path


def wait_for_answer(request: Path, seconds: float) -> dict[str, Any] | None:
    """The service's answer to `request` ({"user_id"} or {"error"}); None when none came in
    `seconds` and the request was taken back (the service never saw it)."""
    answer = request.with_suffix(ANSWER)
    found = _answer(answer, seconds)
    if found is not None:
        return found
    try:
        request.unlink()
    except FileNotFoundError:  # taken at the last moment: its answer comes at once
        return _answer(answer, 5.0)
    return None


def _answer(answer: Path, seconds: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + seconds
    while True:
        if answer.exists():
            found: dict[str, Any] = orjson.loads(answer.read_bytes())
            answer.unlink()
            return found
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL)


async def serve_inbox(
    data_dir: Path, take: Callable[[UserRequest], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Take each request left in the inbox, with `take` (which writes it as events, or raises
    what is wrong with it), and answer it; until `stop` is set. The looks at the directory run
    on a thread: the event loop never waits on the file system."""
    inbox = _dir(data_dir)
    while not stop.is_set():
        for path, raw in await asyncio.to_thread(_taken, inbox):
            answer = await _answer_to(raw, take)
            await asyncio.to_thread(_write_answer, path, answer)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LOOK_EVERY)


def _taken(inbox: Path) -> list[tuple[Path, bytes]]:
    """The requests waiting, each read and removed (taken: the command can no longer take it
    back); one the command took back first is not there to take."""
    found = []
    for path in sorted(inbox.glob(f"*{REQUEST}")) if inbox.is_dir() else ():
        try:
            raw = path.read_bytes()
            path.unlink()
        except FileNotFoundError:
            continue
        found.append((path, raw))
    return found


async def _answer_to(raw: bytes, take: Callable[[UserRequest], Awaitable[None]]) -> dict[str, Any]:
    try:
        request = UserRequest(**orjson.loads(raw))
        await take(request)
    except Exception as exc:  # the command shows why; the service goes on
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.warning("a request in the users inbox was refused: %s", message)
        return {"error": message}
    return {"user_id": request.user_id}


def _write_answer(request: Path, answer: dict[str, Any]) -> None:
    aside = request.with_suffix(".partial-answer")
    aside.write_bytes(orjson.dumps(answer))
    os.replace(aside, request.with_suffix(ANSWER))
