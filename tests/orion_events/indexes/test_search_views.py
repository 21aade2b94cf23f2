"""The search index built from start-up views answers exactly as one fed every event."""

from __future__ import annotations

import random

from orion_events.domain.events import (
    Event,
    MessageAdded,
    MessageDeleted,
    MessageEdited,
    MessagesCleared,
    Recorded,
    SessionCreated,
    SessionDeleted,
    SessionRenamed,
    SessionRestored,
)
from orion_events.domain.projector import apply_session
from orion_events.domain.views import SessionView
from orion_events.indexes.search import SearchIndex

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def _history(rng: random.Random, stream: str) -> list[Recorded]:
    """A session's random life: messages, edits, deletes, renames, clears, delete/restore."""
    view: SessionView | None = None
    records: list[Recorded] = []
    titled = rng.random() < 0.3
    events: list[Event] = [SessionCreated("Pinned " + rng.choice(WORDS) if titled else None, {})]
    for n in range(rng.randrange(1, 25)):
        roll = rng.random()
        live = [m.id for m in view.live_messages] if view is not None else []
        text = " ".join(rng.choices(WORDS, k=rng.randrange(0, 6)))
        if roll < 0.55 or not live:
            events.append(MessageAdded(f"{stream}-m{n}", rng.choice(["user", "assistant"]), text))
        elif roll < 0.7:
            events.append(MessageEdited(rng.choice(live), text))
        elif roll < 0.8:
            events.append(MessageDeleted(rng.choice(live)))
        elif roll < 0.85:
            events.append(SessionRenamed("Renamed " + rng.choice(WORDS)))
        elif roll < 0.9:
            events.append(MessagesCleared())
        elif view is not None and view.deleted:
            events.append(SessionRestored())
        else:
            events.append(SessionDeleted())
        while events:
            event = events.pop(0)
            seq = len(records) + 1
            recorded = Recorded(
                stream, seq, f"e{seq}", f"2025-01-01T00:00:{seq:02d}.000000Z", event
            )
            view = apply_session(view, recorded)
            records.append(recorded)
    return records


def _answers(index: SearchIndex) -> list[tuple[int, list[object]]]:
    """Every query's total and hits; scores to 9 places, since the two indexes sum the same
    postings in another order and float addition is not associative in the last bits."""
    queries = [*WORDS, "alpha beta", "ga", "the", "pinned", "renamed", "k", "zeta iota"]
    pages = [index.search(q, limit=50) for q in queries]
    return [
        (p.total, [(h.session_id, round(h.score, 9), h.title_match, h.message_ids) for h in p.hits])
        for p in pages
    ]


def test_index_from_views_equals_index_from_events() -> None:
    rng = random.Random(20251125)
    by_events, by_views = SearchIndex(), SearchIndex()
    for s in range(120):
        stream = f"00000000-0000-4000-8000-{s:012d}"
        records = _history(rng, stream)
        view = None
        for recorded in records:
            by_events.apply(recorded)
            view = apply_session(view, recorded)
        assert view is not None
        by_views.add_view(view)
    assert _answers(by_views) == _answers(by_events)
    assert any(hits for _, hits in _answers(by_views))  # the histories do match something
