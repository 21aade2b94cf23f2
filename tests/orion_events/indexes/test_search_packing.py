"""The search index's packed postings: messages as reused records, term numbers that come and go,
counts past a byte, ids kept as 16 bytes. Whatever happened to it, the index answers as one fed
only the final state, and its records add up."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from itertools import chain

import pytest

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
from orion_events.indexes.search_postings import BIG, DEAD
from orion_events.indexes.search_sessions import FILTER_FROM
from orion_events.indexes.search_terms import pack_terms, unpack_terms
from tests.orion_events.indexes.test_search import Feed


@pytest.fixture
def feed() -> Feed:
    return Feed()


def check_records(index: SearchIndex) -> None:
    """Every posting's live count is its entries of live records; a dead record is held by as
    many entries as it says and is free for reuse exactly when none holds it; each live record
    is one message of one session, holding the terms its packed list names."""
    postings = index._messages
    owners, orders = postings.owners, postings.orders
    held: Counter[int] = Counter()
    for term in postings:
        posting = postings[term]
        live, large = 0, set()
        # Part way through a compaction, the entries between write and read are stale copies.
        for i in chain(range(posting.write), range(posting.read, len(posting.messages))):
            record = posting.messages[i]
            count = 1 if posting.counts is None else posting.counts[i]
            if count == BIG:
                large.add(record)
            if owners[record] == DEAD:
                held[record] += 1
            else:
                live += 1
                packed = dict(postings.terms_of(record))[posting.number]
                assert packed == (count if count < BIG else posting.large[record])
        assert live == posting.live, term
        assert large == set(posting.large or ()), term
    free = list(postings._free)
    assert len(free) == len(set(free))
    for record in range(len(owners)):
        if owners[record] == DEAD:
            assert orders[record] == held[record]
            assert (record in free) == (not held[record])
        else:
            assert record not in free
    in_sessions = [record for session in index._numbered for record in session.records]
    assert sorted(in_sessions) == [r for r in range(len(owners)) if owners[r] != DEAD]
    # A session's packed terms are its live messages' and the removed ones' it counts.
    for session in index._numbered:
        if session.number < len(postings._packed):
            used = sum(postings._ends[r] - postings._starts[r] for r in session.records)
            garbage = postings._garbage[session.number]
            assert len(postings._packed[session.number]) == used + garbage


def test_a_message_edited_twice_matches_only_its_last_text(feed: Feed) -> None:
    feed.session("s1", "first draft", "other words")
    feed("s1", MessageEdited("m1", "second draft"))
    feed("s1", MessageEdited("m1", "third version"))
    for gone in ("first", "second", "draft"):
        assert feed.ids(gone) == []
    assert feed.hit("third", "s1").message_ids == ("m1",)
    assert feed.hit("third words", "s1").message_ids == ("m1", "m2")  # it kept its place
    feed("s1", MessageEdited("m1", "first draft"))  # back to words it held before
    assert feed.hit("draft", "s1").message_ids == ("m1",)
    assert feed.ids("third") == []
    check_records(feed.index)


def test_a_message_deleted_then_added_again_under_its_id(feed: Feed) -> None:
    feed.session("s1", "alpaca wool", "llama wool")
    feed("s1", MessageDeleted("m1"))
    feed("s1", MessageAdded("m1", "assistant", "vicuna wool"))
    assert feed.ids("alpaca") == []
    assert feed.hit("wool", "s1").message_ids == ("m2", "m1")  # now the last message
    # The same id again without a delete: the newest wins, as in the index before packing.
    feed("s1", MessageAdded("m2", "assistant", "guanaco"))
    assert feed.ids("llama") == []
    assert feed.hit("wool", "s1").message_ids == ("m1",)
    assert feed.index.stats()["messages"] == 2
    check_records(feed.index)


def test_a_session_deleted_and_restored_after_changes(feed: Feed) -> None:
    feed.session("s1", "kestrel", "kestrel nest", "falcon", title="Raptors")
    feed("s1", SessionDeleted())
    feed("s1", MessageEdited("m1", "harrier"))
    feed("s1", MessageDeleted("m3"))
    assert feed.ids("kestrel") == []
    assert feed.ids("harrier") == []
    feed("s1", SessionRestored())
    assert feed.hit("kestrel", "s1").message_ids == ("m2",)
    assert feed.hit("harrier", "s1").message_ids == ("m1",)
    assert feed.ids("falcon") == []
    assert feed.hit("raptors", "s1").title_match
    check_records(feed.index)


def test_a_word_in_very_many_messages(feed: Feed) -> None:
    sessions, per_session = 20, 500
    for s in range(sessions):
        feed.session(f"s{s:02d}", *(f"common w{n % 50} n{n}" for n in range(per_session)))
    assert feed.index.search("common").total == sessions
    assert feed.index._messages["common"].live == sessions * per_session
    # Most of them leave, by every way out.
    for s in range(sessions):
        stream = f"s{s:02d}"
        if s % 2:
            feed(stream, MessagesCleared())
            continue
        for n in range(1, per_session):
            if n % 3 == 0:
                feed(stream, MessageDeleted(f"m{n}"))
            elif n % 3 == 1:
                feed(stream, MessageEdited(f"m{n}", f"rare{n}"))
    check_records(feed.index)
    posting = feed.index._messages["common"]
    kept = sessions // 2 * (1 + (per_session - 1) // 3)
    assert posting.live == kept
    page = feed.index.search("common", limit=100)
    assert sorted(h.session_id for h in page.hits) == [f"s{s:02d}" for s in range(0, sessions, 2)]
    assert page.hits[0].message_ids == ("m2", "m5", "m8", "m11", "m14")
    assert len(posting.messages) == kept  # the query read it whole, so it compacted it first
    check_records(feed.index)


def test_records_are_reused_once_no_posting_holds_them(feed: Feed) -> None:
    feed.session("s1", *(f"word{n}x shared" for n in range(300)))
    owners = feed.index._messages.owners
    assert len(owners) == 300
    feed("s1", MessagesCleared())  # every posting dies: every record is free at once
    assert len(feed.index._messages) == 0
    for n in range(300):
        feed("s1", MessageAdded(f"n{n}", "assistant", f"other{n}x"))
    assert len(owners) == 300
    assert feed.ids("shared") == []
    assert feed.ids("word7x") == []
    assert feed.hit("other7x", "s1").message_ids == ("n7",)
    # A message without words is in no posting: its record is free as soon as it is removed.
    feed("s1", MessageAdded("blank", "assistant", "... !!!"))
    feed("s1", MessageEdited("blank", "?"))
    feed("s1", MessageEdited("blank", "quetzal"))
    assert len(owners) == 301
    assert feed.hit("quetzal", "s1").message_ids == ("blank",)
    check_records(feed.index)


def test_counts_past_one_byte_weigh_exactly(feed: Feed) -> None:
    counts = (1, 254, BIG, 256, 300, 100_000)
    for count in counts:
        feed.session(f"c{count:06d}", "echo " * count + f"only{count}")
    page = feed.index.search("echo", limit=10)
    assert [h.session_id for h in page.hits] == [f"c{count:06d}" for count in reversed(counts)]
    base = feed.hit("echo", "c000001").score  # idf times 1 + log(1)
    only = math.log(1 + len(counts))  # the idf of a word in one message of six
    for count in counts:
        assert feed.hit("echo", f"c{count:06d}").score == pytest.approx(
            base * (1 + math.log(count))
        )
        # With a rarer word first, the session's own packed terms are read instead.
        assert feed.hit(f"only{count} echo", f"c{count:06d}").score == pytest.approx(
            base * (1 + math.log(count)) + only
        )
    for n in range(41):  # enough dead entries to have the posting compacted on the way
        feed("c000300", MessageEdited("m1", "echo " * (300 if n % 2 else 2)))
        check_records(feed.index)
    assert feed.hit("echo", "c000300").score == pytest.approx(base * (1 + math.log(2)))
    check_records(feed.index)


def test_ids_come_back_as_they_were_given(feed: Feed) -> None:
    canonical = str(uuid.uuid4())
    odd = [
        "m1",
        canonical.upper(),
        "ünïcode-id",
        "",
        "{" + canonical + "}",
        "x" * 300,
    ]
    feed("s1", SessionCreated(None, {}))
    for message_id in [canonical, *odd]:
        feed("s1", MessageAdded(message_id, "assistant", "marmot"))
    assert feed.hit("marmot", "s1").message_ids == (canonical, *odd[:4])
    feed("s1", MessageDeleted(canonical))
    feed("s1", MessageEdited("m1", "gopher"))
    assert feed.hit("marmot", "s1").message_ids == tuple(odd[1:])
    assert feed.hit("gopher", "s1").message_ids == ("m1",)
    # The same ids in another session are that session's own.
    feed("s2", SessionCreated(None, {}))
    feed("s2", MessageAdded("m1", "assistant", "marmot"))
    feed("s2", MessageDeleted("m1"))
    assert feed.hit("gopher", "s1").message_ids == ("m1",)
    check_records(feed.index)


def test_long_sessions_find_their_messages_by_id(feed: Feed) -> None:
    count = FILTER_FROM * 4 + 3
    ids = [str(uuid.uuid4()) for _ in range(count)]
    feed("s1", SessionCreated(None, {}))
    for n, message_id in enumerate(ids):
        # "n7x", not "n7": the last query word is a prefix, and "n7" would find "n70" too.
        feed("s1", MessageAdded(message_id, "assistant", f"stoat n{n}x"))
    feed("s1", MessageEdited(ids[10], "weasel"))
    feed("s1", MessageDeleted(ids[500]))
    feed("s1", MessageAdded(ids[999], "assistant", "ermine"))  # a repeated id: the newest wins
    for gone in ("n10x", "n500x", "n999x"):
        assert feed.ids(gone) == []
    assert feed.hit("n11x", "s1").message_ids == (ids[11],)
    assert feed.hit("n1000x", "s1").message_ids == (ids[1000],)
    assert feed.hit("weasel", "s1").message_ids == (ids[10],)
    assert feed.hit("ermine", "s1").message_ids == (ids[999],)
    assert feed.index.stats()["messages"] == count - 1
    feed("s1", MessagesCleared())
    for message_id in ids[: FILTER_FROM + 10]:
        feed("s1", MessageAdded(message_id, "assistant", "mink"))
    feed("s1", MessageEdited(ids[FILTER_FROM + 5], "otter"))
    assert feed.hit("otter", "s1").message_ids == (ids[FILTER_FROM + 5],)
    assert feed.index.search("mink").total == 1
    check_records(feed.index)


@pytest.mark.parametrize(
    "terms",
    [
        [],
        [(0, 1)],
        [(0, 2), (1, 1), (2, 255), (3, 256)],
        [(5, 1), (63, 1), (64, 1), (200, 3), (16_383, 1), (16_384, 1), (70_000, 1_000_000)],
        [(number, 1 + number % 7) for number in range(0, 3_000_000, 99_991)],
    ],
)
def test_packed_terms_come_back(terms: list[tuple[int, int]]) -> None:
    packed = bytearray(b"before")
    pack_terms([number << 32 | count for number, count in reversed(terms)], packed)
    assert list(unpack_terms(packed, len(b"before"))) == terms
    packed += b"after"
    assert list(unpack_terms(packed, len(b"before"), len(packed) - len(b"after"))) == terms


WORDS = [f"w{n}" for n in range(60)]


def _churn(rng: random.Random, stream: str, long: bool) -> list[Recorded]:
    """A session's random life with what packing has to get right: ids that come back, edits of
    edits, deletes and re-adds under one id, clears, words past 255 times, words that die
    everywhere and come back, UUID and other ids, delete and restore; long ones past the
    length where a session's ids get a filter."""
    view: SessionView | None = None
    records: list[Recorded] = []
    events: list[Event] = [SessionCreated("Pinned " + rng.choice(WORDS), {})]
    used: list[str] = []
    for n in range(rng.randrange(FILTER_FROM + 50, FILTER_FROM + 200) if long else 30):
        roll = rng.random()
        live = [m.id for m in view.live_messages] if view is not None and view.messages else []
        words = rng.choices(WORDS, k=rng.randrange(0, 8))
        if rng.random() < 0.02:
            words += [rng.choice(WORDS)] * rng.randrange(250, 600)
        if rng.random() < 0.1:
            words.append(f"gone{n}")  # held once, soon removed: its term number is reused
        text = " ".join(words)
        if roll < 0.6 or not live:
            gone = [message_id for message_id in used if message_id not in live]
            if gone and rng.random() < 0.1:
                # An id added again after its message left. (One repeated while its message
                # is there is the index's "newest wins", which a view does not follow when
                # the newest is deleted: see test_a_message_deleted_then_added_again.)
                message_id = rng.choice(gone)
            else:
                message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                if rng.random() < 0.2:
                    message_id = f"{stream}-m{n}"
                used.append(message_id)
            events.append(MessageAdded(message_id, "assistant", text))
        elif roll < 0.8:
            events.append(MessageEdited(rng.choice(live), text))
        elif roll < 0.92:
            events.append(MessageDeleted(rng.choice(live)))
        elif roll < 0.94:
            events.append(SessionRenamed("Renamed " + rng.choice(WORDS)))
        elif roll < 0.96:
            events.append(MessagesCleared())
        elif view is not None and view.deleted:
            events.append(SessionRestored())
        else:
            events.append(SessionDeleted())
        for event in events:
            seq = len(records) + 1
            recorded = Recorded(stream, seq, f"e{seq}", "2025-01-01T00:00:00.000000Z", event)
            view = apply_session(view, recorded)
            records.append(recorded)
        events = []
    return records


def _answers(index: SearchIndex) -> list[tuple[int, list[object]]]:
    queries = [*WORDS[:20], "w1 w2", "w3", "w", "gone", "pinned w4", "renamed", "w5 w6 w7"]
    queries += [f"gone{n} w{n % 60}" for n in range(0, 400, 7)]  # a rare word, then a common one
    pages = [index.search(q, limit=100) for q in queries]
    return [
        (p.total, [(h.session_id, round(h.score, 9), h.title_match, h.message_ids) for h in p.hits])
        for p in pages
    ]


def test_after_churn_the_index_answers_as_one_built_from_the_final_views() -> None:
    rng = random.Random(20260101)
    by_events, by_views = SearchIndex(), SearchIndex()
    for s in range(40):
        stream = f"00000000-0000-4000-8000-{s:012d}"
        view = None
        for recorded in _churn(rng, stream, long=s % 10 == 0):
            by_events.apply(recorded)
            view = apply_session(view, recorded)
        assert view is not None
        by_views.add_view(view)
    check_records(by_events)
    assert _answers(by_events) == _answers(by_views)
    assert any(hits for _, hits in _answers(by_events))
    check_records(by_events)  # the queries compacted what they read
