"""Conditional writes: which versions of a stream a write may still apply to (If-Match)."""

from __future__ import annotations

from collections.abc import Set
from typing import TypeAlias

from orion_events.domain.errors import PreconditionFailed

# None: no condition. A version: only that one. A set: any of them (an If-Match list); an empty
# set matches nothing, as a condition that names no version the stream could be at.
Expected: TypeAlias = int | Set[int] | None


def check_version(expected: Expected, current: int, what: str) -> None:
    """Raise PreconditionFailed unless `what`, now at version `current`, is at one `expected`."""
    if expected is None:
        return
    wanted = {expected} if isinstance(expected, int) else expected
    if current in wanted:
        return
    if not wanted:
        raise PreconditionFailed(f"{what} is at version {current}, which If-Match does not name")
    named = ", ".join(str(v) for v in sorted(wanted)[:10])
    more = "" if len(wanted) <= 10 else ", …"
    one = "" if len(wanted) == 1 else "any of "
    raise PreconditionFailed(f"{what} is at version {current}, not {one}{named}{more}")
