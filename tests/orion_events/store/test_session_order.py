"""The maintained session order equals sorting every live session, page by page."""

from __future__ import annotations

import random

from orion_events.domain.views import SessionView
from orion_events.store.session_order import SessionOrder


def _naive(views: dict[str, SessionView]) -> list[str]:
    live = [v for v in views.values() if not v.deleted]
    live.sort(key=lambda v: v.id)
    live.sort(key=lambda v: v.updated_at, reverse=True)
    return [v.id for v in live]


def test_updates_keep_the_order_a_full_sort_gives_and_pages_walk_it() -> None:
    rng = random.Random(7)
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(300)]
    ids = [f"{i[:8]}-{i[8:12]}-4{i[13:16]}-8{i[17:20]}-{i[20:]}" for i in ids]
    views: dict[str, SessionView] = {}
    order = SessionOrder()
    for step in range(3000):
        session_id = rng.choice(ids)
        # Few distinct times, so ties by id are common.
        at = f"2025-01-01T00:00:{rng.randrange(20):02d}.000000Z"
        view = SessionView(session_id, at, at, step, deleted=rng.random() < 0.1)
        views[session_id] = view
        order.update(view)
        if step % 500 == 0:
            assert order.page(None, None) == (_naive(views), False)
    expected = _naive(views)
    assert order.page(None, None) == (expected, False)
    walked, after = [], None
    while True:
        page, more = order.page(7, after)
        walked += page
        if not more:
            break
        last = views[page[-1]]
        after = (last.updated_at, last.id)
    assert walked == expected
    # Built in one go from views, it is the same order.
    assert SessionOrder(list(views.values())).page(None, None) == (expected, False)
