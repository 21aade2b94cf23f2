"""Conditional writes: one rule for a single expected version and for a set of them (If-Match)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orion_events.domain.errors import PreconditionFailed
from orion_events.domain.precondition import Expected, check_version
from orion_events.domain.views import SessionView
from tests.orion_events.support import open_store


@pytest.mark.parametrize("expected", [None, 3, {3}, frozenset({1, 3, 9}), {3, 4}])
def test_a_condition_naming_the_current_version_passes(expected: Expected) -> None:
    check_version(expected, 3, "session s")


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        (2, "session s is at version 3, not 2"),
        ({2}, "session s is at version 3, not 2"),
        ({4, 2}, "session s is at version 3, not any of 2, 4"),
        (frozenset(), "session s is at version 3, which If-Match does not name"),
        (set(range(100, 120)), "not any of 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, …"),
    ],
)
def test_a_condition_not_naming_it_fails_saying_why(expected: Expected, message: str) -> None:
    with pytest.raises(PreconditionFailed) as raised:
        check_version(expected, 3, "session s")
    assert message in raised.value.message


async def test_a_set_lets_each_named_version_through_once_in_a_burst(data_dir: Path) -> None:
    """Each command is checked against the session as the ones queued before it leave it: with
    {v, v + 1} the first append passes at v, the second at v + 1, and every other is 412."""
    store = await open_store(data_dir)
    try:
        session = await store.create_session()
        version = session.version
        results = await asyncio.gather(
            *(
                store.add_message(
                    session.id,
                    role="user",
                    content=f"race {i}",
                    expected_version=frozenset({version, version + 1}),
                )
                for i in range(10)
            ),
            return_exceptions=True,
        )
        passed = [r for r in results if isinstance(r, SessionView)]
        assert [v.version for v in passed] == [version + 1, version + 2]
        assert all(isinstance(r, PreconditionFailed) for r in results if r not in passed)
        assert store.session(session.id).version == version + 2
    finally:
        await store.close()
