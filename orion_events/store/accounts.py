"""Users and their API keys (SPEC §9): made, issued, revoked and disabled as events in the users
log, and the one question every request asks, whose key is this."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from attrs import frozen

from orion_events.domain import rules
from orion_events.domain.errors import (
    InvalidInput,
    SessionNotFound,
    SessionReadOnly,
    VersionConflict,
)
from orion_events.domain.events import (
    AdminRead,
    Event,
    KeyIssued,
    KeyRevoked,
    UserCreated,
    UserDisabled,
)
from orion_events.domain.streams import OPERATIONS_STREAM, USERS_STREAM
from orion_events.domain.users import (
    KEY_PREFIX,
    LOOKUP_CHARS,
    Access,
    UsersView,
    UserView,
    key_digest,
    key_lookup,
    new_key,
)
from orion_events.storage.port import EventLog, Followed
from orion_events.store.current import CurrentViews
from orion_events.store.folds import View
from orion_events.store.user_inbox import UserRequest, new_user
from orion_events.store.writer import StreamWriter

REVOKE_WITHIN = 2.0  # seconds a revocation waits for the other replicas to apply it
SEEN_KEYS = 10_000  # live keys remembered between changes to the users log
_DIGEST = re.compile(r"[0-9a-f]{64}")
_LOOKUP = re.compile(rf"{KEY_PREFIX}[A-Za-z0-9_-]{{{LOOKUP_CHARS - len(KEY_PREFIX)}}}")


@frozen
class IssuedKey:
    """A key as it is shown, once: its id (to revoke it by) and the key itself."""

    key_id: str
    key: str
    user: UserView


class Accounts:
    def __init__(
        self,
        current: CurrentViews,
        writer: StreamWriter,
        ids: Callable[[], str],
        event_log: EventLog | None = None,
    ) -> None:
        self._log = event_log
        self._current = current
        self._writer = writer
        self._ids = ids
        self._seen: dict[str, Access] = {}
        self._seen_for: UsersView | None = None

    @property
    def view(self) -> UsersView:
        return self._current.users

    def user_of(self, presented: str) -> UserView | None:
        """The enabled user a live key belongs to: a dictionary lookup and a constant-time
        compare, nothing read from disk."""
        return self._current.users.user_of(presented)

    def access_of(self, presented: str) -> Access | None:
        """Whom a request sending this key acts for (None: no live key). Kept per key while the
        users log stands still, so a request costs one dictionary lookup, not a digest: any
        change to the users log (a key revoked, a user disabled) empties it. The keys it holds
        are in memory only, as every request's are."""
        users = self._current.users
        if users is not self._seen_for:
            self._seen, self._seen_for = {}, users
        access = self._seen.get(presented)
        if access is None:
            user = users.user_of(presented)
            if user is None:
                return None
            access = Access(user, users.first_admin)
            if len(self._seen) < SEEN_KEYS:
                self._seen[presented] = access
        return access

    async def create_user(self, name: object, role: object = "user") -> IssuedKey:
        """A new user and their first key."""
        request, key = new_user(rules.user_name(name), rules.user_role(role), self._ids)
        users = await self.take(request)
        return IssuedKey(request.key_id, key, users.users[request.user_id])

    async def take(self, request: UserRequest) -> UsersView:
        """Write the user a request describes (made here, or by `orion-events users add`
        through the users inbox): its name and role checked, the name free."""
        name, role = rules.user_name(request.name), rules.user_role(request.role)
        if not (_DIGEST.fullmatch(request.digest) and _LOOKUP.fullmatch(request.lookup)):
            raise InvalidInput("a key's digest or clear part is not one a key gives", field="key")

        def decide(view: View) -> Sequence[Event]:
            users = self._users(view)
            if not users.enabled and role != "admin":
                # else no one could manage users, and no one would own the sessions from before
                raise InvalidInput("the first user must be an admin (--admin)", field="role")
            if users.by_name(name) is not None:
                raise VersionConflict(f"a user named {name!r} exists", field="name")
            return [
                UserCreated(request.user_id, name, role),
                KeyIssued(request.user_id, request.key_id, request.lookup, request.digest),
            ]

        return await self._write(decide)

    async def issue_key(self, user_id: str) -> IssuedKey:
        key_id, key = self._ids(), new_key()

        def decide(view: View) -> Sequence[Event]:
            self._enabled_user(self._users(view), user_id)
            return [KeyIssued(user_id, key_id, key_lookup(key), key_digest(key))]

        users = await self._write(decide)
        return IssuedKey(key_id, key, users.users[user_id])

    async def revoke_key(self, key_id: str) -> None:
        def decide(view: View) -> Sequence[Event]:
            key = self._users(view).keys.get(key_id)
            if key is None or key.revoked:
                raise SessionNotFound(f"no key {key_id}")
            return [KeyRevoked(key_id)]

        await self._everywhere(await self._write(decide))

    async def disable_user(self, user_id: str) -> None:
        def decide(view: View) -> Sequence[Event]:
            self._enabled_user(self._users(view), user_id)
            return [UserDisabled(user_id)]

        await self._everywhere(await self._write(decide))

    async def record_admin_read(self, by: str, owner: str, what: str) -> None:
        """An admin's read of another user's data, in the operator log before it is answered."""
        await self._writer.submit(OPERATIONS_STREAM, lambda view: [AdminRead(by, owner, what)])

    async def _everywhere(self, users: UsersView) -> None:
        """Answer a revocation only once every replica refuses the key: on a shared log, wait
        (a few milliseconds; REVOKE_WITHIN at most) until each has applied it."""
        if isinstance(self._log, Followed):
            await self._log.followed_by_all(USERS_STREAM, users.version, REVOKE_WITHIN)

    def _users(self, view: View) -> UsersView:
        if USERS_STREAM in self._current.read_only:
            raise SessionReadOnly(
                f"the users log is damaged ({self._current.read_only[USERS_STREAM]}): "
                "no user or key changes until it is mended"
            )
        assert isinstance(view, UsersView)
        return view

    @staticmethod
    def _enabled_user(users: UsersView, user_id: str) -> UserView:
        user = users.users.get(user_id)
        if user is None or user.disabled:
            raise SessionNotFound(f"no user {user_id}")
        return user

    async def _write(self, decide: Callable[[View], Sequence[Event]]) -> UsersView:
        result = await self._writer.submit(USERS_STREAM, decide)
        assert isinstance(result, UsersView)
        return result
