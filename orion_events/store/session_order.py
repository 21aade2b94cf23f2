"""The session list's order, kept as sessions change: most recent activity first, ties by id."""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import TypeAlias

from orion_events.domain.views import SessionView

# Ascending keys whose reverse is the list's order: updated_at descending, then id ascending
# (an id with each hex digit complemented sorts the opposite way).
Key: TypeAlias = tuple[str, str, str]
_COMPLEMENT = str.maketrans("0123456789abcdef", "fedcba9876543210")


def _key(updated_at: str, session_id: str) -> Key:
    return (updated_at, session_id.translate(_COMPLEMENT), session_id)


class SessionOrder:
    """Live sessions in list order; an update costs a bisect and a memmove, a page a slice."""

    __slots__ = ("_keys", "_of")

    def __init__(self, views: list[SessionView] | None = None) -> None:
        self._of: dict[str, Key] = {}
        for view in views or []:
            if not view.deleted:
                self._of[view.id] = _key(view.updated_at, view.id)
        self._keys = sorted(self._of.values())

    def update(self, view: SessionView) -> None:
        """Place `view` (or take it out when it is deleted)."""
        old = self._of.pop(view.id, None)
        if old is not None:
            del self._keys[bisect_left(self._keys, old)]
        if not view.deleted:
            key = self._of[view.id] = _key(view.updated_at, view.id)
            insort(self._keys, key)

    def page(self, limit: int | None, after: tuple[str, str] | None) -> tuple[list[str], bool]:
        """Ids of up to `limit` sessions that come after `after` (updated_at, id) in list order,
        and whether more follow."""
        keys, more = self.page_keys(limit, after)
        return [key[2] for key in keys], more

    def page_keys(self, limit: int | None, after: tuple[str, str] | None) -> tuple[list[Key], bool]:
        end = len(self._keys)
        if after is not None:
            end = bisect_left(self._keys, _key(*after)[:2])
        start = 0 if limit is None else max(0, end - limit)
        return self._keys[start:end][::-1], start > 0


def merged_page(
    orders: list[SessionOrder], limit: int | None, after: tuple[str, str] | None
) -> tuple[list[str], bool]:
    """`page` over the union of several orders (a user's own sessions and, for the first admin,
    those made before users): each one's page, merged."""
    if len(orders) == 1:
        return orders[0].page(limit, after)
    found: list[Key] = []
    more = False
    for order in orders:
        keys, rest = order.page_keys(limit, after)
        found += keys
        more = more or rest
    found.sort(reverse=True)
    if limit is not None and len(found) > limit:
        found, more = found[:limit], True
    return [key[2] for key in found], more
