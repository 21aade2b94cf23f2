"""Users and keys in the domain alone: the users log's fold, and how a presented key finds its
user (SPEC §9)."""

from __future__ import annotations

import re

import pytest

from orion_events.domain.errors import CorruptLog
from orion_events.domain.events import (
    Event,
    KeyIssued,
    KeyRevoked,
    Recorded,
    SessionCreated,
    UserCreated,
    UserDisabled,
)
from orion_events.domain.users import (
    Access,
    UsersView,
    apply_users,
    key_digest,
    key_lookup,
    new_key,
    replay_users,
)
from orion_events.domain.views import SessionView


def recorded(*events: Event) -> list[Recorded]:
    return [
        Recorded("users", n, f"e{n}", "2026-12-05T00:00:00.000000Z", event)
        for n, event in enumerate(events, start=1)
    ]


def issued(user_id: str, key_id: str, key: str) -> KeyIssued:
    return KeyIssued(user_id, key_id, key_lookup(key), key_digest(key))


def test_a_key_is_orion_and_32_random_bytes_in_base64url() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert re.fullmatch(r"orion_[A-Za-z0-9_-]{43}", key), key
    # what the log keeps of a key: its first characters, and a digest
    key = next(iter(keys))
    assert key_lookup(key) == key[:14]
    assert key_digest(key) != key
    assert key not in key_digest(key)


def test_a_live_key_finds_its_user_and_nothing_else_does() -> None:
    alice, bob = new_key(), new_key()
    users = replay_users(
        recorded(
            UserCreated("a", "alice", "admin"),
            issued("a", "ka", alice),
            UserCreated("b", "bob", "user"),
            issued("b", "kb", bob),
        )
    )
    assert users.user_of(alice).id == "a"  # type: ignore[union-attr]
    assert users.user_of(bob).id == "b"  # type: ignore[union-attr]
    assert users.first_admin == "a"
    for wrong in ("", "orion_", alice[:-1], alice + "x", alice[:14] + bob[14:], bob.upper()):
        assert users.user_of(wrong) is None, wrong


def test_a_revoked_key_or_a_disabled_user_is_refused_from_the_next_event_on() -> None:
    first, second = new_key(), new_key()
    events = [
        UserCreated("a", "alice", "user"),
        issued("a", "k1", first),
        issued("a", "k2", second),
    ]
    users = replay_users(recorded(*events))
    assert users.user_of(first) is not None
    revoked = apply_users(users, recorded(*events, KeyRevoked("k1"))[-1])
    assert revoked.user_of(first) is None
    assert revoked.user_of(second) is not None  # rotation: the other key still works
    disabled = apply_users(revoked, recorded(*events, KeyRevoked("k1"), UserDisabled("a"))[-1])
    assert disabled.user_of(second) is None
    assert disabled.users["a"].disabled
    assert all(key.revoked for key in disabled.keys.values())


def test_two_keys_sharing_their_first_characters_are_told_apart() -> None:
    one, other = new_key(), new_key()
    other = one[:14] + other[14:]  # the same lookup part, by chance
    users = replay_users(
        recorded(
            UserCreated("a", "alice", "user"),
            UserCreated("b", "bob", "user"),
            issued("a", "ka", one),
            issued("b", "kb", other),
        )
    )
    assert users.user_of(one).id == "a"  # type: ignore[union-attr]
    assert users.user_of(other).id == "b"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "events",
    [
        [UserCreated("a", "alice", "user"), UserCreated("a", "again", "user")],
        [UserCreated("a", "alice", "root")],
        [KeyIssued("nobody", "k", "orion_x", "d")],
        [KeyRevoked("k")],
        [UserDisabled("a")],
        [SessionCreated(None, {})],
    ],
    ids=[
        "user-twice",
        "no-such-role",
        "key-for-nobody",
        "revoke-nothing",
        "disable-nobody",
        "not-a-users-event",
    ],
)
def test_a_users_log_that_makes_no_sense_is_a_corrupt_log(events: list[Event]) -> None:
    with pytest.raises(CorruptLog):
        replay_users(recorded(*events))


def test_the_first_admin_owns_what_was_made_without_users() -> None:
    users = replay_users(
        recorded(
            UserCreated("u", "user first", "user"),
            UserCreated("a", "admin", "admin"),
            UserCreated("b", "admin too", "admin"),
        )
    )
    assert users.first_admin == "a"  # the first admin, not the first user
    before = SessionView("s", "t", "t", 1)  # no owner: made without users
    mine = SessionView("s", "t", "t", 1, owner="b")
    admin = Access(users.users["a"], users.first_admin)
    other = Access(users.users["b"], users.first_admin)
    assert admin.owns(before)
    assert not other.owns(before)
    assert other.owns(mine)
    assert not admin.owns(mine)
    assert admin.owners == ("a", None)
    assert other.owners == ("b",)
    assert UsersView().enabled is False
    assert users.enabled
