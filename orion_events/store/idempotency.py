"""Idempotency keys: a retried request is answered from its first events, never applied twice."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import orjson
from attrs import frozen

from orion_events.domain.errors import InvalidInput
from orion_events.domain.events import (
    Recorded,
    SessionCreated,
    SessionForked,
    SessionImported,
    SettingsChanged,
    SettingsReset,
)
from orion_events.domain.streams import SETTINGS_STREAM

NEW_SESSIONS = ""  # the scope of requests that create a session (there is none to scope by yet)

# (scope, key) -> (stream, seq, request fingerprint) of the first event the keyed request wrote
Entry: TypeAlias = tuple[str, int, str]
Keys: TypeAlias = dict[tuple[str, str], Entry]


@frozen
class IdempotencyKey:
    """A client's retry key for one request, with a fingerprint of what that request asked."""

    scope: str  # the session id, or NEW_SESSIONS for requests that create one
    key: str
    fingerprint: str
    # False when the first event carries the key in its own fields (an import's source id)
    in_meta: bool = True

    @classmethod
    def of(cls, scope: str, key: str | None, *request: Any) -> IdempotencyKey | None:
        if key is None:
            return None
        if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
            raise InvalidInput(
                "Idempotency-Key must be 1 to 255 printable ASCII characters",
                field="Idempotency-Key",
            )
        digest = hashlib.blake2b(orjson.dumps(request), digest_size=12).hexdigest()
        return cls(scope, key, digest)

    @classmethod
    def of_import(cls, event: SessionImported) -> IdempotencyKey:
        """An import's key: its source's id, so the same conversation imported again by the
        same user is found (SPEC §10)."""
        return cls(imports_scope(event.owner), _import_key(event), "", in_meta=False)

    @property
    def meta(self) -> dict[str, str] | None:
        """What the request's first event carries, so the key outlives a restart."""
        if not self.in_meta:
            return None
        return {"idempotency_key": self.key, "request": self.fingerprint}


def new_sessions(owner: str | None) -> str:
    """The scope of one user's requests that create a session: each user's keys are their
    own, so the same key from two users is two requests."""
    return NEW_SESSIONS if owner is None else f"{NEW_SESSIONS}:{owner}"


def settings_scope(user_id: str | None) -> str:
    """The scope of one user's settings requests (the settings log holds every user's)."""
    return SETTINGS_STREAM if user_id is None else f"{SETTINGS_STREAM}:{user_id}"


def imports_scope(owner: str | None) -> str:
    """The scope of one user's imports: each user's imports are their own, so another's import
    of the same file neither stops theirs nor tells them it exists."""
    return f"imports:{owner or ''}"


def _import_key(event: SessionImported) -> str:
    return f"{event.source}:{event.source_id}"


def _scope(recorded: Recorded) -> str:
    event = recorded.event
    if isinstance(event, SessionCreated | SessionForked | SessionImported):
        return new_sessions(event.owner)
    if isinstance(event, SettingsReset | SettingsChanged):
        return settings_scope(event.user_id)
    return recorded.stream


def keys_in(records: Sequence[Recorded], into: Keys) -> None:
    """Add the keys that `records` carry to `into`."""
    for recorded in records:
        event = recorded.event
        if isinstance(event, SessionImported):
            scope_key = imports_scope(event.owner), _import_key(event)
            into[scope_key] = (recorded.stream, recorded.seq, "")
        if recorded.meta and "idempotency_key" in recorded.meta:
            scope = _scope(recorded)
            entry = (recorded.stream, recorded.seq, recorded.meta.get("request", ""))
            into[scope, recorded.meta["idempotency_key"]] = entry


def earlier_answer(keys: Mapping[tuple[str, str], Entry], key: IdempotencyKey) -> Entry | None:
    """Where the first request with this key wrote, if there was one; 422 if it asked otherwise."""
    found = keys.get((key.scope, key.key))
    if found is not None and found[2] != key.fingerprint:
        raise InvalidInput(
            "this Idempotency-Key was used for a different request", field="Idempotency-Key"
        )
    return found
