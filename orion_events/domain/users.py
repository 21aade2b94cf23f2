"""Users and their API keys (SPEC §9): the view the users log folds to, and how a presented key
finds its user.

A key is `orion_` and 32 random bytes in base64url; it is shown once, when issued. The log keeps
only its first characters (to find the candidates quickly) and a SHA-256 digest (a key has 256
random bits, so a fast hash is as strong as a slow one here; GitHub's tokens are kept so too),
and a presented key is compared with each candidate's digest in constant time. Revoking a key or
disabling its user takes effect on the next request: the view the requests read changes with
the event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Literal, TypeAlias

from attrs import evolve, frozen

from orion_events.domain.errors import CorruptLog
from orion_events.domain.events import KeyIssued, KeyRevoked, Recorded, UserCreated, UserDisabled
from orion_events.domain.views import SessionView

Role: TypeAlias = Literal["user", "admin"]
ROLES: tuple[Role, ...] = ("user", "admin")

KEY_PREFIX = "orion_"
KEY_BYTES = 32
LOOKUP_CHARS = len(KEY_PREFIX) + 8  # what the log keeps of a key in clear: orion_ and 8 more


def new_key() -> str:
    """A fresh API key: orion_ and 32 random bytes, base64url without padding (43 characters)."""
    raw = secrets.token_bytes(KEY_BYTES)
    return KEY_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def key_lookup(key: str) -> str:
    """The part of a key kept in clear, to find its candidates: never enough to use it."""
    return key[:LOOKUP_CHARS]


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@frozen
class UserView:
    id: str
    name: str
    role: Role
    created_at: str
    disabled: bool = False

    @property
    def admin(self) -> bool:
        return self.role == "admin"


@frozen
class KeyView:
    key_id: str
    user_id: str
    lookup: str
    digest: str
    created_at: str
    revoked: bool = False


@frozen
class UsersView:
    """Every user and key, by id; keys also by their clear part; the first admin, who owns
    what was written before users existed."""

    users: Mapping[str, UserView] = {}
    keys: Mapping[str, KeyView] = {}
    by_lookup: Mapping[str, tuple[str, ...]] = {}
    first_admin: str | None = None
    version: int = 0

    @property
    def enabled(self) -> bool:
        """Whether the service runs with users: from the first one on, every request needs a
        key."""
        return bool(self.users)

    def user_of(self, presented: str) -> UserView | None:
        """The user a presented key belongs to, if the key is live and the user enabled."""
        digest = key_digest(presented)
        found = None
        for key_id in self.by_lookup.get(key_lookup(presented), ()):
            key = self.keys[key_id]
            # every candidate compared, whatever the outcome, in constant time each
            if hmac.compare_digest(key.digest, digest) and not key.revoked:
                found = key
        if found is None:
            return None
        user = self.users[found.user_id]
        return None if user.disabled else user

    def by_name(self, name: str) -> UserView | None:
        folded = name.casefold()
        return next((u for u in self.users.values() if u.name.casefold() == folded), None)


def apply_users(view: UsersView, recorded: Recorded) -> UsersView:
    event = recorded.event
    where = f"users seq {recorded.seq}"
    users, keys = view.users, view.keys
    match event:
        case UserCreated():
            if event.user_id in users or event.role not in ROLES:
                raise CorruptLog(f"{where}: user {event.user_id} again, or no such role")
            user = UserView(event.user_id, event.name, event.role, recorded.at)
            first = view.first_admin
            if first is None and event.role == "admin":
                first = event.user_id
            view = evolve(view, users={**users, event.user_id: user}, first_admin=first)
        case KeyIssued():
            if event.user_id not in users or event.key_id in keys:
                raise CorruptLog(f"{where}: key {event.key_id} for no user, or issued twice")
            key = KeyView(event.key_id, event.user_id, event.lookup, event.digest, recorded.at)
            same = view.by_lookup.get(event.lookup, ())
            view = evolve(
                view,
                keys={**keys, event.key_id: key},
                by_lookup={**view.by_lookup, event.lookup: (*same, event.key_id)},
            )
        case KeyRevoked():
            if event.key_id not in keys:
                raise CorruptLog(f"{where}: no key {event.key_id}")
            gone = evolve(keys[event.key_id], revoked=True)
            view = evolve(view, keys={**keys, event.key_id: gone})
        case UserDisabled():
            if event.user_id not in users:
                raise CorruptLog(f"{where}: no user {event.user_id}")
            revoked = {
                k: evolve(v, revoked=True) if v.user_id == event.user_id else v
                for k, v in keys.items()
            }
            disabled = evolve(users[event.user_id], disabled=True)
            view = evolve(view, users={**users, event.user_id: disabled}, keys=revoked)
        case _:
            raise CorruptLog(f"{where}: {event.kind} is no users event")
    return evolve(view, version=recorded.seq)


def replay_users(records: Iterable[Recorded], start: UsersView | None = None) -> UsersView:
    view = UsersView() if start is None else start
    for recorded in records:
        view = apply_users(view, recorded)
    return view


@frozen
class Access:
    """Whom a request acts for, when the service has users: `user`, whose sessions it sees
    (those made without users are the first admin's), read by `reader` when an admin reads
    another user's data (else the user themself)."""

    user: UserView
    first_admin: str | None
    reader: UserView | None = None

    def owns(self, view: SessionView) -> bool:
        owner = view.owner if view.owner is not None else self.first_admin
        return owner == self.user.id

    @property
    def owners(self) -> tuple[str | None, ...]:
        """The owners whose sessions are this user's: their id, and for the first admin the
        sessions made without users (owner None)."""
        return (self.user.id, None) if self.user.id == self.first_admin else (self.user.id,)
